"""The ``main`` that ``nablanet export --program`` appends: a scorer for a recurrent
model saved by ``nablanet rnn train``, in Rust (:func:`rust_program`) and C
(:func:`c_program`).

It reads a sequence CSV in the seed's format (``name,t,x1..xF``, label columns
optional and ignored; RFC 4180 quoting; sequences in order of first appearance, steps
sorted by ``t``) and writes to standard output the CSV that ``nablanet rnn predict``
writes for the same file: ``name,t`` and, per task, ``score,label`` (binary),
``label`` (multiclass) or ``y1..yL`` in the data's units (regression); one row per step
(``target="every"``) or per sequence (``"last"``). Numbers are written as Python's
``repr`` writes them (the shortest text that reads back, fixed notation for exponents
-4 to 15), so the two files are equal byte for byte.
"""

from __future__ import annotations

from nablanet.interop.codegen.walk import Plan

__all__ = ["c_program", "rust_program"]


def _columns(plan: Plan) -> list[str]:
    if plan.task == "binary":
        return ["score", "label"]
    if plan.task == "multiclass":
        return ["label"]
    return [f"y{k}" for k in range(1, plan.n_outputs + 1)]


_RUST = r"""// ---- the scorer (nablanet export --program) ---------------------------------------
// Usage: <program> DATA.csv > predictions.csv
// Reads a sequence CSV (name,t,x1..xN_INPUTS; label columns ignored) and writes what
// `nablanet rnn predict` writes for it.

/// The records of a CSV text (RFC 4180 quoting, as Python's csv module reads it), each
/// with the 1-based line it starts on; blank lines are skipped.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let (mut records, mut fields, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut line, mut start) = (false, 1, 1);
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if quoted {
            if ch == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                line += usize::from(ch == '\n');
                field.push(ch);
            }
            continue;
        }
        match ch {
            '"' => quoted = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if fields.len() > 1 || !fields[0].is_empty() {
                    records.push((start, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start = line;
            }
            _ => field.push(ch),
        }
    }
    if quoted {
        return Err(format!("line {}: a quoted field is not closed", start));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

/// `v` as Python's `repr` writes it: the shortest digits that read back, in fixed
/// notation for decimal exponents -4 to 15, else as `d.ddde+XX`.
fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let text = format!("{:e}", v); // shortest round-trip digits, e.g. -1.25e-5
    let (mantissa, exp) = text.split_once('e').expect("LowerExp writes an exponent");
    let exp: i32 = exp.parse().expect("LowerExp writes an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    if !(-4..16).contains(&exp) {
        let fraction = if n > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let mark = if exp < 0 { '-' } else { '+' };
        return format!("{}{}{}e{}{:02}", sign, &digits[..1], fraction, mark, exp.abs());
    }
    if exp < 0 {
        return format!("{}0.{}{}", sign, "0".repeat((-exp - 1) as usize), digits);
    }
    let point = (exp + 1) as usize;
    if digits.len() <= point {
        format!("{}{}{}.0", sign, digits, "0".repeat(point - digits.len()))
    } else {
        format!("{}{}.{}", sign, &digits[..point], &digits[point..])
    }
}

/// A CSV field as Python's csv writer writes it (quoted when it holds , " CR or LF).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The prediction CSV of the sequence CSV in `text`.
fn score(text: &str) -> Result<String, String> {
    use std::fmt::Write as _;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = csv_records(text)?;
    let (_, header) = records.first().ok_or("the file is empty")?;
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or(format!("line 1: no column {:?}", name))
    };
    let (name_col, t_col) = (column("name")?, column("t")?);
    let x_cols = (1..=N_INPUTS).map(|k| column(&format!("x{}", k)))
        .collect::<Result<Vec<_>, _>>()?;
    let n_x = header.iter().filter(|h| h.starts_with('x')).count();
    if n_x != N_INPUTS {
        return Err(format!("line 1: expected {} feature columns x1..x{}, found {}",
                           N_INPUTS, N_INPUTS, n_x));
    }
    let mut index = std::collections::HashMap::new();
    let mut sequences: Vec<(String, Vec<(i64, usize, Vec<f64>)>)> = Vec::new();
    for (line, record) in &records[1..] {
        if record.len() != header.len() {
            return Err(format!("line {}: expected {} fields, found {}", line, header.len(),
                               record.len()));
        }
        let t: i64 = record[t_col].trim().parse()
            .map_err(|_| format!("line {}: column t: expected an integer, found {:?}", line,
                                 record[t_col]))?;
        let mut x = Vec::with_capacity(N_INPUTS);
        for &c in &x_cols {
            match record[c].trim().parse::<f64>() {
                Ok(v) if v.is_finite() => x.push(v),
                _ => return Err(format!("line {}: column {}: expected a finite number, found \
                                         {:?}", line, header[c], record[c])),
            }
        }
        let name = &record[name_col];
        let k = *index.entry(name.clone()).or_insert_with(|| {
            sequences.push((name.clone(), Vec::new()));
            sequences.len() - 1
        });
        sequences[k].1.push((t, *line, x));
    }
    if sequences.is_empty() {
        return Err("no data rows".to_string());
    }
    let mut out = String::from("name,t,@@COLUMNS@@\n");
    for (name, steps) in &mut sequences {
        steps.sort_by_key(|(t, _, _)| *t);
        if let Some(w) = steps.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("line {}: sequence {:?} repeats t = {}", w[1].1, name, w[1].0));
        }
        let x: Vec<f64> = steps.iter().flat_map(|(_, _, x)| x.iter().copied()).collect();
        let y = predict(&x);
        let name = csv_field(name);
        for (k, row) in y.chunks(N_OUTPUTS).enumerate() {
            let t = if TARGET_EVERY { steps[k].0 } else { steps[steps.len() - 1].0 };
            write!(out, "{},{}", name, t).expect("writing to a String");
@@ROW@@
            out.push('\n');
        }
    }
    Ok(out)
}
"""

#: the ``main`` of a Rust scorer: reads the file named by its one argument with @@READ@@,
#: calls the program's ``score`` and writes its text to standard output; a bad file is
#: one line on standard error and exit status 2
RUST_MAIN = r"""
fn main() {
    use std::io::Write as _;
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: {} @@USAGE@@", args[0]);
        std::process::exit(2);
    }
    match @@READ@@(&args[1]).map_err(|e| e.to_string()).and_then(|input| score(&input)) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).is_err() {
                std::process::exit(1);
            }
        }
        Err(message) => {
            eprintln!("{}: {}", args[1], message);
            std::process::exit(2);
        }
    }
}
"""


def rust_main(usage: str, read: str) -> str:
    """:data:`RUST_MAIN` with its usage line and the function reading the file."""
    return RUST_MAIN.replace("@@USAGE@@", usage).replace("@@READ@@", read)


_RUST_ROWS = {
    "binary": ['            write!(out, ",{},{}", py_float(f64::from(row[0])), label(row[0]))',
               '                .expect("writing to a String");'],
    "multiclass": ['            write!(out, ",{}", label(row)).expect("writing to a String");'],
    "regression": ["            for &v in row {",  # predict gives the data's units
                   '                write!(out, ",{}", py_float(f64::from(v)))',
                   '                    .expect("writing to a String");',
                   "            }"],
}


def rust_program(plan: Plan) -> str:
    """The Rust ``main`` (and its helpers) of the scorer for ``plan``'s task."""
    assert plan.task is not None
    return (_RUST.replace("@@COLUMNS@@", ",".join(_columns(plan)))
            .replace("@@ROW@@", "\n".join(_RUST_ROWS[plan.task]))
            + rust_main("DATA.csv  (writes the predictions CSV to standard output)",
                        "std::fs::read_to_string"))


_C = r"""/* ---- the scorer (nablanet export --program) --------------------------------------
   Usage: <program> DATA.csv > predictions.csv
   Reads a sequence CSV (name,t,x1..xN_INPUTS; label columns ignored) and writes what
   `nablanet rnn predict` writes for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *program_file = "";

static void fail_at(long line, const char *message, const char *what)
{
    if (line > 0)
        fprintf(stderr, "%s: line %ld: %s%s\n", program_file, line, message, what);
    else
        fprintf(stderr, "%s: %s%s\n", program_file, message, what);
    exit(2);
}

/* A growing array of n items of `size` bytes (exits on out of memory). */
static void *grow(void *items, size_t *capacity, size_t n, size_t size)
{
    if (n < *capacity)
        return items;
    *capacity = *capacity ? 2 * *capacity : 64;
    items = realloc(items, *capacity * size);
    if (!items)
        fail_at(0, "out of memory", "");
    return items;
}

/* The next CSV record of *p (RFC 4180 quoting, as Python's csv module reads it): its
   fields unquoted in place, NUL-terminated, in fields[0..*n); *line counts lines. Returns 0
   at the end of the text. Blank lines are skipped. */
static int csv_record(char **p, char ***fields, size_t *n, size_t *capacity, long *line,
                      long *start)
{
    char *in = *p, *out;
    int quoted = 0;
    while (*in == '\n' || *in == '\r')
        *line += *in++ == '\n';
    if (!*in)
        return 0;
    *start = *line;
    *n = 0;
    out = in;
    *fields = grow(*fields, capacity, *n, sizeof **fields);
    (*fields)[(*n)++] = out;
    for (;; in++) {
        char ch = *in;
        if (!ch && quoted)
            fail_at(*start, "a quoted field is not closed", "");
        if (quoted) {
            if (ch == '"' && in[1] == '"')
                *out++ = *in++;
            else if (ch == '"')
                quoted = 0;
            else {
                *line += ch == '\n';
                *out++ = ch;
            }
        } else if (ch == '"')
            quoted = 1;
        else if (ch == ',') {
            *out++ = '\0';
            *fields = grow(*fields, capacity, *n, sizeof **fields);
            (*fields)[(*n)++] = out;
        } else if (ch == '\r')
            continue;
        else if (ch == '\n' || !ch) {
            *out = '\0';
            *line += ch == '\n';
            *p = ch ? in + 1 : in;
            return 1;
        } else
            *out++ = ch;
    }
}

@@PY_FLOAT@@/* A CSV field as Python's csv writer writes it (quoted when it holds , " CR or LF). */
static void print_field(const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, stdout);
        return;
    }
    putchar('"');
    for (; *text; text++) {
        if (*text == '"')
            putchar('"');
        putchar(*text);
    }
    putchar('"');
}

struct step {
    const char *name;
    long line;
    size_t first; /* the row where the step's sequence first appears */
    long long t;
    double x[N_INPUTS];
};

static int by_name(const void *a, const void *b)
{
    const struct step *s = *(const struct step *const *)a, *u = *(const struct step *const *)b;
    int c = strcmp(s->name, u->name);
    return c ? c : (s->line > u->line) - (s->line < u->line);
}

static int by_sequence(const void *a, const void *b)
{
    const struct step *s = *(const struct step *const *)a, *u = *(const struct step *const *)b;
    if (s->first != u->first)
        return (s->first > u->first) - (s->first < u->first);
    return (s->t > u->t) - (s->t < u->t);
}

static double number(const char *text, long line, const char *column)
{
    char *end;
    double v;
    while (*text == ' ' || *text == '\t')
        text++;
    errno = 0;
    v = strtod(text, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == text || *end || v != v || v - v != 0) {
        fprintf(stderr, "%s: line %ld: column %s: expected a finite number, found \"%s\"\n",
                program_file, line, column, text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    FILE *file;
    char *text, **fields = NULL, *p, name[32];
    size_t size = 0, used = 0, n = 0, cap = 0, width, k, j, n_steps = 0, cap_steps = 0, n_x = 0;
    size_t name_col = (size_t)-1, t_col = (size_t)-1, x_col[N_INPUTS];
    long line = 1, start = 0;
    struct step *steps = NULL, **order;
    double *x;
    real *y;
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA.csv  (writes the predictions CSV to standard output)\n",
                argv[0]);
        return 2;
    }
    program_file = argv[1];
    if (!(file = fopen(argv[1], "rb")))
        fail_at(0, strerror(errno), "");
    text = NULL;
    do {
        text = grow(text, &size, used + 4096, 1);
        used += fread(text + used, 1, size - used - 1, file);
    } while (!feof(file) && !ferror(file));
    fclose(file);
    text[used] = '\0';
    p = strncmp(text, "\xEF\xBB\xBF", 3) ? text : text + 3;
    if (!csv_record(&p, &fields, &n, &cap, &line, &start))
        fail_at(0, "the file is empty", "");
    width = n;
    for (j = 0; j < N_INPUTS; j++)
        x_col[j] = (size_t)-1;
    for (k = 0; k < n; k++) {
        if (!strcmp(fields[k], "name"))
            name_col = k;
        else if (!strcmp(fields[k], "t"))
            t_col = k;
        else if (fields[k][0] == 'x') {
            n_x++;
            for (j = 0; j < N_INPUTS; j++) {
                snprintf(name, sizeof name, "x%lu", (unsigned long)(j + 1));
                if (!strcmp(fields[k], name))
                    x_col[j] = k;
            }
        }
    }
    if (name_col == (size_t)-1 || t_col == (size_t)-1)
        fail_at(1, "expected the columns name and t", "");
    for (j = 0; j < N_INPUTS; j++)
        if (x_col[j] == (size_t)-1) {
            snprintf(name, sizeof name, "x%lu", (unsigned long)(j + 1));
            fail_at(1, "missing the feature column ", name);
        }
    if (n_x != N_INPUTS) {
        snprintf(name, sizeof name, "x1..x%lu", (unsigned long)N_INPUTS);
        fail_at(1, "expected exactly the feature columns ", name);
    }
    while (csv_record(&p, &fields, &n, &cap, &line, &start)) {
        struct step *s;
        char *end;
        if (n != width)
            fail_at(start, "wrong number of fields", "");
        steps = grow(steps, &cap_steps, n_steps, sizeof *steps);
        s = &steps[n_steps++];
        s->name = fields[name_col];
        s->line = start;
        errno = 0;
        s->t = strtoll(fields[t_col], &end, 10);
        if (end == fields[t_col] || *end || errno)
            fail_at(start, "column t: expected an integer, found ", fields[t_col]);
        for (j = 0; j < N_INPUTS; j++) {
            snprintf(name, sizeof name, "x%lu", (unsigned long)(j + 1));
            s->x[j] = number(fields[x_col[j]], start, name);
        }
    }
    if (!n_steps)
        fail_at(0, "no data rows", "");
    /* sequences in order of first appearance, steps sorted by t */
    order = malloc(n_steps * sizeof *order);
    x = malloc(n_steps * N_INPUTS * sizeof *x);
    y = malloc(n_steps * N_OUTPUTS * sizeof *y);
    if (!order || !x || !y)
        fail_at(0, "out of memory", "");
    for (k = 0; k < n_steps; k++)
        order[k] = &steps[k];
    qsort(order, n_steps, sizeof *order, by_name);
    for (k = 0; k < n_steps; k++)
        order[k]->first = k && !strcmp(order[k]->name, order[k - 1]->name)
                              ? order[k - 1]->first : (size_t)(order[k] - steps);
    qsort(order, n_steps, sizeof *order, by_sequence);
    puts("name,t,@@COLUMNS@@");
    for (k = 0; k < n_steps; k = j) {
        size_t m, row;
        for (j = k; j < n_steps && order[j]->first == order[k]->first; j++) {
            if (j > k && order[j]->t == order[j - 1]->t)
                fail_at(order[j]->line, "the sequence repeats a t: ", order[j]->name);
            memcpy(x + (j - k) * N_INPUTS, order[j]->x, sizeof order[j]->x);
        }
        m = j - k;
        predict(x, m, y);
        for (row = 0; row < (TARGET_EVERY ? m : 1); row++) {
            const real *out = y + row * N_OUTPUTS;
            print_field(order[k]->name);
            printf(",%lld", order[TARGET_EVERY ? k + row : j - 1]->t);
@@ROW@@
            putchar('\n');
        }
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
"""

_C_PY_FLOAT = r"""/* v as Python's repr writes it: the shortest digits that read back, in fixed
   notation for decimal exponents -4 to 15, else as d.ddde+XX. */
static void print_py_float(double v)
{
    char text[40], digits[24], *e;
    int p, n = 0, exp, k;
    const char *sign = v < 0 || (v == 0 && 1 / v < 0) ? "-" : "";
    if (v != v) {
        fputs("nan", stdout);
        return;
    }
    if (v - v != 0) {
        fputs(v > 0 ? "inf" : "-inf", stdout);
        return;
    }
    for (p = 0; p < 17; p++) {
        snprintf(text, sizeof text, "%.*e", p, v);
        if (strtod(text, NULL) == v)
            break;
    }
    e = strchr(text, 'e');
    exp = atoi(e + 1);
    for (k = *sign ? 1 : 0; text + k < e; k++)
        if (text[k] != '.')
            digits[n++] = text[k];
    digits[n] = '\0';
    if (exp < -4 || exp >= 16) {
        printf("%s%c%s%se%c%02d", sign, digits[0], n > 1 ? "." : "", digits + 1,
               exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        printf("%s0.", sign);
        for (k = 0; k < -exp - 1; k++)
            putchar('0');
        fputs(digits, stdout);
    } else if (n <= exp + 1) {
        printf("%s%s", sign, digits);
        for (k = n; k < exp + 1; k++)
            putchar('0');
        fputs(".0", stdout);
    } else
        printf("%s%.*s.%s", sign, exp + 1, digits, digits + exp + 1);
}

"""

_C_ROWS = {
    "binary": ["            putchar(',');", "            print_py_float((double)out[0]);",
               '            printf(",%d", label(out[0]));'],
    "multiclass": ['            printf(",%lu", (unsigned long)label(out));'],
    "regression": ["            {",  # predict gives the data's units
                   "                size_t q;",
                   "                for (q = 0; q < N_OUTPUTS; q++) {",
                   "                    putchar(',');",
                   "                    print_py_float((double)out[q]);", "                }",
                   "            }"],
}


def c_program(plan: Plan) -> str:
    """The C ``main`` (and its helpers) of the scorer for ``plan``'s task."""
    assert plan.task is not None
    return (_C.replace("@@COLUMNS@@", ",".join(_columns(plan)))
            .replace("@@PY_FLOAT@@", "" if plan.task == "multiclass" else _C_PY_FLOAT)
            .replace("@@ROW@@", "\n".join(_C_ROWS[plan.task])))

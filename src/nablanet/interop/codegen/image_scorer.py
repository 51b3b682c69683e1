"""The ``main`` that ``nablanet export --program`` appends for an image classifier saved by
``nablanet train``: a scorer in Rust (:func:`rust_program`) and C (:func:`c_program`).

It reads a ``.npy`` file of images and writes to standard output what ``nablanet
predict`` writes for the same file: one label per line. The file must be what
``numpy.save`` writes for such images: format version 1 or 2, dtype ``'<f8'``,
``'<f4'`` (pixels in [0, 1]) or ``'|u1'`` (0-255, divided by 255), C order, shape
``(n, rows, columns)`` or ``(n, pixels)`` with ``n >= 1`` and the model's number of
pixels, and exactly the bytes that shape needs; anything else is refused in one line on
standard error with exit status 2, and nothing is written. Sizes are checked against
the file's length before anything is allocated (the header at most 10,000 bytes, as
``numpy.load`` allows).

The label is :meth:`Network.predict`'s and :meth:`Sequential.predict`'s
(:func:`decision`): the index of the largest output, or for a single output 1 where it
is ``>= 0.5``.
"""

from __future__ import annotations

from nablanet.interop.codegen.scorer import rust_main
from nablanet.interop.codegen.walk import Plan
from nablanet.models import Network

__all__ = ["c_program", "decision", "rust_program"]


def decision(model, n_outputs: int) -> tuple[str, float | None]:
    """``(task, threshold)`` of the labels ``model.predict`` gives for images: the
    ``multiclass`` argmax, or ``binary`` at 0.5 for a single-output :class:`Network`.

    Raises
    ------
    ValueError
        For a model whose ``predict`` gives no single label per image (a Sequential
        without a softmax head).
    """
    if isinstance(model, Network):
        return ("multiclass", None) if n_outputs > 1 else ("binary", 0.5)
    if model.output_activation.name == "softmax":
        return "multiclass", None
    raise ValueError("--program: an image scorer needs a Network or a softmax head, as "
                     f"'nablanet train' builds; this model's head is "
                     f"{model.output_activation.name}")


_RUST = r"""// ---- the scorer (nablanet export --program) ---------------------------------------
// Usage: <program> IMAGES.npy > labels.txt
// Reads a .npy array of images, (n, rows, columns) or (n, pixels) with N_INPUTS pixels
// each, dtype '<f8' or '<f4' (pixels in [0, 1]) or '|u1' (0-255, divided by 255), C order,
// and writes what `nablanet predict` writes for it: one label per line.

/// numpy's own bound on a header's length (`numpy.load`'s max_header_size).
const MAX_HEADER: usize = 10_000;

/// A reader of the .npy header: a Python dict literal such as
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (10, 28, 28), }`.
struct Header<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Header<'a> {
    fn skip(&mut self) {
        while self.text.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, ch: u8) -> bool {
        self.skip();
        let found = self.text.get(self.at) == Some(&ch);
        self.at += usize::from(found);
        found
    }

    /// A quoted string ('...' or "...", no escapes).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.skip();
        let text = self.text;
        let quote = *text.get(self.at).filter(|&&c| c == b'\'' || c == b'"')?;
        let start = self.at + 1;
        let end = start + text[start..].iter().position(|&c| c == quote)?;
        self.at = end + 1;
        Some(&text[start..end])
    }

    /// A run of letters, digits and '_'.
    fn word(&mut self) -> &'a [u8] {
        self.skip();
        let (text, start) = (self.text, self.at);
        while text.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.at += 1;
        }
        &text[start..self.at]
    }

    /// `(d0, d1, ...)`: non-negative integers, a trailing comma allowed.
    fn shape(&mut self) -> Option<Vec<usize>> {
        let mut dims = Vec::new();
        if !self.eat(b'(') {
            return None;
        }
        while !self.eat(b')') {
            let word = self.word();
            if word.is_empty() || word.len() > 18 || !word.iter().all(u8::is_ascii_digit) {
                return None;
            }
            dims.push(std::str::from_utf8(word).ok()?.parse().ok()?);
            if !self.eat(b',') {
                return self.eat(b')').then_some(dims);
            }
        }
        Some(dims)
    }

    /// The header's (descr, fortran_order, shape); None for any other text.
    fn parse(&mut self) -> Option<(Vec<u8>, bool, Vec<usize>)> {
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        if !self.eat(b'{') {
            return None;
        }
        while !self.eat(b'}') {
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            match key {
                b"descr" if descr.is_none() => descr = Some(self.string()?.to_vec()),
                b"fortran_order" if fortran.is_none() => {
                    fortran = Some(match self.word() {
                        b"True" => true,
                        b"False" => false,
                        _ => return None,
                    })
                }
                b"shape" if shape.is_none() => shape = Some(self.shape()?),
                _ => return None,
            }
            if !self.eat(b',') {
                if !self.eat(b'}') {
                    return None;
                }
                break;
            }
        }
        self.skip();
        if self.at != self.text.len() {
            return None;
        }
        Some((descr?, fortran?, shape?))
    }
}

/// The images of a .npy file's bytes, (n, N_INPUTS) row-major as f64 in [0, 1].
fn read_npy(bytes: &[u8]) -> Result<Vec<f64>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".to_string());
    }
    let (length, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!(".npy format version {}: expected 1 or 2", v)),
    };
    if length > MAX_HEADER || length > bytes.len() - start {
        return Err(format!("a .npy header of {} bytes in a file of {}: expected at most {}",
                           length, bytes.len(), MAX_HEADER));
    }
    let header = &bytes[start..start + length];
    let (descr, fortran, shape) = Header { text: header, at: 0 }.parse().ok_or_else(|| {
        format!("expected a .npy header {{'descr': ..., 'fortran_order': ..., 'shape': \
                 (...)}}, found {:?}", String::from_utf8_lossy(header).trim_end())
    })?;
    let size = match &descr[..] {
        b"<f8" => 8,
        b"<f4" => 4,
        b"|u1" => 1,
        _ => return Err(format!("dtype {:?}: expected '<f8', '<f4' or '|u1'",
                                String::from_utf8_lossy(&descr))),
    };
    if fortran {
        return Err("a Fortran-order array: expected C order".to_string());
    }
    let pixels = shape[1..].iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    let shown: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if !(2..=3).contains(&shape.len()) || shape[0] == 0 || pixels != Some(N_INPUTS) {
        return Err(format!("expected images of shape (n, rows, columns) or (n, pixels) with \
                            n > 0 and {} pixels each, found shape ({})", N_INPUTS,
                           shown.join(", ")));
    }
    let data = &bytes[start + length..];
    if Some(data.len()) != shape[0].checked_mul(N_INPUTS * size) {
        return Err(format!("{} bytes of data, expected {} x {} x {} as the header says",
                           data.len(), shape[0], N_INPUTS, size));
    }
    let mut images = Vec::with_capacity(shape[0] * N_INPUTS);
    for chunk in data.chunks_exact(size) {
        let v = match *chunk {
            [a, b, c, d, e, f, g, h] => f64::from_le_bytes([a, b, c, d, e, f, g, h]),
            [a, b, c, d] => f64::from(f32::from_le_bytes([a, b, c, d])),
            _ => f64::from(chunk[0]) / 255.0,
        };
        if !(0.0..=1.0).contains(&v) {
            let k = images.len();
            return Err(format!("image {}, pixel {}: expected a pixel value in [0, 1], found {}",
                               k / N_INPUTS, k % N_INPUTS, v));
        }
        images.push(v);
    }
    Ok(images)
}

/// The labels of the .npy file in `bytes`, one per line.
fn score(bytes: &[u8]) -> Result<String, String> {
    use std::fmt::Write as _;
    let images = read_npy(bytes)?;
    let mut out = String::new();
    for x in images.chunks_exact(N_INPUTS) {
        let y = predict(x);
        writeln!(out, "{}", @@LABEL@@).expect("writing to a String");
    }
    Ok(out)
}
"""

_LABEL = {"rust": {"binary": "label(y[0])", "multiclass": "label(&y)"},
          "c": {"binary": 'printf("%d\\n", label(y[0]))',
                "multiclass": 'printf("%lu\\n", (unsigned long)label(y))'}}


def rust_program(plan: Plan) -> str:
    """The Rust ``main`` (and its helpers) of the image scorer for ``plan``."""
    assert plan.task in ("binary", "multiclass")
    return (_RUST.replace("@@LABEL@@", _LABEL["rust"][plan.task])
            + rust_main("IMAGES.npy  (writes one label per line to standard output)",
                        "std::fs::read"))


_C = r"""/* ---- the scorer (nablanet export --program) --------------------------------------
   Usage: <program> IMAGES.npy > labels.txt
   Reads a .npy array of images, (n, rows, columns) or (n, pixels) with N_INPUTS pixels
   each, dtype '<f8' or '<f4' (pixels in [0, 1]) or '|u1' (0-255, divided by 255), C
   order, and writes what `nablanet predict` writes for it: one label per line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* numpy's own bound on a header's length (numpy.load's max_header_size). */
#define MAX_HEADER 10000

static const char *program_file = "";

static void fail(const char *message, const char *what)
{
    fprintf(stderr, "%s: %s%s\n", program_file, message, what);
    exit(2);
}

/* A reader of the .npy header: a Python dict literal such as
   {'descr': '<f8', 'fortran_order': False, 'shape': (10, 28, 28), } */
struct header {
    const char *at, *end;
};

static void skip(struct header *h)
{
    while (h->at < h->end && (*h->at == ' ' || *h->at == '\t' || *h->at == '\n'
                              || *h->at == '\r'))
        h->at++;
}

static int eat(struct header *h, char ch)
{
    skip(h);
    if (h->at < h->end && *h->at == ch) {
        h->at++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...", no escapes) into out, of at most size - 1 chars. */
static int string(struct header *h, char *out, size_t size)
{
    char quote;
    size_t n = 0;
    skip(h);
    if (h->at == h->end || (*h->at != '\'' && *h->at != '"'))
        return 0;
    quote = *h->at++;
    for (; h->at < h->end && *h->at != quote; h->at++) {
        if (n + 1 >= size)
            return 0;
        out[n++] = *h->at;
    }
    if (h->at == h->end)
        return 0;
    h->at++;
    out[n] = '\0';
    return 1;
}

/* A run of letters, digits and '_': its length, *start its first char. */
static size_t word(struct header *h, const char **start)
{
    skip(h);
    *start = h->at;
    while (h->at < h->end && ((*h->at >= 'a' && *h->at <= 'z') || (*h->at >= 'A'
           && *h->at <= 'Z') || (*h->at >= '0' && *h->at <= '9') || *h->at == '_'))
        h->at++;
    return (size_t)(h->at - *start);
}

/* (d0, d1, ...), a trailing comma allowed: at most 4 dimensions of at most 18 digits. */
static int shape_of(struct header *h, unsigned long long *dims, size_t *n)
{
    const char *w;
    size_t len, k;
    *n = 0;
    if (!eat(h, '('))
        return 0;
    while (!eat(h, ')')) {
        len = word(h, &w);
        if (!len || len > 18 || *n == 4)
            return 0;
        dims[*n] = 0;
        for (k = 0; k < len; k++) {
            if (w[k] < '0' || w[k] > '9')
                return 0;
            dims[*n] = dims[*n] * 10 + (unsigned long long)(w[k] - '0');
        }
        ++*n;
        if (!eat(h, ','))
            return eat(h, ')');
    }
    return 1;
}

/* The header's descr, fortran_order and shape; 0 for any other text. */
static int parse_header(struct header *h, char *descr, int *fortran, unsigned long long *dims,
                        size_t *ndim)
{
    char key[16];
    const char *w;
    size_t len;
    int seen = 0; /* bits: descr, fortran_order, shape */
    if (!eat(h, '{'))
        return 0;
    while (!eat(h, '}')) {
        if (!string(h, key, sizeof key) || !eat(h, ':'))
            return 0;
        if (!strcmp(key, "descr") && !(seen & 1)) {
            if (!string(h, descr, 8))
                return 0;
            seen |= 1;
        } else if (!strcmp(key, "fortran_order") && !(seen & 2)) {
            len = word(h, &w);
            if (len == 4 && !strncmp(w, "True", 4))
                *fortran = 1;
            else if (len == 5 && !strncmp(w, "False", 5))
                *fortran = 0;
            else
                return 0;
            seen |= 2;
        } else if (!strcmp(key, "shape") && !(seen & 4)) {
            if (!shape_of(h, dims, ndim))
                return 0;
            seen |= 4;
        } else
            return 0;
        if (!eat(h, ',')) {
            if (!eat(h, '}'))
                return 0;
            break;
        }
    }
    skip(h);
    return h->at == h->end && seen == 7;
}

int main(int argc, char **argv)
{
    FILE *file;
    unsigned char *bytes, *data;
    char descr[8], message[200];
    unsigned long long dims[4], pixels = 1;
    size_t ndim = 0, k, n, size = 0, start = 0, length = 0, used;
    long total;
    int fortran;
    double *x;
    struct header h;
    real y[N_OUTPUTS];
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGES.npy  (writes one label per line to standard "
                "output)\n", argv[0]);
        return 2;
    }
    program_file = argv[1];
    if (!(file = fopen(argv[1], "rb")))
        fail(strerror(errno), "");
    if (fseek(file, 0, SEEK_END) || (total = ftell(file)) < 0 || fseek(file, 0, SEEK_SET))
        fail("cannot read the file's length", "");
    if (!(bytes = malloc((size_t)total + 1)))
        fail("out of memory", "");
    used = fread(bytes, 1, (size_t)total, file);
    fclose(file);
    if (used != (size_t)total)
        fail("cannot read the file", "");
    if (used < 10 || memcmp(bytes, "\x93NUMPY", 6))
        fail("not a .npy file (no \\x93NUMPY magic)", "");
    if (bytes[6] == 1) {
        length = bytes[8] | (size_t)bytes[9] << 8;
        start = 10;
    } else if (bytes[6] == 2 && used >= 12) {
        length = bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16
                 | (size_t)bytes[11] << 24;
        start = 12;
    } else {
        snprintf(message, sizeof message, ".npy format version %d: expected 1 or 2", bytes[6]);
        fail(message, "");
    }
    if (length > MAX_HEADER || length > used - start) {
        snprintf(message, sizeof message, "a .npy header of %lu bytes in a file of %lu: "
                 "expected at most %d", (unsigned long)length, (unsigned long)used, MAX_HEADER);
        fail(message, "");
    }
    h.at = (const char *)bytes + start;
    h.end = h.at + length;
    if (!parse_header(&h, descr, &fortran, dims, &ndim))
        fail("expected a .npy header {'descr': ..., 'fortran_order': ..., 'shape': (...)}", "");
    if (!strcmp(descr, "<f8"))
        size = 8;
    else if (!strcmp(descr, "<f4"))
        size = 4;
    else if (!strcmp(descr, "|u1"))
        size = 1;
    else
        fail("expected dtype '<f8', '<f4' or '|u1', found ", descr);
    if (fortran)
        fail("a Fortran-order array: expected C order", "");
    for (k = 1; k < ndim; k++) /* a dimension > N_INPUTS cannot fit; no overflow */
        pixels = dims[k] > N_INPUTS ? 0 : pixels * dims[k];
    if (ndim < 2 || ndim > 3 || !dims[0] || pixels != N_INPUTS) {
        snprintf(message, sizeof message, "expected images of shape (n, rows, columns) or "
                 "(n, pixels) with n > 0 and %d pixels each, found %lu dimensions",
                 N_INPUTS, (unsigned long)ndim);
        fail(message, ndim == 2 || ndim == 3 ? " of another size" : "");
    }
    data = bytes + start + length;
    if (dims[0] != (used - start - length) / (N_INPUTS * size)
        || (used - start - length) % (N_INPUTS * size)) {
        snprintf(message, sizeof message, "%lu bytes of data, expected %llu x %d x %lu as "
                 "the header says", (unsigned long)(used - start - length), dims[0],
                 N_INPUTS, (unsigned long)size);
        fail(message, "");
    }
    n = (size_t)dims[0];
    if (!(x = malloc(n * N_INPUTS * sizeof *x)))
        fail("out of memory", "");
    for (k = 0; k < n * N_INPUTS; k++) {
        const unsigned char *b = data + k * size;
        if (size == 1)
            x[k] = b[0] / 255.0;
        else if (size == 4) { /* little-endian IEEE 754 binary32, on any host */
            uint32_t u = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            float f;
            memcpy(&f, &u, 4);
            x[k] = f;
        } else { /* little-endian binary64 */
            uint64_t u = 0;
            int q;
            for (q = 7; q >= 0; q--)
                u = u << 8 | b[q];
            memcpy(&x[k], &u, 8);
        }
        if (!(x[k] >= 0 && x[k] <= 1)) {
            snprintf(message, sizeof message, "image %lu, pixel %lu: expected a pixel value "
                     "in [0, 1], found %.17g", (unsigned long)(k / N_INPUTS),
                     (unsigned long)(k % N_INPUTS), x[k]);
            fail(message, "");
        }
    }
    for (k = 0; k < n; k++) {
        predict(x + k * N_INPUTS, y);
        @@LABEL@@;
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
"""


def c_program(plan: Plan) -> str:
    """The C ``main`` (and its helpers) of the image scorer for ``plan``."""
    assert plan.task in ("binary", "multiclass")
    return _C.replace("@@LABEL@@", _LABEL["c"][plan.task])

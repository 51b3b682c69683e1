"""C99 source for a trained model: ``<name>.c`` and ``<name>.h``, using only the
standard library and ``<math.h>``.

The conversion table, :data:`OPS`, maps each operation kind of the shared walk
(:mod:`nablanet.interop.codegen.walk`) to the statements that run it; :data:`HELPERS`
holds the C function each kind calls, written once and emitted only when used (``static``,
so two models link together). ``predict`` takes raw ``double`` features and writes the
model's outputs as ``real`` (``double`` or ``float``).
"""

from __future__ import annotations

import re

from nablanet.interop.codegen.walk import EQUATIONS, Const, Op, Plan, helpers_used, literal, wrapped

__all__ = ["HELPERS", "OPS", "to_c"]

_WIDTH = 96

HELPERS = {
    "matvec": """\
/* z = x W: x (n_in,), W (n_in, n_out) row-major, z (n_out,). */
static void matvec(const real *x, const real *w, size_t n_in, size_t n_out, real *z)
{
    size_t i, j;
    for (j = 0; j < n_out; j++)
        z[j] = 0;
    for (i = 0; i < n_in; i++)
        for (j = 0; j < n_out; j++)
            z[j] += x[i] * w[i * n_out + j];
}""",
    "dense": """\
/* z = x W + b (Nielsen ch. 1-2, row form): x (n_in,), W (n_in, n_out), b (n_out,). */
static void dense(const real *x, const real *w, const real *b, size_t n_in, size_t n_out,
                  real *z)
{
    size_t j;
    matvec(x, w, n_in, n_out, z);
    for (j = 0; j < n_out; j++)
        z[j] += b[j];
}""",
    "sigmoid": f"""\
/* {EQUATIONS["sigmoid"]}: the tanh form cannot overflow. */
static void act_sigmoid(real *a, size_t n)
{{
    size_t k;
    for (k = 0; k < n; k++)
        a[k] = R_TANH(a[k] * (real)0.5) * (real)0.5 + (real)0.5;
}}""",
    "tanh": """\
/* a = tanh(z). */
static void act_tanh(real *a, size_t n)
{
    size_t k;
    for (k = 0; k < n; k++)
        a[k] = R_TANH(a[k]);
}""",
    "relu": """\
/* a = max(z, 0) (rectified linear unit). */
static void act_relu(real *a, size_t n)
{
    size_t k;
    for (k = 0; k < n; k++)
        if (!(a[k] > 0))
            a[k] = 0;
}""",
    "identity": """\
/* a = z. */
static void act_identity(real *a, size_t n)
{
    (void)a;
    (void)n;
}""",
    "softmax": f"""\
/* {EQUATIONS["softmax"]}. */
static void act_softmax(real *a, size_t n)
{{
    size_t k;
    real top = a[0], total = 0;
    for (k = 1; k < n; k++)
        if (a[k] > top)
            top = a[k];
    for (k = 0; k < n; k++) {{
        a[k] = R_EXP(a[k] - top);
        total += a[k];
    }}
    for (k = 0; k < n; k++)
        a[k] /= total;
}}""",
    "scale": f"""\
/* Min-max scaling of raw features, in double then cast: {EQUATIONS["scale"]}. */
static void scale(const double *x, real *out)
{{
    size_t k;
    for (k = 0; k < N_INPUTS; k++)
        out[k] = (real)((x[k] - FEATURE_MIN[k]) * FEATURE_SCALE[k]);
}}""",
    "cast": """\
/* Raw features as real. */
static void cast(const double *x, real *out)
{
    size_t k;
    for (k = 0; k < N_INPUTS; k++)
        out[k] = (real)x[k];
}""",
    "unscale": f"""\
/* Outputs back in the data's units, in double then cast: {EQUATIONS["unscale"]}. */
static void unscale(real *y)
{{
    size_t k;
    for (k = 0; k < N_OUTPUTS; k++)
        y[k] = (real)((double)y[k] * LABEL_SPAN[k] + LABEL_MIN[k]);
}}""",
    "conv2d": f"""\
/* Sizes of a convolution: input (c, h, w), f filters of kh x kw, stride (sh, sw), zero
   padding top and left, output (f, ho, wo). */
struct conv2d {{
    size_t c, h, w, f, kh, kw, sh, sw, top, left, ho, wo;
}};

/* {EQUATIONS["conv2d"]}.
   x (c, h, w), W (f, c, kh, kw), b (f,), z (f, ho, wo), all row-major. */
static void conv2d(const real *x, const real *w, const real *b, const struct conv2d *s,
                   real *z)
{{
    size_t f, i, j, c, p, q;
    for (f = 0; f < s->f; f++)
        for (i = 0; i < s->ho; i++)
            for (j = 0; j < s->wo; j++) {{
                real acc = 0;
                for (c = 0; c < s->c; c++)
                    for (p = 0; p < s->kh; p++) {{
                        size_t y = i * s->sh + p;
                        if (y < s->top || y - s->top >= s->h)
                            continue;
                        for (q = 0; q < s->kw; q++) {{
                            size_t u = j * s->sw + q;
                            if (u < s->left || u - s->left >= s->w)
                                continue;
                            acc += w[((f * s->c + c) * s->kh + p) * s->kw + q]
                                 * x[(c * s->h + y - s->top) * s->w + u - s->left];
                        }}
                    }}
                z[(f * s->ho + i) * s->wo + j] = acc + b[f];
            }}
}}""",
    "maxpool2d": f"""\
/* Sizes of a max-pooling: input (c, h, w), window ph x pw, stride (sh, sw), output
   (c, ho, wo). */
struct maxpool2d {{
    size_t c, h, w, ph, pw, sh, sw, ho, wo;
}};

/* {EQUATIONS["maxpool2d"]}. */
static void maxpool2d(const real *x, const struct maxpool2d *s, real *a)
{{
    size_t c, i, j, p, q;
    for (c = 0; c < s->c; c++)
        for (i = 0; i < s->ho; i++)
            for (j = 0; j < s->wo; j++) {{
                real top = x[(c * s->h + i * s->sh) * s->w + j * s->sw];
                for (p = 0; p < s->ph; p++)
                    for (q = 0; q < s->pw; q++) {{
                        real v = x[(c * s->h + i * s->sh + p) * s->w + j * s->sw + q];
                        if (v > top)
                            top = v;
                    }}
                a[(c * s->ho + i) * s->wo + j] = top;
            }}
}}""",
    "rnn": f"""\
/* One step of an Elman layer: {EQUATIONS["rnn"]}.
   x (n_in,), W_x (n_in, H), W_h (H, H), b (H,); h (H,) is h_(t-1) in and h_t out;
   a, r (H,) are scratch. */
static void rnn_step(const real *x, const real *w_x, const real *w_h, const real *b,
                     void (*f)(real *, size_t), size_t n_in, size_t n, real *h, real *a,
                     real *r)
{{
    size_t k;
    dense(x, w_x, b, n_in, n, a);
    matvec(h, w_h, n, n, r);
    for (k = 0; k < n; k++)
        r[k] += a[k];
    f(r, n);
    for (k = 0; k < n; k++)
        h[k] = r[k];
}}""",
    "lstm": f"""\
/* One step of an LSTM layer: {EQUATIONS["lstm"]}.
   x (n_in,), W_x (n_in, 4H), W_h (H, 4H), b (4H,); h, c (H,) are h_(t-1), c_(t-1) in
   and h_t, c_t out; g, r (4H,) are scratch (the gates). */
static void lstm_step(const real *x, const real *w_x, const real *w_h, const real *b,
                      size_t n_in, size_t n, real *h, real *c, real *g, real *r)
{{
    size_t k;
    dense(x, w_x, b, n_in, 4 * n, g);
    matvec(h, w_h, n, 4 * n, r);
    for (k = 0; k < 4 * n; k++)
        g[k] += r[k];
    act_sigmoid(g, 3 * n);
    act_tanh(g + 3 * n, n);
    for (k = 0; k < n; k++) {{
        c[k] = g[n + k] * c[k] + g[k] * g[3 * n + k];   /* f c + i g */
        h[k] = g[2 * n + k] * R_TANH(c[k]);              /* o tanh(c) */
    }}
}}""",
    "gru": f"""\
/* One step of a GRU layer (PyTorch's form): {EQUATIONS["gru"]}.
   x (n_in,), W_x (n_in, 3H), W_h (H, 3H), b_x, b_h (3H,); h (H,) is h_(t-1) in and h_t
   out; gx, gh (3H,) are scratch. */
static void gru_step(const real *x, const real *w_x, const real *w_h, const real *b_x,
                     const real *b_h, size_t n_in, size_t n, real *h, real *gx, real *gh)
{{
    size_t k;
    dense(x, w_x, b_x, n_in, 3 * n, gx);
    dense(h, w_h, b_h, n, 3 * n, gh);
    for (k = 0; k < 2 * n; k++)
        gx[k] += gh[k];
    act_sigmoid(gx, 2 * n);
    for (k = 0; k < n; k++)
        gx[2 * n + k] += gx[k] * gh[2 * n + k];
    act_tanh(gx + 2 * n, n);
    for (k = 0; k < n; k++)
        h[k] = (h[k] - gx[2 * n + k]) * gx[n + k] + gx[2 * n + k];
}}""",
}


def _array(c: Const, plan: Plan) -> str:
    dtype = "float64" if c.wide else plan.dtype
    suffix = "f" if dtype == "float32" else ""
    items = [literal(float(v), dtype) + suffix for v in c.values]
    lines = wrapped(items, _WIDTH)
    kind = "double" if c.wide else "real"
    shape = " x ".join(map(str, c.shape))
    return (f"/* {c.doc}: shape ({shape}). */\n"
            f"static const {kind} {c.name}[{c.values.size}] = {{\n" + "\n".join(lines) + "\n};")


def _apply(activation: str, a: str, n: int) -> list[str]:
    return [] if activation == "identity" else [f"act_{activation}({a}, {n});"]


def _unscale(plan: Plan, a: str) -> list[str]:
    """The model's output scaling (to the data's units), if it has one."""
    return [f"unscale({a});"] if plan.labels else []


def _dense(op: Op, x: str, a: str) -> list[str]:
    p = op.prefix
    return [f"real {a}[{op.n_out}];",
            f"dense({x}, {p}_W, {p}_B, {op.sizes['n_in']}, {op.sizes['n_out']}, {a});",
            *_apply(op.activation, a, op.n_out)]


def _activation(op: Op, x: str, a: str) -> list[str]:
    return _apply(op.activation, x, op.n_in)


def _conv2d(op: Op, x: str, a: str) -> list[str]:
    p, s = op.prefix, op.sizes
    fields = ", ".join(str(s[k]) for k in ("c", "h", "w", "f", "kh", "kw", "sh", "sw",
                                             "top", "left", "ho", "wo"))
    return [f"static const struct conv2d {p}_SIZES = {{{fields}}};", f"real {a}[{op.n_out}];",
            f"conv2d({x}, {p}_W, {p}_B, &{p}_SIZES, {a});", *_apply(op.activation, a, op.n_out)]


def _maxpool2d(op: Op, x: str, a: str) -> list[str]:
    p, s = op.prefix, op.sizes
    fields = ", ".join(str(s[k]) for k in ("c", "h", "w", "ph", "pw", "sh", "sw", "ho", "wo"))
    return [f"static const struct maxpool2d {p}_SIZES = {{{fields}}};",
            f"real {a}[{op.n_out}];", f"maxpool2d({x}, &{p}_SIZES, {a});"]


#: operation kind -> statements of ``predict`` ``(op, input buffer, output buffer)``
OPS = {
    "dense": _dense,
    "activation": _activation,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
}


def _step(op: Op, x: str, i: int) -> tuple[list[str], str]:
    """(declarations, the step's call) of a recurrent layer."""
    H, p, n_in = op.sizes["n_hidden"], op.prefix, op.sizes["n_in"]
    state = [f"real h{i}[{H}] = {{0}};"]
    if op.kind == "rnn":
        state += [f"real a{i}[{H}], r{i}[{H}];"]
        call = (f"rnn_step({x}, {p}_W_X, {p}_W_H, {p}_B, act_{op.activation}, {n_in}, {H}, "
                f"h{i}, a{i}, r{i});")
    elif op.kind == "lstm":
        state += [f"real c{i}[{H}] = {{0}};", f"real g{i}[{4 * H}], r{i}[{4 * H}];"]
        call = (f"lstm_step({x}, {p}_W_X, {p}_W_H, {p}_B, {n_in}, {H}, h{i}, c{i}, g{i}, "
                f"r{i});")
    else:
        state += [f"real gx{i}[{3 * H}], gh{i}[{3 * H}];"]
        call = (f"gru_step({x}, {p}_W_X, {p}_W_H, {p}_B_X, {p}_B_H, {n_in}, {H}, h{i}, "
                f"gx{i}, gh{i});")
    return state, call


def _helpers(plan: Plan) -> list[str]:
    """The helper functions ``plan`` calls, in :data:`HELPERS`' order."""
    used = helpers_used(plan)
    return [HELPERS[n] for n in HELPERS if n in used]


def _comment(op: Op) -> list[str]:
    return [f"/* {op.title}", f"   {EQUATIONS[op.kind]} */"]


def _signature(plan: Plan) -> tuple[list[str], str]:
    """(doc comment lines, prototype) of ``predict``."""
    raw = " raw features (the min-max scaling is built in)" if plan.scaler else ""
    if plan.recurrent:
        out = ("out: the outputs of every step, (n_steps, N_OUTPUTS) row-major"
               if plan.target == "every" else "out: the N_OUTPUTS outputs at the last step")
        return ([" * The model's outputs for one sequence (what predict_proba gives for it).",
                 f" * x: the steps, (n_steps, N_INPUTS) row-major, n_steps >= 1;{raw}.",
                 f" * {out}."],
                "void predict(const double *x, size_t n_steps, real *out)")
    shape = ", ".join(map(str, plan.input_shape))
    return ([" * The model's outputs for one sample (what predict_proba gives for one row).",
             f" * x: one sample, ({shape}) row-major, N_INPUTS numbers;{raw}.",
             f" * out: the N_OUTPUTS outputs ({plan.output_activation}"
             f"{', in the data units' if plan.labels else ''})."],
            "void predict(const double *x, real *out)")


def _feedforward(plan: Plan) -> list[str]:
    body = [f"real a0[{plan.n_inputs}];", f"{'scale' if plan.scaler else 'cast'}(x, a0);"]
    current = "a0"
    for k, op in enumerate(plan.ops, 1):
        body += _comment(op) + OPS[op.kind](op, current, f"a{k}")
        if op.kind != "activation":
            current = f"a{k}"
    body += [f"/* output activation: {plan.output_activation} */",
             *_apply(plan.output_activation, current, plan.n_outputs),
             *_unscale(plan, current), f"memcpy(out, {current}, sizeof {current});"]
    return ["{", *["    " + s for s in body], "}"]


def _recurrent(plan: Plan) -> list[str]:
    assert plan.head is not None
    decls = ["size_t t;", f"real x_t[{plan.n_inputs}];"]
    calls = [f"{'scale' if plan.scaler else 'cast'}(x + t * N_INPUTS, x_t);"]
    x = "x_t"
    for i, op in enumerate(plan.ops):
        state, call = _step(op, x, i)
        decls += state
        calls += [*_comment(op), call]
        x = f"h{i}"
    p, H, L = plan.head.prefix, plan.head.sizes["n_in"], plan.n_outputs
    calls.append(f"/* {plan.head.title}: y_t = g(h_t W_y + b_y), g = "
                 f"{plan.output_activation} */")
    if plan.target == "last":
        calls += ["if (t + 1 == n_steps) {",
                  f"    dense({x}, {p}_W, {p}_B, {H}, {L}, out);",
                  *["    " + s for s in [*_apply(plan.output_activation, "out", L),
                                       *_unscale(plan, "out")]], "}"]
    else:
        calls += [f"dense({x}, {p}_W, {p}_B, {H}, {L}, out + t * N_OUTPUTS);",
                  *_apply(plan.output_activation, "out + t * N_OUTPUTS", L),
                  *_unscale(plan, "out + t * N_OUTPUTS")]
    body = [*decls, "for (t = 0; t < n_steps; t++) {", *["    " + s for s in calls], "}"]
    return ["{", *["    " + s for s in body], "}"]


def _decisions(plan: Plan) -> tuple[list[str], list[str]]:
    """(header declarations, definitions) of the task's decision function."""
    if plan.task == "binary":
        return ([f"#define THRESHOLD {literal(plan.threshold or 0.0, plan.dtype)}"
                 f"{'f' if plan.dtype == 'float32' else ''}",
                 "/* The 0/1 label of a score: score >= THRESHOLD. */",
                 "int label(real score);"],
                ["int label(real score)", "{", "    return score >= THRESHOLD;", "}"])
    if plan.task == "multiclass" or (plan.task is None and plan.output_activation == "softmax"):
        return (["/* The class: the index of the largest of the N_OUTPUTS outputs (the first "
                 "on a tie). */", "size_t label(const real *y);"],
                ["size_t label(const real *y)", "{", "    size_t k, best = 0;",
                 "    for (k = 1; k < N_OUTPUTS; k++)", "        if (y[k] > y[best])",
                 "            best = k;", "    return best;", "}"])
    return [], []


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def to_c(plan: Plan, name: str = "model", *, program: str | None = None) -> dict[str, str]:
    """The C99 source of ``plan``.

    Parameters
    ----------
    plan : Plan
        From :func:`nablanet.interop.codegen.walk.plan`.
    name : str, default ``"model"``
        The files' stem (``#include "<name>.h"``; its include guard).
    program : str, optional
        A ``main`` to append (the scorer's source), making the file a program.

    Returns
    -------
    dict
        ``{".c": source, ".h": header}``.

    Raises
    ------
    ValueError
        For a ``name`` with characters other than letters, digits, ``_``, ``-``, ``.``.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"name: expected letters, digits, '_', '-' or '.', got {name!r}")
    guard = "NABLANET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_H"
    real, f32 = ("double", False) if plan.dtype == "float64" else ("float", True)
    declare, define = _decisions(plan)
    doc, prototype = _signature(plan)
    header = [
        f"/* {plan.describe()}: generated by nablanet export. */",
        f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
        f"/* The model's element type ({plan.dtype}). */", f"typedef {real} real;",
        f"/* Inputs per {'step' if plan.recurrent else 'sample'}. */",
        f"#define N_INPUTS {plan.n_inputs}",
        f"/* Outputs per {'step' if plan.target == 'every' else 'sample'}. */",
        f"#define N_OUTPUTS {plan.n_outputs}",
    ]
    if plan.recurrent:
        header += ["/* Outputs at every step (1) or at the last step only (0). */",
                   f"#define TARGET_EVERY {int(plan.target == 'every')}"]
    header += ["", *declare, "", "/*", *doc, " */", prototype + ";", "", f"#endif /* {guard} */"]
    source = [
        f"/* {plan.describe()}: generated by nablanet export.",
        "   predict runs the trained model with C99 and <math.h> only; the weights are the",
        "   trained numbers, written to read back exactly. Build: cc -O2 -c "
        f"{name}.c */",
        f'#include "{name}.h"', "", "#include <math.h>", "#include <string.h>", "",
        f"#define R_TANH {'tanhf' if f32 else 'tanh'}",
        f"#define R_EXP {'expf' if f32 else 'exp'}", "",
    ]
    for block in [*[_array(c, plan) for c in plan.consts], *_helpers(plan)]:
        source += [block, ""]
    if define:
        source += [*define, ""]
    source += [prototype]
    source += _recurrent(plan) if plan.recurrent else _feedforward(plan)
    text = "\n".join(source) + "\n"
    if program:
        text += "\n" + program
    return {".c": text, ".h": "\n".join(header) + "\n"}

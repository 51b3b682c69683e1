"""Rust source for a trained model: one ``.rs`` file using only ``std``.

The conversion table, :data:`OPS`, maps each operation kind of the shared walk
(:mod:`nablanet.interop.codegen.walk`) to the statements that run it; :data:`HELPERS`
holds the Rust function each kind calls, written once and emitted only when used.
``predict`` takes raw ``f64`` features and returns the model's outputs in ``Real``
(``f64`` or ``f32``); with a ``program`` the file also has a ``main``, a scorer of
:mod:`nablanet.interop.codegen.scorer` or :mod:`nablanet.interop.codegen.image_scorer`.
"""

from __future__ import annotations

from nablanet.interop.codegen.walk import EQUATIONS, Const, Op, Plan, helpers_used, literal, wrapped

__all__ = ["HELPERS", "OPS", "to_rust"]

_WIDTH = 96

HELPERS = {
    "matvec": """\
/// `z = x W`: x (n_in,), W (n_in, n_out) row-major, z (n_out,).
fn matvec(x: &[Real], w: &[Real], z: &mut [Real]) {
    let n_out = z.len();
    z.fill(0.0);
    for (i, &xi) in x.iter().enumerate() {
        for (zj, &wij) in z.iter_mut().zip(&w[i * n_out..(i + 1) * n_out]) {
            *zj += xi * wij;
        }
    }
}""",
    "dense": """\
/// `z = x W + b` (Nielsen ch. 1-2, row form): x (n_in,), W (n_in, n_out), b (n_out,).
fn dense(x: &[Real], w: &[Real], b: &[Real], z: &mut [Real]) {
    matvec(x, w, z);
    for (zj, &bj) in z.iter_mut().zip(b) {
        *zj += bj;
    }
}""",
    "sigmoid": f"""\
/// {EQUATIONS["sigmoid"]}: the tanh form cannot overflow.
fn sigmoid(a: &mut [Real]) {{
    for v in a.iter_mut() {{
        *v = (*v * 0.5).tanh() * 0.5 + 0.5;
    }}
}}""",
    "tanh": """\
/// `a = tanh(z)`.
fn tanh(a: &mut [Real]) {
    for v in a.iter_mut() {
        *v = v.tanh();
    }
}""",
    "relu": """\
/// `a = max(z, 0)` (rectified linear unit).
fn relu(a: &mut [Real]) {
    for v in a.iter_mut() {
        *v = v.max(0.0);
    }
}""",
    "identity": """\
/// `a = z`.
fn identity(_a: &mut [Real]) {}""",
    "softmax": f"""\
/// {EQUATIONS["softmax"]}.
fn softmax(a: &mut [Real]) {{
    let top = a.iter().fold(Real::NEG_INFINITY, |m, &v| m.max(v));
    for v in a.iter_mut() {{
        *v = (*v - top).exp();
    }}
    let total: Real = a.iter().sum();
    for v in a.iter_mut() {{
        *v /= total;
    }}
}}""",
    "scale": f"""\
/// Min-max scaling of raw features, in f64 then cast: {EQUATIONS["scale"]}.
fn scale(x: &[f64], out: &mut [Real]) {{
    for (k, (o, &v)) in out.iter_mut().zip(x).enumerate() {{
        *o = ((v - FEATURE_MIN[k]) * FEATURE_SCALE[k]) as Real;
    }}
}}""",
    "cast": """\
/// Raw features as `Real`.
fn cast(x: &[f64], out: &mut [Real]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as Real;
    }
}""",
    "unscale": f"""\
/// Outputs back in the data's units, in f64 then cast: {EQUATIONS["unscale"]}.
fn unscale(y: &mut [Real]) {{
    for (k, v) in y.iter_mut().enumerate() {{
        *v = (f64::from(*v) * LABEL_SPAN[k] + LABEL_MIN[k]) as Real;
    }}
}}""",
    "conv2d": f"""\
/// Sizes of a convolution: input (c, h, w), f filters of kh x kw, stride (sh, sw),
/// zero padding top and left, output (f, ho, wo).
struct Conv2d {{
    c: usize, h: usize, w: usize, f: usize, kh: usize, kw: usize,
    sh: usize, sw: usize, top: usize, left: usize, ho: usize, wo: usize,
}}

/// {EQUATIONS["conv2d"]}.
/// x (c, h, w), W (f, c, kh, kw), b (f,), z (f, ho, wo), all row-major.
fn conv2d(x: &[Real], w: &[Real], b: &[Real], s: &Conv2d, z: &mut [Real]) {{
    for f in 0..s.f {{
        for i in 0..s.ho {{
            for j in 0..s.wo {{
                let mut acc: Real = 0.0;
                for c in 0..s.c {{
                    for p in 0..s.kh {{
                        let y = (i * s.sh + p) as isize - s.top as isize;
                        if y < 0 || y >= s.h as isize {{
                            continue;
                        }}
                        for q in 0..s.kw {{
                            let u = (j * s.sw + q) as isize - s.left as isize;
                            if u < 0 || u >= s.w as isize {{
                                continue;
                            }}
                            acc += w[((f * s.c + c) * s.kh + p) * s.kw + q]
                                * x[(c * s.h + y as usize) * s.w + u as usize];
                        }}
                    }}
                }}
                z[(f * s.ho + i) * s.wo + j] = acc + b[f];
            }}
        }}
    }}
}}""",
    "maxpool2d": f"""\
/// Sizes of a max-pooling: input (c, h, w), window ph x pw, stride (sh, sw), output
/// (c, ho, wo).
struct MaxPool2d {{
    c: usize, h: usize, w: usize, ph: usize, pw: usize, sh: usize, sw: usize,
    ho: usize, wo: usize,
}}

/// {EQUATIONS["maxpool2d"]}.
fn maxpool2d(x: &[Real], s: &MaxPool2d, a: &mut [Real]) {{
    for c in 0..s.c {{
        for i in 0..s.ho {{
            for j in 0..s.wo {{
                let mut top = Real::NEG_INFINITY;
                for p in 0..s.ph {{
                    for q in 0..s.pw {{
                        top = top.max(x[(c * s.h + i * s.sh + p) * s.w + j * s.sw + q]);
                    }}
                }}
                a[(c * s.ho + i) * s.wo + j] = top;
            }}
        }}
    }}
}}""",
    "rnn": f"""\
/// One step of an Elman layer: {EQUATIONS["rnn"]}.
/// x (n_in,), W_x (n_in, H), W_h (H, H), b (H,); h (H,) is h_(t-1) in and h_t out;
/// a, r (H,) are scratch.
#[allow(clippy::too_many_arguments)]
fn rnn_step(x: &[Real], w_x: &[Real], w_h: &[Real], b: &[Real], f: fn(&mut [Real]),
            h: &mut [Real], a: &mut [Real], r: &mut [Real]) {{
    dense(x, w_x, b, a);
    matvec(h, w_h, r);
    for (rk, &ak) in r.iter_mut().zip(a.iter()) {{
        *rk += ak;
    }}
    f(r);
    h.copy_from_slice(r);
}}""",
    "lstm": f"""\
/// One step of an LSTM layer: {EQUATIONS["lstm"]}.
/// x (n_in,), W_x (n_in, 4H), W_h (H, 4H), b (4H,); h, c (H,) are h_(t-1), c_(t-1) in
/// and h_t, c_t out; g, r (4H,) are scratch (the gates).
#[allow(clippy::too_many_arguments)]
fn lstm_step(x: &[Real], w_x: &[Real], w_h: &[Real], b: &[Real], h: &mut [Real],
             c: &mut [Real], g: &mut [Real], r: &mut [Real]) {{
    let n = h.len();
    dense(x, w_x, b, g);
    matvec(h, w_h, r);
    for (gk, &rk) in g.iter_mut().zip(r.iter()) {{
        *gk += rk;
    }}
    sigmoid(&mut g[..3 * n]);
    tanh(&mut g[3 * n..]);
    for k in 0..n {{
        let (i, f, o, gg) = (g[k], g[n + k], g[2 * n + k], g[3 * n + k]);
        c[k] = f * c[k] + i * gg;
        h[k] = o * c[k].tanh();
    }}
}}""",
    "gru": f"""\
/// One step of a GRU layer (PyTorch's form): {EQUATIONS["gru"]}.
/// x (n_in,), W_x (n_in, 3H), W_h (H, 3H), b_x, b_h (3H,); h (H,) is h_(t-1) in and h_t
/// out; gx, gh (3H,) are scratch.
#[allow(clippy::too_many_arguments)]
fn gru_step(x: &[Real], w_x: &[Real], w_h: &[Real], b_x: &[Real], b_h: &[Real],
            h: &mut [Real], gx: &mut [Real], gh: &mut [Real]) {{
    let n = h.len();
    dense(x, w_x, b_x, gx);
    dense(h, w_h, b_h, gh);
    for k in 0..2 * n {{
        gx[k] += gh[k];
    }}
    sigmoid(&mut gx[..2 * n]);
    for k in 0..n {{
        gx[2 * n + k] += gx[k] * gh[2 * n + k];
    }}
    tanh(&mut gx[2 * n..]);
    for k in 0..n {{
        let (z, m) = (gx[n + k], gx[2 * n + k]);
        h[k] = (h[k] - m) * z + m;
    }}
}}""",
}


def _real(plan: Plan) -> str:
    return "f64" if plan.dtype == "float64" else "f32"


def _array(c: Const, plan: Plan) -> str:
    """``static NAME: [T; n] = [...];`` with its doc comment, wrapped."""
    dtype = "float64" if c.wide else plan.dtype
    items = [literal(float(v), dtype) for v in c.values]
    lines = wrapped(items, _WIDTH)
    kind = "f64" if c.wide else "Real"
    shape = " x ".join(map(str, c.shape))
    return (f"/// {c.doc}: shape ({shape}).\n"
            f"static {c.name}: [{kind}; {c.values.size}] = [\n" + "\n".join(lines) + "\n];")


def _buffer(name: str, size: int) -> str:
    return f"let mut {name} = [0.0 as Real; {size}];"


def _dense(op: Op, x: str, a: str) -> list[str]:
    p = op.prefix
    return [_buffer(a, op.n_out), f"dense(&{x}, &{p}_W, &{p}_B, &mut {a});",
            *_apply(op.activation, a)]


def _activation(op: Op, x: str, a: str) -> list[str]:
    return _apply(op.activation, x)


def _conv2d(op: Op, x: str, a: str) -> list[str]:
    p, s = op.prefix, op.sizes
    fields = ", ".join(f"{k}: {s[k]}" for k in ("c", "h", "w", "f", "kh", "kw", "sh", "sw",
                                                  "top", "left", "ho", "wo"))
    return [f"const {p}_SIZES: Conv2d = Conv2d {{ {fields} }};", _buffer(a, op.n_out),
            f"conv2d(&{x}, &{p}_W, &{p}_B, &{p}_SIZES, &mut {a});", *_apply(op.activation, a)]


def _maxpool2d(op: Op, x: str, a: str) -> list[str]:
    p, s = op.prefix, op.sizes
    fields = ", ".join(f"{k}: {s[k]}" for k in ("c", "h", "w", "ph", "pw", "sh", "sw",
                                                  "ho", "wo"))
    return [f"const {p}_SIZES: MaxPool2d = MaxPool2d {{ {fields} }};", _buffer(a, op.n_out),
            f"maxpool2d(&{x}, &{p}_SIZES, &mut {a});"]


def _apply(activation: str, a: str) -> list[str]:
    return [] if activation == "identity" else [f"{activation}(&mut {a});"]


def _unscale(plan: Plan, a: str) -> list[str]:
    """The model's output scaling (to the data's units), if it has one."""
    return [f"unscale(&mut {a});"] if plan.labels else []


#: operation kind -> statements of ``predict`` ``(op, input buffer, output buffer)``;
#: recurrent kinds -> the step call ``(op, input buffer, layer index)``
OPS = {
    "dense": _dense,
    "activation": _activation,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
}


def _step(op: Op, x: str, i: int) -> tuple[list[str], str]:
    """(declarations, the step's call) of a recurrent layer."""
    H, p = op.sizes["n_hidden"], op.prefix
    state = [_buffer(f"h{i}", H)]
    if op.kind == "rnn":
        state += [_buffer(f"a{i}", H), _buffer(f"r{i}", H)]
        call = (f"rnn_step(&{x}, &{p}_W_X, &{p}_W_H, &{p}_B, {op.activation}, &mut h{i}, "
                f"&mut a{i}, &mut r{i});")
    elif op.kind == "lstm":
        state += [_buffer(f"c{i}", H), _buffer(f"g{i}", 4 * H), _buffer(f"r{i}", 4 * H)]
        call = (f"lstm_step(&{x}, &{p}_W_X, &{p}_W_H, &{p}_B, &mut h{i}, &mut c{i}, "
                f"&mut g{i}, &mut r{i});")
    else:
        state += [_buffer(f"gx{i}", 3 * H), _buffer(f"gh{i}", 3 * H)]
        call = (f"gru_step(&{x}, &{p}_W_X, &{p}_W_H, &{p}_B_X, &{p}_B_H, &mut h{i}, "
                f"&mut gx{i}, &mut gh{i});")
    return state, call


def _helpers(plan: Plan) -> list[str]:
    """The helper functions ``plan`` calls, in :data:`HELPERS`' order."""
    used = helpers_used(plan)
    return [HELPERS[n] for n in HELPERS if n in used]


def _comment(op: Op, indent: str) -> list[str]:
    return [f"{indent}// {op.title}", f"{indent}// {EQUATIONS[op.kind]}"]


def _feedforward(plan: Plan) -> list[str]:
    shape = ", ".join(map(str, plan.input_shape))
    body = [_buffer("a0", plan.n_inputs),
            f"{'scale' if plan.scaler else 'cast'}(x, &mut a0);"]
    current = "a0"
    for k, op in enumerate(plan.ops, 1):
        body += _comment(op, "")
        out = f"a{k}"
        body += OPS[op.kind](op, current, out)
        if op.kind != "activation":
            current = out
    body += [f"// output activation: {plan.output_activation}",
             *_apply(plan.output_activation, current), *_unscale(plan, current), current]
    doc = [
        "/// The model's outputs for one sample (what `predict_proba` gives for one row).",
        "///",
        f"/// `x`: one sample, shape ({shape}) row-major: {plan.n_inputs} numbers"
        f"{' (raw features: the min-max scaling is built in)' if plan.scaler else ''}.",
        f"/// Returns the {plan.n_outputs} outputs ({plan.output_activation}"
        f"{', in the data units' if plan.labels else ''}).",
        "///",
        "/// # Panics",
        "/// If `x` does not hold `N_INPUTS` numbers.",
    ]
    head = [*doc, "pub fn predict(x: &[f64]) -> [Real; N_OUTPUTS] {",
            '    assert_eq!(x.len(), N_INPUTS, "predict: expected N_INPUTS numbers");']
    return head + ["    " + line if line else "" for line in body] + ["}"]


def _recurrent(plan: Plan) -> list[str]:
    assert plan.head is not None
    decls = [_buffer("x_t", plan.n_inputs)]
    calls = [f"{'scale' if plan.scaler else 'cast'}"
             f"(&x[t * N_INPUTS..(t + 1) * N_INPUTS], &mut x_t);"]
    x = "x_t"
    for i, op in enumerate(plan.ops):
        state, call = _step(op, x, i)
        decls += state
        calls += [*_comment(op, ""), call]
        x = f"h{i}"
    p = plan.head.prefix
    decls.append(_buffer("y", plan.n_outputs))
    emit = [f"dense(&{x}, &{p}_W, &{p}_B, &mut y);",
            *_apply(plan.output_activation, "y"), *_unscale(plan, "y"),
            "out.extend_from_slice(&y);"]
    calls += [f"// {plan.head.title}: y_t = g(h_t W_y + b_y), g = {plan.output_activation}"]
    if plan.target == "last":
        calls += ["if t + 1 == n_steps {"] + ["    " + s for s in emit] + ["}"]
        returns = "the `N_OUTPUTS` outputs at the last step"
    else:
        calls += emit
        returns = "the outputs of every step, shape (n_steps, N_OUTPUTS) row-major"
    doc = [
        "/// The model's outputs for one sequence (what `predict_proba` gives for it).",
        "///",
        "/// `x`: the sequence's steps, shape (n_steps, N_INPUTS) row-major, n_steps >= 1"
        f"{', raw features (the min-max scaling is built in)' if plan.scaler else ''}.",
        f"/// Returns {returns}{' (in the data units)' if plan.labels else ''}.",
        "///",
        "/// # Panics",
        "/// If `x` is empty or its length is not a multiple of `N_INPUTS`.",
    ]
    body = [
        'assert!(!x.is_empty() && x.len() % N_INPUTS == 0,',
        '        "predict: expected n_steps * N_INPUTS numbers, n_steps >= 1");',
        "let n_steps = x.len() / N_INPUTS;",
        "let mut out = Vec::with_capacity(if TARGET_EVERY { n_steps * N_OUTPUTS } "
        "else { N_OUTPUTS });",
        *decls,
        "for t in 0..n_steps {",
        *["    " + s for s in calls],
        "}",
        "out",
    ]
    return [*doc, "pub fn predict(x: &[f64]) -> Vec<Real> {"] + \
        ["    " + line for line in body] + ["}"]


def _decisions(plan: Plan) -> list[str]:
    if plan.task == "binary":
        return ["/// The decision threshold of the binary task: label 1 where the score >= it.",
                f"pub const THRESHOLD: Real = {literal(plan.threshold or 0.0, plan.dtype)};",
                "", "/// The 0/1 label of a score (`score >= THRESHOLD`).",
                "pub fn label(score: Real) -> i64 {", "    i64::from(score >= THRESHOLD)",
                "}"]
    if plan.task == "multiclass" or (plan.task is None and plan.output_activation == "softmax"):
        return ["/// The class: the index of the largest output (the first one on a tie).",
                "pub fn label(y: &[Real]) -> usize {", "    let mut best = 0;",
                "    for (k, &v) in y.iter().enumerate() {",
                "        if v > y[best] {", "            best = k;", "        }", "    }",
                "    best", "}"]
    return []


def to_rust(plan: Plan, *, program: str | None = None) -> str:
    """The Rust source of ``plan``.

    Parameters
    ----------
    plan : Plan
        From :func:`nablanet.interop.codegen.walk.plan`.
    program : str, optional
        A ``main`` to append (the scorer's source), making the file a program.

    Returns
    -------
    str
        The ``.rs`` file's text.
    """
    real = _real(plan)
    top = [
        f"//! {plan.describe()}: generated by nablanet export.",
        "//!",
        "//! `predict` runs the trained model with no dependency beyond `std`; weights are",
        "//! the trained numbers, written to read back exactly. Use it as a module",
        "//! (`mod model;`) or, when it has a `main`, build it with `rustc -O`.",
        "#![allow(dead_code, clippy::excessive_precision, clippy::unreadable_literal)]",
        "",
        f"/// The model's element type ({plan.dtype}).",
        f"pub type Real = {real};",
        f"/// Inputs per {'step' if plan.recurrent else 'sample'}.",
        f"pub const N_INPUTS: usize = {plan.n_inputs};",
        f"/// Outputs per {'step' if plan.target == 'every' else 'sample'}.",
        f"pub const N_OUTPUTS: usize = {plan.n_outputs};",
    ]
    if plan.recurrent:
        top += ["/// Outputs at every step (true) or at the last step only (false).",
                f"pub const TARGET_EVERY: bool = {'true' if plan.target == 'every' else 'false'};"]
    top.append("")
    decisions = _decisions(plan)
    if decisions:
        top += [*decisions, ""]
    for block in [*[_array(c, plan) for c in plan.consts], *_helpers(plan)]:
        top += [block, ""]
    top += _recurrent(plan) if plan.recurrent else _feedforward(plan)
    text = "\n".join(top) + "\n"
    if program:
        text += "\n" + program
    return text

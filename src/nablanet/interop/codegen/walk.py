"""The model walk both code generators share: a trained model as a :class:`Plan`, the
list of operations and named constants that :mod:`~nablanet.interop.codegen.rust` and
:mod:`~nablanet.interop.codegen.c` write out, each with its own conversion table.

One table, :data:`LAYER_OPS`, maps each registered layer name to a function giving the
layer's :class:`Op` (or None for a layer that is the identity at inference: dropout,
flatten of a row-major buffer). Every name and size in a plan comes from the validated
model (its attributes and the layers' own shape checks, :meth:`Layer.allocate`); the
only strings that reach the generated source are the fixed ones written here, so a
hostile model file cannot inject code. Weights are written with :func:`literal` (the
shortest text that reads back to the same number), so the generated model is the trained
one bit for bit.

=============  ===============================================================
layer          operation (equation kept as a comment in the generated code)
=============  ===============================================================
Dense          ``dense``: ``z = x W + b`` then ``a = f(z)``
Activation     ``activation``: ``a = f(z)``
Conv2D         ``conv2d``: ``z[f,i,j] = b[f] + sum W[f,c,p,q] x[c,i*sh+p-top,j*sw+q-left]``
MaxPool2D      ``maxpool2d``: ``a[c,i,j] = max over the window``
Dropout        nothing (the identity at inference)
Flatten        nothing (a ``(C, H, W)`` buffer is already the flat row-major vector)
RNNLayer       ``rnn``: ``h_t = f(x_t W_x + h_{t-1} W_h + b)``
LSTMLayer      ``lstm``: gates ``i, f, o, g``; ``c_t = f c_{t-1} + i g``; ``h_t = o tanh(c_t)``
GRULayer       ``gru``: gates ``r, z, n``; ``h_t = (1 - z) n + z h_{t-1}``
=============  ===============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nablanet.models.recurrent import RecurrentNetwork
from nablanet.registry import name_of

__all__ = ["LAYER_OPS", "Const", "Op", "Plan", "check_names", "helpers_used", "literal", "plan",
           "wrapped"]

#: what the output heads of a CLI-trained recurrent model decide
TASKS = ("binary", "multiclass", "regression")

EQUATIONS = {
    "dense": "z = x W + b (Nielsen ch. 1-2, row form: W is (n_in, n_out)); a = f(z)",
    "activation": "a = f(z), element by element",
    "conv2d": "z[f,i,j] = b[f] + sum_{c,p,q} W[f,c,p,q] x[c, i*sh+p-top, j*sw+q-left] "
              "(a cross-correlation, Nielsen ch. 6; zeros outside the image); a = g(z)",
    "maxpool2d": "a[c,i,j] = max_{p,q} x[c, i*sh+p, j*sw+q] (Nielsen ch. 6)",
    "rnn": "h_t = f(x_t W_x + h_{t-1} W_h + b) (Elman)",
    "lstm": "[i, f, o] = sigmoid(x_t W_x + h_{t-1} W_h + b)[:3H], g = tanh(...)[3H:]; "
            "c_t = f c_{t-1} + i g; h_t = o tanh(c_t) (Hochreiter & Schmidhuber 1997)",
    "gru": "r, z = sigmoid(x W_x + b_x + h_{t-1} W_h + b_h)[:2H]; "
           "n = tanh(x W_xn + b_xn + r (h_{t-1} W_hn + b_hn)); "
           "h_t = (1 - z) n + z h_{t-1} (Cho et al. 2014)",
    "sigmoid": "sigma(z) = 1 / (1 + exp(-z)) = (1 + tanh(z / 2)) / 2",
    "softmax": "a_j = exp(z_j - max z) / sum_k exp(z_k - max z)",
    "scale": "x' = (x - min) * scale, scale = 1 / (max - min) (0 for a constant feature)",
    "unscale": "y' = y * (max - min) + min, per output",
}

_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax")


def literal(value: float, dtype) -> str:
    """The shortest decimal text that reads back, in ``dtype``, to ``value``
    (``repr`` of a float64; NumPy's shortest float32 form), with a ``.0`` or exponent
    so that C and Rust read it as floating point.

    Raises
    ------
    ValueError
        For a non-finite value.
    """
    if not math.isfinite(value):
        raise ValueError(f"code generation: non-finite value {value!r}")
    text = repr(float(value)) if np.dtype(dtype) == np.float64 else str(np.float32(value))
    return text if any(ch in text for ch in ".e") else text + ".0"


@dataclass(frozen=True)
class Const:
    """A named constant array of the generated code.

    ``values`` is flat (row-major) in ``dtype``; ``shape`` and ``doc`` become its
    comment; ``wide`` constants (the scaling layers') stay float64 in a float32 model, as
    the model scales in float64 and then casts.
    """

    name: str
    values: np.ndarray
    shape: tuple[int, ...]
    doc: str
    wide: bool = False


@dataclass(frozen=True)
class Op:
    """One operation of ``predict``: ``kind`` (a row of the module's table), the
    ``prefix`` of its names (``L<layer index>``), a title, its constants, integer sizes,
    activation, and flat input and output sizes."""

    kind: str
    prefix: str
    title: str
    consts: tuple[Const, ...] = ()
    sizes: dict[str, int] = field(default_factory=dict)
    activation: str = "identity"
    n_in: int = 0
    n_out: int = 0


@dataclass(frozen=True)
class Plan:
    """A model as the code generators see it.

    Attributes
    ----------
    model : str
        The model class name (a registered name).
    dtype : ``"float64"`` or ``"float32"``
    recurrent : bool
        ``predict`` takes a sequence ``(n_steps, n_inputs)`` (one step per row).
    target : ``"every"``, ``"last"`` or None
    input_shape : tuple of int
        One sample (feedforward) or one step (recurrent).
    n_outputs : int
        Outputs per sample (per step for ``target="every"``).
    ops : list of Op
        Feedforward layers, or the recurrent layers input side first.
    head : Op or None
        A recurrent model's dense output layer.
    output_activation : str
    scaler : tuple of Const or None
        ``(FEATURE_MIN, FEATURE_SCALE)`` of the model's ``input_scaling``: ``predict``
        takes raw features.
    task, threshold :
        A CLI-trained recurrent model's task (``binary``, ``multiclass``,
        ``regression``) and decision threshold (binary only).
    labels : tuple of Const or None
        ``(LABEL_MIN, LABEL_SPAN)`` of the model's ``output_scaling``: ``predict``
        gives the data's units.
    """

    model: str
    dtype: str
    recurrent: bool
    target: str | None
    input_shape: tuple[int, ...]
    n_outputs: int
    ops: list[Op]
    head: Op | None
    output_activation: str
    scaler: tuple[Const, Const] | None = None
    task: str | None = None
    threshold: float | None = None
    labels: tuple[Const, Const] | None = None

    @property
    def n_inputs(self) -> int:
        """Numbers per sample (feedforward) or per step (recurrent)."""
        return math.prod(self.input_shape)

    @property
    def consts(self) -> list[Const]:
        """Every constant, in the order the source declares them."""
        out = [*(self.scaler or ()), *(self.labels or ())]
        for op in [*self.ops, *([self.head] if self.head else [])]:
            out.extend(op.consts)
        return out

    @property
    def n_params(self) -> int:
        """Weights and biases written into the source."""
        return sum(c.values.size for c in self.consts if not c.wide)

    def describe(self) -> str:
        """One line: the model, its sizes and dtype."""
        shape = "x".join(map(str, self.input_shape))
        what = f"{self.model} {shape} -> {self.n_outputs} ({self.dtype}"
        if self.recurrent:
            what += f", target {self.target}"
        return what + f", {self.n_params:,} parameters)"


def _const(prefix: str, name: str, array: np.ndarray, doc: str) -> Const:
    a = np.asarray(array)
    return Const(f"{prefix}_{name}", a.ravel(), tuple(a.shape), doc)


def _act(name: str) -> str:
    if name not in _ACTIVATIONS:  # registered activations only; names reach the source
        raise ValueError(f"code generation: activation {name!r} has no generated form; "
                         f"supported: {list(_ACTIVATIONS)}")
    return name


def _dense(i, layer, shape) -> Op:
    p = f"L{i}"
    return Op("dense", f"L{i}", f"layers[{i}] Dense {layer.n_in} -> {layer.n_out}, "
              f"{layer.activation.name}",
              (_const(p, "W", layer.W, "weights (n_in, n_out)"),
               _const(p, "B", layer.b, "biases (n_out,)")),
              {"n_in": layer.n_in, "n_out": layer.n_out}, _act(layer.activation.name))


def _activation(i, layer, shape) -> Op:
    return Op("activation", f"L{i}", f"layers[{i}] Activation {layer.activation.name}",
              activation=_act(layer.activation.name))


def _conv2d(i, layer, shape) -> Op:
    C, H, W = shape
    top, _, left, _ = layer._pads
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    _, F, Ho, Wo = layer.allocate((1, C, H, W))
    p = f"L{i}"
    return Op("conv2d", f"L{i}", f"layers[{i}] Conv2D {C}x{H}x{W} -> {F}x{Ho}x{Wo}, {kh}x{kw} "
              f"kernel, stride {sh}x{sw}, {layer.activation.name}",
              (_const(p, "W", layer.W, "filters (F, C, kh, kw)"),
               _const(p, "B", layer.b, "biases (F,)")),
              {"c": C, "h": H, "w": W, "f": F, "kh": kh, "kw": kw, "sh": sh, "sw": sw,
               "top": top, "left": left, "ho": Ho, "wo": Wo}, _act(layer.activation.name))


def _maxpool2d(i, layer, shape) -> Op:
    C, H, W = shape
    (ph, pw), (sh, sw) = layer.pool_size, layer.stride
    _, _, Ho, Wo = layer.allocate((1, C, H, W))
    return Op("maxpool2d", f"L{i}", f"layers[{i}] MaxPool2D {C}x{H}x{W} -> {C}x{Ho}x{Wo}, "
              f"{ph}x{pw} window, stride {sh}x{sw}",
              sizes={"c": C, "h": H, "w": W, "ph": ph, "pw": pw, "sh": sh, "sw": sw,
                     "ho": Ho, "wo": Wo})


def _identity(i, layer, shape) -> None:
    return None


def _rnn(i, layer, shape) -> Op:
    p, H = f"L{i}", layer.n_hidden
    return Op("rnn", f"L{i}", f"layers[{i}] RNN {layer.n_in} -> {H}, {layer.activation.name}",
              (_const(p, "W_X", layer.W_x, "input weights (n_in, H)"),
               _const(p, "W_H", layer.W_h, "recurrent weights (H, H)"),
               _const(p, "B", layer.b, "biases (H,)")),
              {"n_in": layer.n_in, "n_hidden": H}, _act(layer.activation.name))


def _lstm(i, layer, shape) -> Op:
    p, H = f"L{i}", layer.n_hidden
    return Op("lstm", f"L{i}", f"layers[{i}] LSTM {layer.n_in} -> {H}",
              (_const(p, "W_X", layer.W_x, "input weights (n_in, 4H), gate blocks i, f, o, g"),
               _const(p, "W_H", layer.W_h, "recurrent weights (H, 4H), gate blocks i, f, o, g"),
               _const(p, "B", layer.b, "biases (4H,)")),
              {"n_in": layer.n_in, "n_hidden": H})


def _gru(i, layer, shape) -> Op:
    p, H = f"L{i}", layer.n_hidden
    return Op("gru", f"L{i}", f"layers[{i}] GRU {layer.n_in} -> {H}",
              (_const(p, "W_X", layer.W_x, "input weights (n_in, 3H), gate blocks r, z, n"),
               _const(p, "W_H", layer.W_h, "recurrent weights (H, 3H), gate blocks r, z, n"),
               _const(p, "B_X", layer.b_x, "input biases (3H,)"),
               _const(p, "B_H", layer.b_h, "recurrent biases (3H,)")),
              {"n_in": layer.n_in, "n_hidden": H})


#: registered layer name -> function ``(index, layer, input shape) -> Op or None``
LAYER_OPS = {
    "Dense": _dense,
    "Activation": _activation,
    "Conv2D": _conv2d,
    "MaxPool2D": _maxpool2d,
    "Dropout": _identity,
    "Flatten": _identity,
    "RNNLayer": _rnn,
    "LSTMLayer": _lstm,
    "GRULayer": _gru,
}


def _walk(model, shape: tuple[int, ...]) -> list[Op]:
    ops, current = [], (1, *shape)
    try:
        for i, layer in enumerate(model.layers):
            kind = name_of("layer", type(layer))
            if kind not in LAYER_OPS:
                raise ValueError(f"code generation: layers[{i}] ({kind}) has no generated "
                                 f"form; supported: {sorted(LAYER_OPS)}")
            op = LAYER_OPS[kind](i, layer, current[1:])
            after = layer.allocate(current)
            if op is not None:
                ops.append(Op(op.kind, op.prefix, op.title, op.consts, op.sizes, op.activation,
                              math.prod(current[1:]), math.prod(after[1:])))
            current = after
    finally:
        model._allocated = None  # the shape probe replaced the layers' work buffers
    return ops


def plan(model, *, input_shape=None, task: str | None = None,
         threshold: float | None = None) -> Plan:
    """Walk ``model`` into a :class:`Plan`.

    Parameters
    ----------
    model : Sequential (``Network``, convolutional stacks), RNN, LSTM or GRU
    input_shape : tuple of int, optional
        One sample's shape, ``(C, H, W)`` for a convolutional model (which does not know
        it); default: the model's ``sample_shape``.
    task : ``"binary"``, ``"multiclass"`` or ``"regression"``, optional
        What the outputs mean (``nablanet rnn train --task``).
    threshold : float, optional
        The binary decision threshold, in [0, 1].

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        For a layer kind or activation with no generated form (naming it), an input
        shape that does not fit the layers, an unknown task or a threshold outside
        [0, 1].

    Notes
    -----
    The model's ``input_scaling`` and ``output_scaling`` (:mod:`nablanet.layers.scaling`)
    become the first and the last step of ``predict`` (``scale``, ``unscale``), in
    float64 then the model's dtype, as the model computes them.
    """
    dtype = np.dtype(model.dtype).name
    recurrent = isinstance(model, RecurrentNetwork)
    if recurrent:
        shape: tuple[int, ...] = (model.n_inputs,)
        ops = _walk(model, (1, model.n_inputs))
        ops, head = ops[:-1], ops[-1]
        n_out = model.n_outputs
    else:
        given = input_shape if input_shape is not None else model.sample_shape
        if given is None:
            raise ValueError("input_shape: this model does not know its input shape; give "
                             "one sample's shape, (C, H, W) for a convolutional network")
        shape = tuple(int(v) for v in given)
        ops, head = _walk(model, shape), None
        n_out = ops[-1].n_out
    out_act = _act(model.output_activation.name)
    scale = labels = None
    if model.input_scaling is not None:
        inp = model.input_scaling
        if inp.inverse or inp.n_features != math.prod(shape):
            raise ValueError(f"code generation: input_scaling must scale the "
                             f"{math.prod(shape)} inputs (not the inverse)")
        scale = (Const("FEATURE_MIN", inp.minimum, inp.minimum.shape,
                       "input_scaling (min-max): minimum of each feature", True),
                 Const("FEATURE_SCALE", inp.scale, inp.scale.shape,
                       "input_scaling (min-max): 1 / (max - min) of each feature", True))
    if model.output_scaling is not None:
        out = model.output_scaling
        if not out.inverse or out.n_features != n_out:
            raise ValueError(f"code generation: output_scaling must map the {n_out} "
                             f"outputs back to the data's units (the inverse)")
        labels = (Const("LABEL_MIN", out.minimum, out.minimum.shape,
                        "output_scaling (min-max): minimum of each output", True),
                  Const("LABEL_SPAN", out.span, out.span.shape,
                        "output_scaling (min-max): max - min of each output", True))
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"task: expected one of {list(TASKS)}, got {task!r}")
        if task == "binary":
            if threshold is None or not 0 <= float(threshold) <= 1:
                raise ValueError(f"threshold: expected a number in [0, 1], got {threshold!r}")
            threshold = float(threshold)
        else:
            threshold = None
    return Plan(name_of("model", type(model)), dtype, recurrent,
                model.target if recurrent else None, shape, n_out, ops, head, out_act,
                scale, task, threshold, labels)


def wrapped(items: list[str], width: int) -> list[str]:
    """``items`` as the lines of an array initializer: each line indented by four
    spaces, every item followed by a comma, no line longer than ``width``."""
    lines, line = [], "   "
    for item in items:
        if len(line) + len(item) + 2 > width:
            lines.append(line)
            line = "   "
        line += f" {item},"
    lines.append(line)
    return lines


#: the helpers each generated helper calls (the same in every language)
_NEEDS = {"dense": ["matvec"], "rnn": ["dense", "matvec"],
          "lstm": ["dense", "matvec", "sigmoid", "tanh"],
          "gru": ["dense", "matvec", "sigmoid", "tanh"]}


def helpers_used(plan: Plan) -> set[str]:
    """The names of the generated helper functions that ``plan`` calls (each language's
    ``HELPERS`` table has one of each)."""
    used = {"scale" if plan.scaler else "cast", *(["unscale"] if plan.labels else [])}
    if plan.output_activation != "identity":
        used.add(plan.output_activation)
    for op in [*plan.ops, *([plan.head] if plan.head else [])]:
        used.update([op.kind, *_NEEDS.get(op.kind, [])])
        if op.activation != "identity" or op.kind == "rnn":  # rnn_step takes f
            used.add(op.activation)
    return used


def check_names(names, prefix: str, count: int, what: str) -> None:
    """Check that a CLI section's column names are ``<prefix>1..<prefix>count`` (the only
    names the sequence CSV format allows): the generated code writes these names from
    the count, and nothing read from the file reaches the source.

    Raises
    ------
    ValueError
        Naming ``what``, the names expected and the names found.
    """
    expected = [f"{prefix}{k}" for k in range(1, count + 1)]
    if not isinstance(names, list) or names != expected:
        raise ValueError(f"{what}: expected {expected}, found {names!r:.200}")

"""ONNX export (extra ``[onnx]``): a trained model as a standard ONNX graph.

One conversion table, :data:`CONVERTERS`, maps each registered layer name to a function
that appends the layer's nodes to the graph; the model's output activation closes it. The
graph is built with the ``onnx`` package's helper API and checked by its checker.

=============  ===========================================================================
nablanet       ONNX
=============  ===========================================================================
Dense          ``Gemm`` (``X @ W + b``; ``W`` is ``(n_in, n_out)``, no transpose) + activation
Activation     ``Sigmoid`` / ``Tanh`` / ``Relu`` (identity adds no node)
Conv2D         ``Conv`` (``W`` is already ``(F, C, kh, kw)``; pads ``[top, left, bottom,
               right]``) + activation
MaxPool2D      ``MaxPool``
Dropout        nothing (inference)
Flatten        ``Flatten`` (axis 1)
MinMaxScaling  ``Sub`` then ``Mul`` (``(x - min) * scale``), or for the inverse ``Mul`` then
               ``Add`` (``x * (max - min) + min``), on the last axis
RNN            ``RNN``: ``W = W_x^T``, ``R = W_h^T``, ``B = [b, 0]``
LSTM           ``LSTM``: gate blocks reordered from nablanet's ``i, f, o, g`` to ONNX's
               ``i, o, f, c``; ``B = [b, 0]``
GRU            ``GRU`` with ``linear_before_reset=1`` (PyTorch's and nablanet's form):
               gate blocks reordered from ``r, z, n`` to ONNX's ``z, r, h``;
               ``B = [b_x, b_h]``
=============  ===========================================================================

Recurrent models take ``X (batch, steps, features)`` and an optional ``sequence_lens``
(int32 ``(batch,)``; all steps when absent). A model's ``input_scaling`` and
``output_scaling`` (:mod:`nablanet.layers.scaling`; ``nablanet rnn train`` gives its
models both) are converted like any layer, as the first and the last nodes, so the graph
takes raw features and gives the data's units, as the model's ``predict_proba`` does.
Shapes of the ONNX recurrent operators are time-major, so the graph transposes at its
edges.
Source of the operator semantics: the ONNX operator specification (opset 17).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("ONNX export needs onnx: pip install 'nablanet[onnx]'") from exc

from nablanet.atomic import atomic_write_bytes
from nablanet.models.recurrent import RecurrentNetwork
from nablanet.registry import name_of

__all__ = ["CONVERTERS", "OPSET", "to_onnx"]

OPSET = 17
_ACTIVATION_OPS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softmax": "Softmax"}


class _Graph:
    """Nodes and initializers being collected, with fresh names."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        return self.nodes_out(op, inputs, 1, hint, **attrs)[0]

    def nodes_out(self, op: str, inputs: list[str], n_out: int, hint: str | None = None,
                  **attrs) -> list[str]:
        """A node with ``n_out`` outputs; returns their names."""
        outs = [self.name(hint or op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, **attrs))
        return outs

    def activation(self, name: str, x: str) -> str:
        if name == "identity":
            return x
        if name == "softmax":
            return self.node("Softmax", [x], axis=-1)
        return self.node(_ACTIVATION_OPS[name], [x])


def _dense(g: _Graph, layer, x: str) -> str:
    z = g.node("Gemm", [x, g.const("W", layer.W), g.const("b", layer.b)])
    return g.activation(layer.activation.name, z)


def _activation(g: _Graph, layer, x: str) -> str:
    return g.activation(layer.activation.name, x)


def _conv(g: _Graph, layer, x: str) -> str:
    top, bottom, left, right = layer._pads
    z = g.node("Conv", [x, g.const("W", layer.W), g.const("b", layer.b)],
               kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
               pads=[top, left, bottom, right])
    return g.activation(layer.activation.name, z)


def _maxpool(g: _Graph, layer, x: str) -> str:
    return g.node("MaxPool", [x], kernel_shape=list(layer.pool_size), strides=list(layer.stride))


def _dropout(g: _Graph, layer, x: str) -> str:
    return x


def _flatten(g: _Graph, layer, x: str) -> str:
    return g.node("Flatten", [x], axis=1)


def _minmax(g: _Graph, layer, x: str) -> str:
    if layer.inverse:
        return g.node("Add", [g.node("Mul", [x, g.const("span", layer.span)]),
                              g.const("minimum", layer.minimum)], hint="unscaled")
    return g.node("Mul", [g.node("Sub", [x, g.const("minimum", layer.minimum)]),
                          g.const("scale", layer.scale)], hint="scaled")


def _blocks(n_hidden: int, order: list[int]) -> np.ndarray:
    """Column indices taking gate blocks of ``n_hidden`` columns in ``order``."""
    return np.concatenate([np.arange(k * n_hidden, (k + 1) * n_hidden) for k in order])


def _rnn(g: _Graph, layer, x: str) -> tuple[str, list, dict[str, Any]]:
    name = layer.activation.name
    if name not in _ACTIVATION_OPS or name == "softmax":
        raise ValueError(f"ONNX export: RNN activation {name!r} has no ONNX form")
    bias = np.concatenate([layer.b, np.zeros_like(layer.b)])
    return "RNN", [layer.W_x.T, layer.W_h.T, bias], {"activations": [_ACTIVATION_OPS[name]]}


def _lstm(g: _Graph, layer, x: str) -> tuple[str, list, dict[str, Any]]:
    order = _blocks(layer.n_hidden, [0, 2, 1, 3])  # nablanet i, f, o, g -> ONNX i, o, f, c
    bias = np.concatenate([layer.b[order], np.zeros_like(layer.b)])
    return "LSTM", [layer.W_x[:, order].T, layer.W_h[:, order].T, bias], {}


def _gru(g: _Graph, layer, x: str) -> tuple[str, list, dict[str, Any]]:
    order = _blocks(layer.n_hidden, [1, 0, 2])  # nablanet r, z, n -> ONNX z, r, h
    bias = np.concatenate([layer.b_x[order], layer.b_h[order]])
    return ("GRU", [layer.W_x[:, order].T, layer.W_h[:, order].T, bias],
            {"linear_before_reset": 1})


#: recurrent layer name -> (operator, [W, R, B] in ONNX's layout, attributes)
RECURRENT_CONVERTERS = {"RNNLayer": _rnn, "LSTMLayer": _lstm, "GRULayer": _gru}


def _recurrent_model(g: _Graph, model, x: str) -> str:
    """Recurrent layers (time-major inside), the dense head at every step or at each
    sequence's last valid step (``Y_h`` with ``sequence_lens``), the output activation,
    and zeros on padded steps for ``target="every"``."""
    seq = g.node("Transpose", [x], perm=[1, 0, 2])  # (steps, batch, features)
    one = g.const("axis1", np.array([1], dtype=np.int64))
    for i, layer in enumerate(model.cells):
        kind = name_of("layer", type(layer))
        if kind not in RECURRENT_CONVERTERS:
            raise ValueError(f"ONNX export: layers[{i}] ({kind}) has no ONNX conversion; "
                             f"supported: {sorted(RECURRENT_CONVERTERS)}")
        op, (W, R, B), attrs = RECURRENT_CONVERTERS[kind](g, layer, seq)
        Y, Y_h = g.nodes_out(op, [seq, g.const("W", W[None]), g.const("R", R[None]),
                                  g.const("B", B[None]), "sequence_lens"], 2,
                             hidden_size=layer.n_hidden, **attrs)
        seq = g.node("Squeeze", [Y, one])  # (steps, batch, hidden)
    head = model.layers[-1]
    if model.target == "last":
        h = g.node("Squeeze", [Y_h, g.const("axis0", np.array([0], dtype=np.int64))])
    else:
        h = g.node("Transpose", [seq], perm=[1, 0, 2])  # (batch, steps, hidden)
    z = g.node("Add", [g.node("MatMul", [h, g.const("W", head.W)]), g.const("b", head.b)])
    y = _output(g, model, z)
    if model.target == "last":
        return y
    steps = g.node("Gather", [g.node("Shape", [x]), g.const("one", np.array(1))], axis=0)
    t = g.node("Range", [g.const("zero", np.array(0)), steps, g.const("step", np.array(1))])
    lens = g.node("Cast", ["sequence_lens"], to=TensorProto.INT64)
    valid = g.node("Less", [g.node("Unsqueeze", [t, g.const("axis0", np.array([0]))]),
                            g.node("Unsqueeze", [lens, one])])  # (batch, steps)
    weight = g.node("Cast", [g.node("Unsqueeze", [valid, g.const("last", np.array([-1]))])],
                    to=helper.np_dtype_to_tensor_dtype(g.dtype))
    return g.node("Mul", [y, weight])


def _output(g: _Graph, model, z: str) -> str:
    """The output activation, then the model's ``output_scaling`` if it has one."""
    y = g.activation(model.output_activation.name, z)
    return y if model.output_scaling is None else _minmax(g, model.output_scaling, y)


def _sample_shape(first) -> list:
    """The per-sample input dimensions the first layer fixes (symbolic where it does not)."""
    if hasattr(first, "in_channels"):
        return [first.in_channels, "height", "width"]
    return [first.n_in]


CONVERTERS = {
    "Dense": _dense,
    "Activation": _activation,
    "Conv2D": _conv,
    "MaxPool2D": _maxpool,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "MinMaxScaling": _minmax,
}


def to_onnx(model, path=None, *, dtype=np.float32, scaler=None) -> onnx.ModelProto:
    """Export ``model`` to an ONNX graph (and write it to ``path`` if given).

    Parameters
    ----------
    model : Sequential (``Network`` and the convolutional stacks), ``RNN``, ``LSTM`` or ``GRU``
    path : str or Path, optional
        Where to write the ``.onnx`` file (atomically).
    dtype : float32 or float64
        Element type of the graph's input, weights and output. (onnxruntime has no
        float64 ``Conv``/``MaxPool`` kernels: export convolutional models as float32.)
    scaler : MinMaxScaler, optional
        Deprecated (a DeprecationWarning; removed in the next release): give the model
        its scaling instead (``input_scaling=scaler.feature_layer()``), which the graph
        applies like any layer. Taken, for a model without ``input_scaling``, as that.

    Returns
    -------
    onnx.ModelProto
        Input ``X``: ``(batch, *sample_shape)``, for recurrent models ``(batch, steps,
        features)`` plus ``sequence_lens`` (int32 ``(batch,)``, the valid steps of each
        sequence), raw as ``predict_proba`` takes them (the model's ``input_scaling``
        is in the graph). Output ``Y``: what ``predict_proba`` gives, ``(batch,
        outputs)``, or ``(batch, steps, outputs)`` with zeros on padded steps for
        ``target="every"``.

    Raises
    ------
    ValueError
        For a layer kind or activation with no ONNX form, naming it.
    """
    g = _Graph(dtype)
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    x, scaling = "X", model.input_scaling
    if scaler is not None:
        warnings.warn("to_onnx(scaler=) is deprecated: give the model input_scaling="
                      "scaler.feature_layer() (the graph applies a model's scaling layers); "
                      "scaler= will be removed in the next release", DeprecationWarning,
                      stacklevel=2)
        scaling = scaling if scaling is not None else scaler.feature_layer()
    if scaling is not None:
        x = _minmax(g, scaling, x)
    if isinstance(model, RecurrentNetwork):
        inputs = [helper.make_tensor_value_info("X", elem, ["batch", "steps", model.n_inputs]),
                  helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"])]
        out_shape: list[str | int] = ["batch", model.n_outputs] if model.target == "last" else \
            ["batch", "steps", model.n_outputs]
        y = _recurrent_model(g, model, x)
    else:
        inputs = [helper.make_tensor_value_info("X", elem,
                                                ["batch", *_sample_shape(model.layers[0])])]
        out_shape = ["batch", getattr(model.layers[-1], "n_out", "outputs")]
        for i, layer in enumerate(model.layers):
            kind = name_of("layer", type(layer))
            if kind not in CONVERTERS:
                raise ValueError(f"ONNX export: layers[{i}] ({kind}) has no ONNX conversion; "
                                 f"supported: {sorted(CONVERTERS)}")
            x = CONVERTERS[kind](g, layer, x)
        y = _output(g, model, x)
    g.nodes.append(helper.make_node("Identity", [y], ["Y"]))
    graph = helper.make_graph(g.nodes, "nablanet", inputs,
                              [helper.make_tensor_value_info("Y", elem, out_shape)],
                              initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nablanet")
    onnx.checker.check_model(proto)
    if path is not None:
        atomic_write_bytes(Path(path), proto.SerializeToString())
    return proto

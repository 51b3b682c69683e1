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
RNN            ``RNN``: ``W = W_x^T``, ``R = W_h^T``, ``B = [b, 0]``
LSTM           ``LSTM``: gate blocks reordered from nablanet's ``i, f, o, g`` to ONNX's
               ``i, o, f, c``; ``B = [b, 0]``
GRU            ``GRU`` with ``linear_before_reset=1`` (PyTorch's and nablanet's form):
               gate blocks reordered from ``r, z, n`` to ONNX's ``z, r, h``;
               ``B = [b_x, b_h]``
=============  ===========================================================================

Recurrent models take ``X (batch, steps, features)`` and an optional ``sequence_lens``
(int32 ``(batch,)``; all steps when absent); a model saved by the CLI with a min-max
scaler gets it as the first nodes, so the graph takes raw features. Shapes of the ONNX
recurrent operators are time-major, so the graph transposes at its edges.
Source of the operator semantics: the ONNX operator specification (opset 17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    import onnx
    from onnx import helper, numpy_helper
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("ONNX export needs onnx: pip install 'nablanet[onnx]'") from exc

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
        out = self.name(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

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
}


def to_onnx(model, path=None, *, dtype=np.float32, scaler=None) -> onnx.ModelProto:
    """Export ``model`` to an ONNX graph (and write it to ``path`` if given).

    Parameters
    ----------
    model : Sequential (``Network`` and the convolutional stacks) or a recurrent model
    path : str or Path, optional
        Where to write the ``.onnx`` file (atomically).
    dtype : float32 or float64
        Element type of the graph's input, weights and output.
    scaler : MinMaxScaler, optional
        Fitted input scaler applied first in the graph (features only).

    Returns
    -------
    onnx.ModelProto
        Input ``X`` of shape ``(batch, *sample_shape)``; output ``Y``, the output
        activations ``predict_proba`` gives.

    Raises
    ------
    ValueError
        For a layer kind or activation with no ONNX form, naming it.
    """
    g = _Graph(dtype)
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    sample_shape = _sample_shape(model.layers[0])
    x = "X"
    if scaler is not None:
        x = g.node("Mul", [g.node("Sub", ["X", g.const("data_min", scaler.data_min_)]),
                          g.const("scale", scaler.scale_)], hint="scaled")
    for i, layer in enumerate(model.layers):
        kind = name_of("layer", type(layer))
        if kind not in CONVERTERS:
            raise ValueError(f"ONNX export: layers[{i}] ({kind}) has no ONNX conversion; "
                             f"supported: {sorted(CONVERTERS)}")
        x = CONVERTERS[kind](g, layer, x)
    y = g.activation(model.output_activation.name, x)
    g.nodes.append(helper.make_node("Identity", [y], ["Y"]))
    graph = helper.make_graph(
        g.nodes, "nablanet",
        [helper.make_tensor_value_info("X", elem, ["batch", *sample_shape])],
        [helper.make_tensor_value_info("Y", elem, ["batch", getattr(model.layers[-1], "n_out",
                                                                     "outputs")])],
        initializer=g.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nablanet")
    onnx.checker.check_model(proto)
    if path is not None:
        from nablanet.atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), proto.SerializeToString())
    return proto


"""PyTorch interchange (needs ``torch``, imported on use): models to ``torch.nn`` modules
and back.

The module layout is documented and fixed, so a ``state_dict`` is enough to move weights:

- a feedforward or convolutional ``Sequential`` (``Network`` included) <->
  ``nn.Sequential`` of ``nn.Linear``, ``nn.Conv2d`` (after an ``nn.ZeroPad2d`` when its
  padding is uneven), ``nn.MaxPool2d``, ``nn.Dropout``, ``nn.Flatten`` and the activation
  modules ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, closed by ``nn.Softmax(dim=-1)`` or
  ``nn.Sigmoid`` for those output activations;
- a recurrent model (``RNN``, ``LSTM``, ``GRU``) <-> :class:`RecurrentModule`: an
  ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``batch_first=True``) and an ``nn.Linear`` head;
- a model's ``input_scaling`` / ``output_scaling`` (and a ``MinMaxScaling`` layer in a
  stack) <-> :class:`MinMaxScale`, first and last in the ``nn.Sequential`` or the
  :class:`RecurrentModule`, so the module takes raw features and gives the data's units.

Layout differences handled here, once: nablanet's dense weights are ``(n_in, n_out)``
(``nn.Linear.weight`` is the transpose); nablanet's LSTM gate blocks are ``i, f, o, g``
(PyTorch's ``i, f, g, o``) with one bias per gate (PyTorch's two biases are summed on
import, and the export puts the bias in ``bias_ih`` with ``bias_hh = 0``); GRU gate blocks
``r, z, n`` and biases ``b_x``, ``b_h`` match PyTorch's ``bias_ih``, ``bias_hh``.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("PyTorch interchange needs torch: pip install torch") from exc

from nablanet.layers import Dense, MinMaxScaling
from nablanet.layers.recurrent import GRULayer, RNNLayer
from nablanet.models.recurrent import GRU, LSTM, RNN, RecurrentNetwork
from nablanet.models.sequential import Sequential
from nablanet.registry import name_of

__all__ = ["MinMaxScale", "RecurrentModule", "from_torch", "to_torch"]

_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_NAMES = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu"}


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a).copy())


def _linear(layer) -> list:
    lin = nn.Linear(layer.n_in, layer.n_out, dtype=_torch_dtype(layer.dtype))
    with torch.no_grad():
        lin.weight.copy_(_tensor(layer.W.T))
        lin.bias.copy_(_tensor(layer.b))
    return [lin, *_activation_modules(layer.activation.name)]


def _conv(layer) -> list:
    top, bottom, left, right = layer._pads
    modules = []
    if (top, left) != (bottom, right):
        modules.append(nn.ZeroPad2d((left, right, top, bottom)))
        top = left = 0
    conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                     stride=layer.stride, padding=(top, left), dtype=_torch_dtype(layer.dtype))
    with torch.no_grad():
        conv.weight.copy_(_tensor(layer.W))
        assert conv.bias is not None  # made with bias=True
        conv.bias.copy_(_tensor(layer.b))
    return [*modules, conv, *_activation_modules(layer.activation.name)]


def _activation_modules(name: str) -> list:
    if name == "identity":
        return []
    if name == "softmax":
        return [nn.Softmax(dim=-1)]
    return [_MODULES[name]()]


def _torch_dtype(dtype) -> torch.dtype:
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


class MinMaxScale(nn.Module):
    """:class:`nablanet.layers.scaling.MinMaxScaling` as a module: ``(x - minimum) *
    scale`` per feature of the last axis, or with ``inverse`` ``x * span + minimum``,
    computed in float64 and returned in ``x``'s dtype (as the nablanet model does).
    The bounds are float64 buffers (``minimum``, ``maximum``), so they are in the
    ``state_dict``."""

    minimum: torch.Tensor
    maximum: torch.Tensor
    span: torch.Tensor
    scale: torch.Tensor

    def __init__(self, layer: MinMaxScaling):
        super().__init__()
        self.inverse = layer.inverse
        self.register_buffer("minimum", _tensor(layer.minimum))
        self.register_buffer("maximum", _tensor(layer.maximum))
        self.register_buffer("span", _tensor(layer.span))
        self.register_buffer("scale", _tensor(layer.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = x.to(torch.float64)
        y = wide * self.span + self.minimum if self.inverse else \
            (wide - self.minimum) * self.scale
        return y.to(x.dtype)

    def layer(self) -> MinMaxScaling:
        """The nablanet layer of this module."""
        return MinMaxScaling(self.minimum.numpy(), self.maximum.numpy(), inverse=self.inverse)


def _scale(layer) -> list:
    return [] if layer is None else [MinMaxScale(layer)]


_TO_TORCH = {
    "Dense": _linear,
    "Activation": lambda layer: _activation_modules(layer.activation.name),
    "Conv2D": _conv,
    "MaxPool2D": lambda layer: [nn.MaxPool2d(layer.pool_size, layer.stride)],
    "Dropout": lambda layer: [nn.Dropout(layer.rate)],
    "Flatten": lambda layer: [nn.Flatten()],
    "MinMaxScaling": _scale,
}


def _blocks(n_hidden: int, order: list[int]) -> np.ndarray:
    """Row or column indices taking gate blocks of ``n_hidden`` in ``order``."""
    return np.concatenate([np.arange(k * n_hidden, (k + 1) * n_hidden) for k in order])


#: model class -> (torch module class, nablanet gate blocks in PyTorch's order)
_RECURRENT = {RNN: (nn.RNN, [0]), LSTM: (nn.LSTM, [0, 1, 3, 2]), GRU: (nn.GRU, [0, 1, 2])}


class RecurrentModule(nn.Module):
    """A recurrent network in PyTorch's terms: ``rnn`` (``nn.RNN``, ``nn.LSTM`` or
    ``nn.GRU`` with ``batch_first=True``), then ``head`` (``nn.Linear``) and the output
    activation at every step (``target="every"``) or at each sequence's last valid step
    (``"last"``).

    ``input_scaling`` and ``output_scaling`` (:class:`MinMaxScale`, optional) are the
    model's: raw features in, the data's units out.

    ``forward(x, lengths=None)``: ``x (batch, steps, features)``; ``lengths`` (int64
    ``(batch,)``) packs variable-length sequences, and padded steps of ``"every"``
    outputs are zero, as :meth:`nablanet.models.sequential.Sequential.predict_proba`.
    """

    def __init__(self, rnn: nn.RNNBase, head: nn.Linear, *, output_activation: str = "identity",
                 target: str = "every", input_scaling: MinMaxScale | None = None,
                 output_scaling: MinMaxScale | None = None):
        super().__init__()
        if target not in ("every", "last"):
            raise ValueError(f"target: expected 'every' or 'last', got {target!r}")
        self.rnn, self.head, self.target = rnn, head, target
        self.output_activation = output_activation
        self.input_scaling, self.output_scaling = input_scaling, output_scaling
        self.out = nn.Sequential(*_activation_modules(output_activation))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        n, steps = x.shape[:2]
        if lengths is None:
            lengths = torch.full((n,), steps, dtype=torch.int64)
        if self.input_scaling is not None:
            x = self.input_scaling(x)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                                total_length=steps)
        if self.target == "last":
            return self._output(self.head(h[torch.arange(n), lengths - 1]))
        valid = (torch.arange(steps)[None, :] < lengths[:, None]).to(x.dtype)
        return self._output(self.head(h)) * valid[..., None]

    def _output(self, z: torch.Tensor) -> torch.Tensor:
        a = self.out(z)
        return a if self.output_scaling is None else self.output_scaling(a)


def _recurrent_to_torch(model: RecurrentNetwork) -> RecurrentModule:
    module_class, order = _RECURRENT[type(model)]
    H = model.n_hidden
    kwargs = {}
    if module_class is nn.RNN:
        kwargs["nonlinearity"] = cast(RNNLayer, model.cells[0]).activation.name
        if kwargs["nonlinearity"] not in ("tanh", "relu"):
            raise ValueError(f"to_torch: nn.RNN has no {kwargs['nonlinearity']!r} "
                             "nonlinearity (tanh or relu only)")
    rows = _blocks(H, order)
    rnn = module_class(model.n_inputs, H, num_layers=model.num_layers, batch_first=True,
                       dtype=_torch_dtype(model.dtype), **kwargs)
    with torch.no_grad():
        for k, cell in enumerate(model.cells):
            getattr(rnn, f"weight_ih_l{k}").copy_(_tensor(cell.W_x[:, rows].T))
            getattr(rnn, f"weight_hh_l{k}").copy_(_tensor(cell.W_h[:, rows].T))
            b_ih, b_hh = (cast(GRULayer, cell).b_x, cast(GRULayer, cell).b_h) \
                if module_class is nn.GRU else \
                (cell.b, np.zeros_like(cell.b))
            getattr(rnn, f"bias_ih_l{k}").copy_(_tensor(b_ih[rows]))
            getattr(rnn, f"bias_hh_l{k}").copy_(_tensor(b_hh[rows]))
    head = _linear(model.layers[-1])[0]
    scaling = [None if layer is None else MinMaxScale(layer)
               for layer in (model.input_scaling, model.output_scaling)]
    return RecurrentModule(rnn, head, output_activation=model.output_activation.name,
                           target=model.target, input_scaling=scaling[0],
                           output_scaling=scaling[1]).eval()


def _recurrent_from_torch(module: RecurrentModule, loss: str | None, seed) -> RecurrentNetwork:
    rnn = module.rnn
    model_class = {c: m for m, (c, _) in _RECURRENT.items()}.get(type(rnn))
    if model_class is None or not rnn.batch_first or rnn.bidirectional or rnn.proj_size:
        raise ValueError(f"from_torch: expected a unidirectional batch_first nn.RNN, nn.LSTM "
                         f"or nn.GRU, got {rnn}")
    order = np.argsort(_RECURRENT[model_class][1])  # PyTorch's blocks -> nablanet's
    dtype = np.float64 if rnn.weight_ih_l0.dtype == torch.float64 else np.float32
    kwargs = {"activation": rnn.nonlinearity} if model_class is RNN else {}
    model = model_class(rnn.input_size, rnn.hidden_size, module.head.out_features,
                        num_layers=rnn.num_layers, target=module.target,
                        output_activation=module.output_activation,
                        loss=loss or _default_loss(module.output_activation), seed=seed,
                        dtype=dtype, **kwargs, **{
                            key: getattr(module, key).layer()
                            for key in ("input_scaling", "output_scaling")
                            if getattr(module, key, None) is not None})
    rows = _blocks(rnn.hidden_size, list(order))

    def array(name: str) -> np.ndarray:
        return getattr(rnn, name).detach().numpy()

    for k, cell in enumerate(model.cells):
        cell.W_x[...] = array(f"weight_ih_l{k}")[rows].T
        cell.W_h[...] = array(f"weight_hh_l{k}")[rows].T
        if model_class is GRU:
            cell.b_x[...], cell.b_h[...] = array(f"bias_ih_l{k}"), array(f"bias_hh_l{k}")
        else:
            cell.b[...] = (array(f"bias_ih_l{k}") + array(f"bias_hh_l{k}"))[rows]
    model.layers[-1].W[...] = module.head.weight.detach().numpy().T
    model.layers[-1].b[...] = module.head.bias.detach().numpy()
    return model


def _default_loss(output_activation: str) -> str:
    return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(
        output_activation, "mse")


def to_torch(model) -> nn.Module:
    """A ``torch.nn`` module computing ``model.predict_proba`` (in eval mode): an
    ``nn.Sequential`` for feedforward and convolutional models, a
    :class:`RecurrentModule` for ``RNN``, ``LSTM`` and ``GRU``.

    Raises
    ------
    ValueError
        For a layer kind without a PyTorch counterpart, naming it.
    """
    if isinstance(model, RecurrentNetwork):
        return _recurrent_to_torch(model)
    modules = []
    for i, layer in enumerate(model.layers):
        kind = name_of("layer", type(layer))
        if kind not in _TO_TORCH:
            raise ValueError(f"to_torch: layers[{i}] ({kind}) has no PyTorch counterpart; "
                             f"supported: {sorted(_TO_TORCH)}")
        modules += _TO_TORCH[kind](layer)
    modules += _activation_modules(model.output_activation.name)
    return nn.Sequential(*_scale(model.input_scaling), *modules,
                         *_scale(model.output_scaling)).eval()


def _dense(linear: nn.Linear, activation: str) -> Dense:
    dtype = np.float64 if linear.weight.dtype == torch.float64 else np.float32
    dense = Dense(linear.in_features, linear.out_features, activation=activation, dtype=dtype)
    dense.W[...] = linear.weight.detach().numpy().T
    dense.b[...] = 0.0 if linear.bias is None else linear.bias.detach().numpy()
    return dense


def from_torch(module: nn.Module, *, loss: str | None = None, seed=None):
    """A nablanet model from a PyTorch module of the documented layout: a
    :class:`RecurrentModule` gives an ``RNN``/``LSTM``/``GRU``; an ``nn.Sequential`` of
    ``nn.Linear`` and activation modules gives a ``Sequential`` of ``Dense`` layers.

    An activation module after a linear layer becomes that ``Dense`` layer's activation;
    a final ``nn.Softmax`` / ``nn.Sigmoid`` becomes the output activation, with the
    matching loss (cross-entropy / binary cross-entropy; squared error otherwise) unless
    ``loss`` is given.

    Raises
    ------
    ValueError
        For a module this layout does not describe, naming its index and type.
    """
    if isinstance(module, RecurrentModule):
        return _recurrent_from_torch(module, loss, seed)
    children = list(module.children()) if isinstance(module, nn.Sequential) else [module]
    scaling: dict[str, Any] = {}
    if children and isinstance(children[0], MinMaxScale):
        scaling["input_scaling"] = cast(MinMaxScale, children.pop(0)).layer()
    if children and isinstance(children[-1], MinMaxScale):
        scaling["output_scaling"] = cast(MinMaxScale, children.pop()).layer()
    output = "identity"
    if children and isinstance(children[-1], nn.Softmax | nn.Sigmoid):
        output = "softmax" if isinstance(children[-1], nn.Softmax) else "sigmoid"
        children = children[:-1]
    linears: list[list] = []  # [nn.Linear, activation name]
    for i, child in enumerate(children):
        if isinstance(child, nn.Linear):
            linears.append([child, "identity"])
        elif type(child) in _NAMES and linears and linears[-1][1] == "identity":
            linears[-1][1] = _NAMES[type(child)]
        else:
            raise ValueError(f"from_torch: module {i} ({type(child).__name__}) is not part of "
                             "the supported layout (nn.Linear, each optionally followed by "
                             "nn.Sigmoid / nn.Tanh / nn.ReLU, and a final nn.Softmax or "
                             "nn.Sigmoid)")
    layers = [_dense(linear, activation) for linear, activation in linears]
    if not layers:
        raise ValueError("from_torch: no nn.Linear layer found")
    return Sequential(layers, output_activation=output, loss=loss or _default_loss(output),
                      seed=seed, dtype=layers[0].dtype, **scaling)

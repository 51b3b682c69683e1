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

A module holds what PyTorch needs to compute; what only nablanet uses (the model class,
the initialisers' and layers' settings, the seed, the per-sample input shape) travels
as the attribute ``nablanet_config`` (``{"name", "config"}``, the registered model name
and :meth:`~nablanet.models.sequential.Sequential.get_config`) that :func:`to_torch` sets
and :func:`from_torch` reads, so ``from_torch(to_torch(model))`` is the same model. It
lives on the module object (``torch.save(module)`` keeps it, a ``state_dict`` does not).

Layout differences handled here, once: nablanet's dense weights are ``(n_in, n_out)``
(``nn.Linear.weight`` is the transpose); nablanet's LSTM gate blocks are ``i, f, o, g``
(PyTorch's ``i, f, g, o``) with one bias per gate (PyTorch's two biases are summed on
import, and the export puts the bias in ``bias_ih`` with ``bias_hh = 0``); GRU gate blocks
``r, z, n`` and biases ``b_x``, ``b_h`` match PyTorch's ``bias_ih``, ``bias_hh``.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("PyTorch interchange needs torch: pip install torch") from exc

from nablanet.layers import (
    Activation,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    MinMaxScaling,
)
from nablanet.layers.recurrent import GRULayer, RNNLayer
from nablanet.models.recurrent import GRU, LSTM, RNN, RecurrentNetwork
from nablanet.models.sequential import Sequential
from nablanet.registry import get, name_of

log = logging.getLogger("nablanet")

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
    :class:`RecurrentModule` for ``RNN``, ``LSTM`` and ``GRU``; its attribute
    ``nablanet_config`` records the model's class and configuration (see the module
    docstring).

    Raises
    ------
    ValueError
        For a layer kind without a PyTorch counterpart, naming it.
    """
    if isinstance(model, RecurrentNetwork):
        module: nn.Module = _recurrent_to_torch(model)
    else:
        modules = []
        for i, layer in enumerate(model.layers):
            kind = name_of("layer", type(layer))
            if kind not in _TO_TORCH:
                raise ValueError(f"to_torch: layers[{i}] ({kind}) has no PyTorch "
                                 f"counterpart; supported: {sorted(_TO_TORCH)}")
            modules += _TO_TORCH[kind](layer)
        modules += _activation_modules(model.output_activation.name)
        module = nn.Sequential(*_scale(model.input_scaling), *modules,
                               *_scale(model.output_scaling)).eval()
    # a plain attribute (nn.Module.__setattr__ keeps what is not a tensor or module)
    object.__setattr__(module, "nablanet_config", {"name": name_of("model", type(model)),
                                                   "config": model.get_config()})
    return module


def _dtype(module: nn.Module) -> type:
    """The NumPy dtype of a module's first parameter (float64 or float32)."""
    first = next(module.parameters(), None)
    return np.float64 if first is not None and first.dtype == torch.float64 else np.float32


def _array(t: torch.Tensor | None, like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like) if t is None else t.detach().numpy()


def _dense(linear: nn.Linear, activation: str, dtype) -> Dense:
    dense = Dense(linear.in_features, linear.out_features, activation=activation, dtype=dtype)
    dense.W[...] = linear.weight.detach().numpy().T
    dense.b[...] = _array(linear.bias, dense.b)
    return dense


def _conv_padding(conv: nn.Conv2d, pad: nn.ZeroPad2d | None, where: str):
    """``Conv2D``'s ``padding`` for ``conv`` (after the uneven ``pad`` of a 'same'
    padding when there is one), as :func:`_conv` writes it."""
    padding: str | int | tuple[int, int]
    if isinstance(conv.padding, str):
        padding = conv.padding
    else:
        ph, pw = conv.padding
        padding = "valid" if (ph, pw) == (0, 0) else ph if ph == pw else (ph, pw)
    if pad is None:
        return padding
    left, right, top, bottom = pad.padding
    kh, kw = conv.kernel_size
    same = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    if padding != "valid" or (top, bottom, left, right) != same or conv.stride != (1, 1):
        raise ValueError(f"from_torch: {where}: an nn.ZeroPad2d{pad.padding} is supported "
                         "only as the uneven 'same' padding of the nn.Conv2d after it "
                         f"(stride 1, padding 0), here {same[2:] + same[:2]}")
    return "same"


def _conv2d(conv: nn.Conv2d, pad: nn.ZeroPad2d | None, activation: str, dtype,
            where: str) -> Conv2D:
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        raise ValueError(f"from_torch: {where}: nablanet's Conv2D has no groups, dilation "
                         "or padding modes other than zeros")
    layer = Conv2D(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                   padding=_conv_padding(conv, pad, where), activation=activation,
                   dtype=dtype)
    layer.W[...] = conv.weight.detach().numpy()
    layer.b[...] = _array(conv.bias, layer.b)
    return layer


def _pool(pool: nn.MaxPool2d, dtype, where: str) -> MaxPool2D:
    if pool.padding not in (0, (0, 0)) or pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
        raise ValueError(f"from_torch: {where}: nablanet's MaxPool2D has no padding, "
                         "dilation or ceil_mode")
    return MaxPool2D(pool.kernel_size, pool.stride, dtype=dtype)


LAYOUT = ("nn.Linear and nn.Conv2d (after an optional nn.ZeroPad2d), each optionally "
          "followed by nn.Sigmoid / nn.Tanh / nn.ReLU, nn.MaxPool2d, nn.Dropout, "
          "nn.Flatten, and a final nn.Softmax(dim=-1) or nn.Sigmoid")


def _layers(children: list, dtype) -> list:
    """nablanet layers from the modules of an ``nn.Sequential`` (the output activation
    taken off): an activation module after a linear or convolutional layer becomes its
    activation, anywhere else an ``Activation`` layer."""
    specs: list[list] = []  # [module, activation, preceding nn.ZeroPad2d, index]
    pad = None
    for i, child in enumerate(children):
        if pad is not None and not isinstance(child, nn.Conv2d):
            raise ValueError(f"from_torch: module {i - 1} (ZeroPad2d) is not followed by "
                             "an nn.Conv2d")
        if isinstance(child, nn.ZeroPad2d):
            pad = child
        elif isinstance(child, nn.Linear | nn.Conv2d | nn.MaxPool2d | nn.Dropout | nn.Flatten):
            specs.append([child, "identity", pad, i])
            pad = None
        elif type(child) in _NAMES:
            if specs and isinstance(specs[-1][0], nn.Linear | nn.Conv2d) \
                    and specs[-1][1] == "identity":
                specs[-1][1] = _NAMES[type(child)]
            else:
                specs.append([child, _NAMES[type(child)], None, i])
        else:
            raise ValueError(f"from_torch: module {i} ({type(child).__name__}) is not part "
                             f"of the supported layout ({LAYOUT})")
    if pad is not None:
        raise ValueError(f"from_torch: the last module ({type(pad).__name__}) is not "
                         "followed by an nn.Conv2d")
    layers: list[Layer] = []
    for child, activation, pad, i in specs:
        where = f"module {i} ({type(child).__name__})"
        if isinstance(child, nn.Linear):
            layers.append(_dense(child, activation, dtype))
        elif isinstance(child, nn.Conv2d):
            layers.append(_conv2d(child, pad, activation, dtype, where))
        elif isinstance(child, nn.MaxPool2d):
            layers.append(_pool(child, dtype, where))
        elif isinstance(child, nn.Dropout):
            layers.append(Dropout(child.p, dtype=dtype))
        elif isinstance(child, nn.Flatten):
            if (child.start_dim, child.end_dim) != (1, -1):
                raise ValueError(f"from_torch: {where}: expected nn.Flatten() (start_dim 1, "
                                 "end_dim -1)")
            layers.append(Flatten(dtype=dtype))
        else:
            layers.append(Activation(activation, dtype=dtype))
    return layers


def _recorded(module: nn.Module, converted, loss: str | None, seed,
              input_shape: tuple[int, ...] | None = None):
    """The model that ``module.nablanet_config`` (set by :func:`to_torch`) describes,
    with ``loss``, ``seed`` and ``input_shape`` where given and the weights of
    ``converted`` (the model read from the modules), or
    ``converted`` itself when the module carries no such record or no longer fits it
    (other parameter shapes, output activation or dtype: logged)."""
    record = getattr(module, "nablanet_config", None)
    if not isinstance(record, dict):
        return converted
    config = dict(record.get("config") or {})
    if loss is not None and "loss" in config:
        config["loss"] = loss
    if seed is not None and "seed" in config:
        config["seed"] = seed
    if input_shape is not None and "input_shape" in config:
        config["input_shape"] = list(input_shape)
    try:
        model = get("model", cast(str, record.get("name"))).from_config(config)
    except (ValueError, TypeError) as exc:
        log.warning("from_torch: ignoring the module's nablanet_config (%s)", exc)
        return converted
    ours, theirs = model.params(), converted.params()
    if ([p.shape for p in ours] != [p.shape for p in theirs]
            or model.output_activation.name != converted.output_activation.name
            or np.dtype(model.dtype) != np.dtype(converted.dtype)):
        log.warning("from_torch: the module no longer fits the nablanet_config it carries "
                    "(other layers, output or dtype): converted from its modules alone")
        return converted
    for mine, read in zip(ours, theirs, strict=True):
        mine[...] = read
    return model


def from_torch(module: nn.Module, *, loss: str | None = None, seed=None,
               input_shape: tuple[int, ...] | None = None):
    """A nablanet model from a PyTorch module of the documented layout: a
    :class:`RecurrentModule` gives an ``RNN``/``LSTM``/``GRU``; an ``nn.Sequential`` of
    ``nn.Linear``, ``nn.Conv2d`` (after an ``nn.ZeroPad2d`` for an uneven 'same'
    padding), ``nn.MaxPool2d``, ``nn.Dropout``, ``nn.Flatten`` and activation modules
    gives a ``Sequential`` of ``Dense``, ``Conv2D``, ``MaxPool2D``, ``Dropout``,
    ``Flatten`` and ``Activation`` layers.

    An activation module after a linear or convolutional layer becomes that layer's
    activation; a final ``nn.Softmax`` / ``nn.Sigmoid`` becomes the output activation,
    with the matching loss (cross-entropy / binary cross-entropy; squared error
    otherwise) unless ``loss`` is given. A module made by :func:`to_torch` carries the
    model's configuration (``nablanet_config``): the model is rebuilt from it (the same
    class, initialisers, seed and input shape) with the module's weights.

    Parameters
    ----------
    module : torch.nn.Module
    loss : str, optional
        The model's loss; default: the recorded one, else as above.
    seed : int, optional
        The model's seed; default: the recorded one, else None.
    input_shape : tuple of int, optional
        The per-sample input shape the model records (:attr:`Sequential.sample_shape`);
        default: the recorded one, else ``(in_features,)`` of a first ``nn.Linear``. A
        module that starts with an ``nn.Conv2d`` and carries no record needs it:
        ``(channels, height, width)``.

    Raises
    ------
    ValueError
        For a module this layout does not describe, naming its index and type; for a
        convolutional module without ``input_shape`` (nor a record of it), or an
        ``input_shape`` its layers do not accept.
    """
    if isinstance(module, RecurrentModule):
        return _recorded(module, _recurrent_from_torch(module, loss, seed), loss, seed)
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
    layers = _layers(children, _dtype(module))
    if not any(isinstance(layer, Dense | Conv2D) for layer in layers):
        raise ValueError("from_torch: no nn.Linear or nn.Conv2d layer found")
    record = getattr(module, "nablanet_config", None)
    recorded_shape = isinstance(record, dict) and "input_shape" in (record.get("config") or {})
    if input_shape is None and isinstance(layers[0], Conv2D) and not recorded_shape:
        raise ValueError("from_torch: input_shape: the module starts with an nn.Conv2d, "
                         "which does not hold the image size: pass input_shape=(channels, "
                         "height, width)")
    converted = Sequential(layers, output_activation=output,
                           loss=loss or _default_loss(output), seed=seed,
                           dtype=layers[0].dtype, input_shape=input_shape, **scaling)
    return _recorded(module, converted, loss, seed, input_shape)

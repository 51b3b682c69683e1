"""PyTorch interchange (needs ``torch``, imported on use): models to ``torch.nn`` modules
and back.

The module layout is documented and fixed, so a ``state_dict`` is enough to move weights:

- a feedforward or convolutional ``Sequential`` (``Network`` included) <->
  ``nn.Sequential`` of ``nn.Linear``, ``nn.Conv2d`` (after an ``nn.ZeroPad2d`` when its
  padding is uneven), ``nn.MaxPool2d``, ``nn.Dropout``, ``nn.Flatten`` and the activation
  modules ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, closed by ``nn.Softmax(dim=-1)`` or
  ``nn.Sigmoid`` for those output activations;
- a recurrent model (``RNN``, ``LSTM``, ``GRU``) <-> :class:`RecurrentModule`: an
  ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``batch_first=True``) and an ``nn.Linear`` head.

Layout differences handled here, once: nablanet's dense weights are ``(n_in, n_out)``
(``nn.Linear.weight`` is the transpose); nablanet's LSTM gate blocks are ``i, f, o, g``
(PyTorch's ``i, f, g, o``) with one bias per gate (PyTorch's two biases are summed on
import, and the export puts the bias in ``bias_ih`` with ``bias_hh = 0``); GRU gate blocks
``r, z, n`` and biases ``b_x``, ``b_h`` match PyTorch's ``bias_ih``, ``bias_hh``.
"""

from __future__ import annotations

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("PyTorch interchange needs torch: pip install torch") from exc

from nablanet.layers import Dense
from nablanet.models.sequential import Sequential
from nablanet.registry import name_of

__all__ = ["from_torch", "to_torch"]

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


_TO_TORCH = {
    "Dense": _linear,
    "Activation": lambda layer: _activation_modules(layer.activation.name),
    "Conv2D": _conv,
    "MaxPool2D": lambda layer: [nn.MaxPool2d(layer.pool_size, layer.stride)],
    "Dropout": lambda layer: [nn.Dropout(layer.rate)],
    "Flatten": lambda layer: [nn.Flatten()],
}


def to_torch(model) -> nn.Module:
    """A ``torch.nn`` module computing ``model.predict_proba`` (in eval mode).

    Raises
    ------
    ValueError
        For a layer kind without a PyTorch counterpart, naming it.
    """
    modules = []
    for i, layer in enumerate(model.layers):
        kind = name_of("layer", type(layer))
        if kind not in _TO_TORCH:
            raise ValueError(f"to_torch: layers[{i}] ({kind}) has no PyTorch counterpart; "
                             f"supported: {sorted(_TO_TORCH)}")
        modules += _TO_TORCH[kind](layer)
    modules += _activation_modules(model.output_activation.name)
    return nn.Sequential(*modules).eval()


def _dense(linear: nn.Linear, activation: str) -> Dense:
    dtype = np.float64 if linear.weight.dtype == torch.float64 else np.float32
    dense = Dense(linear.in_features, linear.out_features, activation=activation, dtype=dtype)
    dense.W[...] = linear.weight.detach().numpy().T
    dense.b[...] = 0.0 if linear.bias is None else linear.bias.detach().numpy()
    return dense


def from_torch(module: nn.Module, *, loss: str | None = None, seed=None) -> Sequential:
    """A nablanet ``Sequential`` of ``Dense`` layers from an ``nn.Sequential`` of
    ``nn.Linear`` and activation modules (the layout :func:`to_torch` writes).

    An activation module after a linear layer becomes that ``Dense`` layer's activation;
    a final ``nn.Softmax`` / ``nn.Sigmoid`` becomes the output activation, with the
    matching loss (cross-entropy / binary cross-entropy; squared error otherwise) unless
    ``loss`` is given.

    Raises
    ------
    ValueError
        For a module this layout does not describe, naming its index and type.
    """
    children = list(module.children()) if isinstance(module, nn.Sequential) else [module]
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
    if loss is None:
        loss = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(output, "mse")
    return Sequential(layers, output_activation=output, loss=loss, seed=seed,
                      dtype=layers[0].dtype)

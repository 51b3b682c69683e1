"""Fully connected layers: ``Dense`` and the element-wise ``Activation`` layer.

Row-vector (batch-major) form of the book's equations (Nielsen ch. 1-2), for a
mini-batch ``X`` of shape ``(m, n_in)``::

    z = X @ W + b            a = f(z)                                 (forward)
    dL/dz = dL/da * f'(z)                                              (BP1/BP2, the f' part)
    dL/db = sum over rows of dL/dz                                     (BP3)
    dL/dW = X.T @ dL/dz                                                (BP4)
    dL/dX = dL/dz @ W.T                                                (BP2, the W part)

``W`` is ``(n_in, n_out)``, the transpose of the book's ``(n_out, n_in)``, so that a
layer is one product ``X @ W`` on row-major data.
"""

from __future__ import annotations

import math

import numpy as np

from nablanet.activations import get_activation
from nablanet.init import check_dtype, get_initializer
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["Activation", "Dense"]


@register("layer", "Dense")
class Dense(Layer):
    """Fully connected layer ``a = f(X @ W + b)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    activation : str, default ``"identity"``
        ``f``, applied in place on the output (see :mod:`nablanet.activations`).
        A model's output nonlinearity belongs to its loss, not here.
    init : str, default ``"glorot"``
        Initialiser of ``W`` (see :mod:`nablanet.init`).
    bias_init : ``"zeros"`` or ``"normal"``, default ``"zeros"``
        ``"normal"`` draws ``b`` from N(0, 1) as the book's ``network.py`` does.
    seed : int or numpy.random.Generator, optional
        Source of the initial draws: ``W`` first, then ``b``.
    dtype : float64 or float32

    Notes
    -----
    Shapes: input ``(m, n_in)``, output ``(m, n_out)``; or ``(m, ..., n_in)`` to
    ``(m, ..., n_out)``, the layer applied along the last axis (at every step of a
    sequence, say).

    Attributes
    ----------
    W : ndarray ``(n_in, n_out)``
    b : ndarray ``(n_out,)``

    Examples
    --------
    >>> layer = Dense(3, 2, activation="tanh", seed=0)
    >>> layer.forward(np.ones((4, 3))).shape
    (4, 2)
    """

    param_names = ("W", "b")

    def __init__(self, n_in: int, n_out: int, *, activation: str = "identity",
                 init: str = "glorot", bias_init: str = "zeros", seed=None,
                 dtype=np.float64):
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Dense {name}: expected an integer >= 1, got {v!r}")
        if bias_init not in ("zeros", "normal"):
            raise ValueError(f"Dense bias_init: expected 'zeros' or 'normal', got {bias_init!r}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation = get_activation(activation)
        self.init, self.bias_init = init, bias_init
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        self.W = get_initializer(init)(rng, self.n_in, self.n_out, self.dtype)
        if bias_init == "normal":
            self.b = rng.standard_normal(self.n_out).astype(self.dtype)
        else:
            self.b = np.zeros(self.n_out, dtype=self.dtype)
        self.grads = [np.empty_like(self.W), np.empty_like(self.b)]
        self._linear = self.activation.name == "identity"  # skip f and f' (no-ops)
        self._a: np.ndarray | None = None

    def _allocated(self, input_shape) -> np.ndarray:
        self.allocate(input_shape)
        assert self._a is not None  # set by allocate
        return self._a

    def forward_macs(self, output_shape):
        return self.W.size * math.prod(output_shape[1:-1])  # once per position

    def allocate(self, input_shape):
        m, *rest = input_shape
        if len(rest) < 1 or rest[-1] != self.n_in:
            raise ValueError(f"Dense({self.n_in}, {self.n_out}): expected input shape "
                             f"(m, {self.n_in}) or (m, ..., {self.n_in}), got "
                             f"{tuple(input_shape)}")
        dt = self.dtype
        out = (m, *rest[:-1], self.n_out)
        self._a = np.empty(out, dtype=dt)       # a = f(z), in place of z
        self._work = np.empty(out, dtype=dt)    # scratch for f'
        self._dX = None  # made by the first backward that needs it (not the first layer's)
        return out

    def forward(self, X, training=False):
        m = len(X)
        a = self._a
        if a is None or m > len(a) or a.ndim != X.ndim or a.shape[1:-1] != X.shape[1:-1]:
            a = self._a = self._allocated(X.shape)
        a = a[:m]
        if X.ndim == 2:
            self._X = X  # kept for BP4; the layer below leaves it alone until the next forward
            np.matmul(X, self.W, out=a)
        else:  # rows: every position of the leading axes (a free reshape: X is C-contiguous)
            self._X = X.reshape(-1, self.n_in)
            np.matmul(self._X, self.W, out=a.reshape(-1, self.n_out))
        a += self.b
        return a if self._linear else self.activation.forward(a, a)

    def backward(self, dY, need_dX=True):
        m = len(dY)
        dz = dY if self._linear else self.activation.backward(self._a[:m], dY, self._work[:m])
        if dz.ndim != 2:
            dz = dz.reshape(-1, self.n_out)
        np.matmul(self._X.T, dz, out=self.grads[0])                     # BP4
        np.add.reduce(dz, axis=0, out=self.grads[1])                    # BP3
        if not need_dX:
            return None
        if self._dX is None:
            self._dX = np.empty((*self._a.shape[:-1], self.n_in), dtype=self.dtype)
        dX = self._dX[:m]
        np.matmul(dz, self.W.T, out=dX if dX.ndim == 2 else dX.reshape(-1, self.n_in))  # BP2
        return dX

    def get_config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "activation": self.activation.name,
                "init": self.init, "bias_init": self.bias_init,
                "dtype": np.dtype(self.dtype).name}


@register("layer", "Activation")
class Activation(Layer):
    """Element-wise activation ``a = f(z)`` as a layer of its own (no parameters), for
    stacks that keep the nonlinearity apart from the product (after ``Conv2D``, say).

    Parameters
    ----------
    name : str
        ``sigmoid``, ``tanh``, ``relu`` or ``identity``.
    dtype : float64 or float32

    Notes
    -----
    Shapes: any input shape; the output has the same shape.
    """

    def __init__(self, name: str, *, dtype=np.float64):
        self.activation = get_activation(name)
        if self.activation.name == "softmax":
            raise ValueError("Activation: softmax is an output activation; give it to the "
                             "model's output_activation with its loss")
        self.dtype = check_dtype(dtype)
        self.grads = []
        self._a: np.ndarray | None = None

    def allocate(self, input_shape):
        self._a = np.empty(input_shape, dtype=self.dtype)
        self._work = np.empty(input_shape, dtype=self.dtype)
        return tuple(input_shape)

    def forward(self, X, training=False):
        m = len(X)
        if self._a is None or m > len(self._a) or self._a.shape[1:] != X.shape[1:]:
            self.allocate(X.shape)
        return self.activation.forward(X, self._a[:m])

    def backward(self, dY, need_dX=True):
        m = len(dY)
        return self.activation.backward(self._a[:m], dY, self._work[:m])

    def get_config(self):
        return {"name": self.activation.name, "dtype": np.dtype(self.dtype).name}

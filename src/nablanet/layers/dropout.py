"""Inverted dropout (Srivastava et al. 2014; Nielsen ch. 3, "Dropout", and ch. 6).

In training, each input is kept with probability ``1 - rate`` and scaled by
``1 / (1 - rate)``, so that the expected output equals the input and inference needs no
rescaling (the book's ``network3`` scales the weights at inference instead; same model)::

    keep = u >= rate,  u ~ U[0, 1)        mask = keep / (1 - rate)
    y = x * mask                          dL/dx = dL/dy * mask

With ``training=False`` the layer is the identity.
"""

from __future__ import annotations

import numpy as np

from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["Dropout"]


@register("layer", "Dropout")
class Dropout(Layer):
    """Inverted dropout of a fraction ``rate`` of the inputs while training.

    Parameters
    ----------
    rate : float
        Probability of dropping an input, ``0 <= rate < 1``.
    seed : int or numpy.random.Generator, optional
        Source of the masks: one ``rng.random`` draw of the input's shape per training
        forward pass.
    dtype : float64 or float32

    Notes
    -----
    Shapes: any input shape; the output has the same shape.

    Attributes
    ----------
    rng : numpy.random.Generator
        The mask source (replace it to replay masks).
    mask : ndarray or None
        ``keep / (1 - rate)`` of the last training forward pass (a view of a work buffer).

    Raises
    ------
    ValueError
        If ``rate`` is not a number in ``[0, 1)``.
    """

    def __init__(self, rate: float, *, seed=None, dtype=np.float64):
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.dtype = check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.grads = []
        self.mask: np.ndarray | None = None
        self._Y: np.ndarray | None = None
        self._drawn: np.ndarray | None = None  # a replica's rows of its parent's draw

    def allocate(self, input_shape):
        self._u = np.empty(input_shape, dtype=self.dtype)
        self._mask = np.empty(input_shape, dtype=self.dtype)
        self._Y = np.empty(input_shape, dtype=self.dtype)
        return tuple(input_shape)

    def forward(self, X, training=False):
        if not training:
            self.mask = None
            return X
        m = len(X)
        if self._Y is None or m > len(self._Y) or self._Y.shape[1:] != X.shape[1:]:
            self.allocate(X.shape)
        u, mask = self._u[:m], self._mask[:m]
        if self._drawn is None:
            self.rng.random(out=u, dtype=self.dtype)
        else:
            u = self._drawn
        np.greater_equal(u, self.rate, out=mask)
        mask *= 1.0 / (1.0 - self.rate)
        self.mask = mask
        return np.multiply(X, mask, out=self._Y[:m])

    def share_draws(self, m, twins, parts):
        u = self._u[:m]  # the parent's buffers hold the whole mini-batch (fit allocates)
        self.rng.random(out=u, dtype=self.dtype)
        for twin, (a, b) in zip(twins, parts, strict=True):
            twin._drawn = u[a:b]

    def backward(self, dY, need_dX=True):
        if not need_dX:
            return None
        if self.mask is not None:
            dY *= self.mask
        return dY

    def get_config(self):
        return {"rate": self.rate, "dtype": np.dtype(self.dtype).name}

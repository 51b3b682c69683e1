"""Shape layers: ``Flatten`` turns image feature maps into the rows a ``Dense`` layer takes.
No arithmetic: the forward pass is a reshape and the backward pass its inverse."""

from __future__ import annotations

import numpy as np

from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["Flatten"]


@register("layer", "Flatten")
class Flatten(Layer):
    """Flatten every sample to one row, in C order: ``(m, C, H, W) -> (m, C*H*W)``
    (the order of ``torch.nn.Flatten``, so weights carry over).

    Parameters
    ----------
    dtype : float64 or float32

    Notes
    -----
    Shapes: input ``(m, d1, d2, ...)``; output ``(m, d1*d2*...)``. The output is a view of the
    input when the input is C-contiguous (every nablanet layer's output is), else a copy
    into a work buffer.
    """

    def __init__(self, *, dtype=np.float64):
        self.dtype = check_dtype(dtype)
        self.grads = []
        self._in_shape: tuple[int, ...] | None = None

    def allocate(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Flatten: expected input shape (m, ...), got "
                             f"{tuple(input_shape)}")
        self._in_shape = tuple(input_shape[1:])
        self._Y = np.empty((input_shape[0], int(np.prod(self._in_shape))), dtype=self.dtype)
        return self._Y.shape

    def forward(self, X, training=False):
        m = len(X)
        if self._in_shape is None or X.shape[1:] != self._in_shape or m > len(self._Y):
            self.allocate(X.shape)
        if X.flags.c_contiguous:
            return X.reshape(m, -1)
        Y = self._Y[:m]
        np.copyto(Y.reshape(X.shape), X)
        return Y

    def backward(self, dY, need_dX=True):
        if not need_dX:
            return None
        return dY.reshape(len(dY), *self._in_shape)

    def get_config(self):
        return {"dtype": np.dtype(self.dtype).name}

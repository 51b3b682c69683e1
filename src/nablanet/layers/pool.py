"""Max-pooling (Nielsen ch. 6, "max-pooling"): each output is the largest input of its
window, and the gradient flows back only to that input::

    y[n, c, i, j] = max_{p, q} x[n, c, i*sh + p, j*sw + q]                     (forward)
    dL/dx[n, c, i*sh + p*, j*sw + q*] += dL/dy[n, c, i, j]  for the arg-max (p*, q*)

Ties: the gradient goes to one element only, the first maximum in row-major window order
(``np.argmax``'s rule, and PyTorch's ``MaxPool2d`` on CPU). Rows and columns that no
window reaches (``H - ph`` not a multiple of ``sh``) get zero gradient, as PyTorch's
default ``ceil_mode=False``.

On the ``numba`` backend, 2x2 windows with stride 2 that tile the input are pooled by
compiled passes, one over the input and one over the gradient
(:mod:`nablanet.kernels.conv`; the same results), set in
:attr:`MaxPool2D.compiled_passes` by the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.layers.conv import pair
from nablanet.registry import register

__all__ = ["MaxPool2D"]


@register("layer", "MaxPool2D")
class MaxPool2D(Layer):
    """Max-pooling over ``(ph, pw)`` windows of ``(m, C, H, W)`` images.

    Parameters
    ----------
    pool_size : int or (int, int)
        ``(ph, pw)``.
    stride : int or (int, int), optional
        Default: ``pool_size`` (non-overlapping windows).
    dtype : float64 or float32

    Notes
    -----
    Shapes: input ``(m, C, H, W)``; output ``(m, C, Ho, Wo)``, ``Ho = (H - ph) // sh + 1`` and
    likewise ``Wo``.

    Raises
    ------
    ValueError
        For a bad size or stride (naming it); from :meth:`allocate` for an input that is
        not 4-D or smaller than a window.

    Examples
    --------
    >>> MaxPool2D(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    #: name of the compiled passes in :data:`nablanet.kernels.LAYER_PASSES`
    kernel: ClassVar[str] = "maxpool2d"

    def __init__(self, pool_size, stride=None, *, dtype=np.float64):
        self.pool_size = pair("MaxPool2D pool_size", pool_size)
        self.stride = self.pool_size if stride is None else pair("MaxPool2D stride", stride)
        self.dtype = check_dtype(dtype)
        self.grads = []
        self._Y: np.ndarray | None = None
        #: ``(forward, backward)``: compiled passes for 2x2 windows with stride 2 that
        #: tile the input (same results; :mod:`nablanet.kernels.conv`), or None; set by
        #: the model (``fit(backend=...)``)
        self.compiled_passes: tuple[Callable[..., Any], ...] | None = None

    def allocate(self, input_shape):
        (ph, pw), (sh, sw) = self.pool_size, self.stride
        if len(input_shape) != 4 or input_shape[2] < ph or input_shape[3] < pw:
            raise ValueError(f"MaxPool2D({ph}x{pw}): expected input shape (m, C, H, W) with "
                             f"H >= {ph} and W >= {pw}, got {tuple(input_shape)}")
        M, C, H, W = input_shape
        Ho, Wo = (H - ph) // sh + 1, (W - pw) // sw + 1
        self._in_shape = (C, H, W)
        self._tiled = (sh, sw) == (ph, pw) and (H, W) == (Ho * ph, Wo * pw)
        self._two = self._tiled and (ph, pw) == (2, 2)  # what the compiled passes cover
        # window offset (p, q) of every output: the rows p, p + sh, ... and likewise q
        self._slices = [(slice(p, p + sh * (Ho - 1) + 1, sh), slice(q, q + sw * (Wo - 1) + 1, sw))
                        for p in range(ph) for q in range(pw)]
        self._Y = np.empty((M, C, Ho, Wo), dtype=self.dtype)
        self._argmax = np.empty((M, C, Ho, Wo), dtype=np.uint8 if ph * pw < 256 else np.intp)
        self._code = np.empty_like(self._argmax)
        self._hit = np.empty((M, C, Ho, Wo), dtype=bool)
        self._work = np.empty((M, C, Ho, Wo), dtype=self.dtype)
        self._dX = np.empty((M, C, H, W), dtype=self.dtype)
        return (M, C, Ho, Wo)

    def forward(self, X, training=False):
        m = len(X)
        if self._Y is None or m > len(self._Y) or X.shape[1:] != self._in_shape:
            self.allocate(X.shape)
        Y, argmax, greater = self._Y[:m], self._argmax[:m], self._hit[:m]
        if self.compiled_passes is not None and self._two:
            self.compiled_passes[0](X, Y, argmax)
            return Y
        rows, cols = self._slices[0]
        np.copyto(Y, X[:, :, rows, cols])
        argmax.fill(0)
        code = self._code[:m]
        for k, (rows, cols) in enumerate(self._slices[1:], start=1):
            # branch-free (copyto(where=) on random masks runs twice as long): offsets
            # come in increasing order, so argmax = max(argmax, k * [x > Y]); strictly
            # greater, so the first maximum stays
            x = X[:, :, rows, cols]
            np.greater(x, Y, out=greater)
            np.maximum(Y, x, out=Y)
            np.multiply(greater, argmax.dtype.type(k), out=code)
            np.maximum(argmax, code, out=argmax)
        return Y

    def backward(self, dY, need_dX=True):
        if not need_dX:
            return None
        m = len(dY)
        argmax, hit, work, dX = self._argmax[:m], self._hit[:m], self._work[:m], self._dX[:m]
        if self.compiled_passes is not None and self._two:
            self.compiled_passes[1](dY, argmax, dX)
            return dX
        if self._tiled:  # the windows tile the input: every input gets exactly one write
            for k, (rows, cols) in enumerate(self._slices):
                np.equal(argmax, k, out=hit)
                np.multiply(dY, hit, out=dX[:, :, rows, cols])
            return dX
        dX.fill(0.0)
        for k, (rows, cols) in enumerate(self._slices):
            np.equal(argmax, k, out=hit)
            np.multiply(dY, hit, out=work)
            dX[:, :, rows, cols] += work  # overlapping windows add up
        return dX

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "dtype": np.dtype(self.dtype).name}

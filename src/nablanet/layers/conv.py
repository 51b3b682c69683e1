"""2-D convolution by im2col: the work is two or three matrix products written out here.

For a mini-batch ``X`` of shape ``(m, C, H, W)``, ``F`` filters ``W`` of shape
``(F, C, kh, kw)``, stride ``(sh, sw)`` and zero padding, the layer computes (a
cross-correlation, as PyTorch's ``Conv2d`` and Nielsen ch. 6 do)::

    z[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * Xp[n, c, i*sh + p, j*sw + q]
    a = g(z)                                                       (forward)

``im2col`` copies every receptive field into a column: ``cols[(c, p, q), (i, j, n)] =
Xp[n, c, i*sh + p, j*sw + q]``, ``K = C*kh*kw`` rows and ``Ho*Wo*m`` columns, so that with
``W2 = W.reshape(F, K)`` the whole forward pass is one product and the backward pass two
(the equations of Nielsen ch. 2 with the shared weights summed over positions)::

    z2 = W2 @ cols + b                 (F, Ho*Wo*m)
    dz2 = dL/da * g'(z)                (BP1/BP2, the g' part)
    dL/dW2 = dz2 @ cols.T              (BP4, summed over samples and positions)
    dL/db = sum over columns of dz2    (BP3)
    dcols = W2.T @ dz2                 (BP2, the W part)

and ``col2im`` adds each column of ``dcols`` back onto the input pixels it was copied
from, giving ``dL/dX``. The columns keep the sample index innermost, ``(i, j, n)``: the
input is first copied to ``(C, Hp, Wp, m)``, so that im2col copies, and col2im adds, each
kernel offset's slab in runs of ``Wo*m`` contiguous numbers rather than ``Wo`` (3-4x
faster for a second layer's 8x8 outputs); ``z`` is then ``(F, Ho, Wo, m)`` and is
transposed to the ``(m, F, Ho, Wo)`` handed to the next layer (and ``dL/da`` back).
On the ``numba`` backend those passes -- bias, activation (identity or relu) and
transposition; the transposition back with ``g'``; col2im -- run compiled
(:mod:`nablanet.kernels.conv`, set in :attr:`Conv2D.compiled_passes` by the model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nablanet.activations import get_activation
from nablanet.init import check_dtype, get_initializer
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["Conv2D", "pair"]


def pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each >= ``minimum``) as ``(rows, cols)``.

    Raises
    ------
    ValueError
        Naming ``name``, for anything else.
    """
    items = tuple(value) if isinstance(value, list | tuple) else (value, value)
    if len(items) != 2 or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= minimum
            for v in items):
        raise ValueError(f"{name}: expected an integer >= {minimum} or a pair of them, "
                         f"got {value!r}")
    return int(items[0]), int(items[1])


@register("layer", "Conv2D")
class Conv2D(Layer):
    """2-D convolution ``a = g(W * X + b)`` over ``(m, C, H, W)`` images.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C`` and the number of filters ``F``.
    kernel_size : int or (int, int)
        ``(kh, kw)``.
    stride : int or (int, int), default 1
    padding : ``"valid"``, ``"same"``, int or (int, int), default ``"valid"``
        Zeros added around the image: ``"valid"`` none; an int ``p`` adds ``p`` rows
        above and below (and columns left and right); ``"same"`` (stride 1 only) keeps
        ``H`` and ``W``, padding ``(k - 1) // 2`` before and the rest after, as PyTorch.
    activation : str, default ``"relu"``
        ``g``, applied in place (see :mod:`nablanet.activations`; not softmax).
    init : str, default ``"he"``
        Initialiser of ``W``, drawn as a ``(K, F)`` matrix with fan-in ``K = C*kh*kw``
        (see :mod:`nablanet.init`) and stored transposed as ``(F, C, kh, kw)``.
    seed : int or numpy.random.Generator, optional
        Source of the initial draws (``b`` starts at zero).
    dtype : float64 or float32

    Notes
    -----
    Shapes: input ``(m, C, H, W)``; output ``(m, F, Ho, Wo)`` with
    ``Ho = (H + pad_top + pad_bottom - kh) // sh + 1`` and likewise ``Wo``.

    Attributes
    ----------
    W : ndarray ``(F, C, kh, kw)``, the layout of ``torch.nn.Conv2d.weight``
    b : ndarray ``(F,)``

    Raises
    ------
    ValueError
        For a bad size, stride, padding or activation (naming it), and from
        :meth:`allocate` for an input of the wrong shape or smaller than the kernel.

    Examples
    --------
    >>> layer = Conv2D(1, 4, 3, padding="same", seed=0)
    >>> layer.forward(np.zeros((2, 1, 8, 8))).shape
    (2, 4, 8, 8)
    """

    param_names = ("W", "b")
    #: name of the compiled passes in :data:`nablanet.kernels.LAYER_PASSES`
    kernel: ClassVar[str] = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1,
                 padding="valid", activation: str = "relu", init: str = "he", seed=None,
                 dtype=np.float64):
        self.in_channels = pair("Conv2D in_channels", in_channels)[0]
        self.out_channels = pair("Conv2D out_channels", out_channels)[0]
        self.kernel_size = pair("Conv2D kernel_size", kernel_size)
        self.stride = pair("Conv2D stride", stride)
        self.padding = padding
        self._pads = self._pad_amounts(padding)
        self.activation = get_activation(activation)
        if self.activation.name == "softmax":
            raise ValueError("Conv2D activation: softmax is an output activation; give it "
                             "to the model's output_activation")
        self.init = init
        self.dtype = check_dtype(dtype)
        kh, kw = self.kernel_size
        C, F = self.in_channels, self.out_channels
        rng = np.random.default_rng(seed)
        W = get_initializer(init)(rng, C * kh * kw, F, self.dtype)
        self.W = np.ascontiguousarray(W.T).reshape(F, C, kh, kw)
        self.b = np.zeros(F, dtype=self.dtype)
        self.grads = [np.empty_like(self.W), np.empty_like(self.b)]
        self._Y: np.ndarray | None = None
        #: ``(output, delta, col2im)``: the compiled passes replacing the NumPy ones
        #: marked below (same results; :mod:`nablanet.kernels.conv`), or None; set by the
        #: model (``fit(backend=...)``). Used for identity and relu activations.
        self.compiled_passes: tuple[Callable[..., Any], ...] | None = None

    def _pad_amounts(self, padding) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zeros for ``padding``."""
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if self.stride != (1, 1):
                raise ValueError(f"Conv2D padding: 'same' needs stride 1, got stride "
                                 f"{self.stride}")
            (kh, kw) = self.kernel_size
            return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
        if isinstance(padding, str):
            raise ValueError(f"Conv2D padding: expected 'valid', 'same' or an integer "
                             f">= 0, got {padding!r}")
        ph, pw = pair("Conv2D padding", padding, minimum=0)
        return ph, ph, pw, pw

    def forward_macs(self, output_shape):
        return self.W.size * math.prod(output_shape[2:])  # once per output position

    def allocate(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(f"Conv2D({self.in_channels}, {self.out_channels}): expected "
                             f"input shape (m, {self.in_channels}, H, W), got "
                             f"{tuple(input_shape)}")
        M, C, H, W = input_shape
        top, bottom, left, right = self._pads
        Hp, Wp = H + top + bottom, W + left + right
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if Hp < kh or Wp < kw:
            raise ValueError(f"Conv2D: input {H}x{W} (padded {Hp}x{Wp}) is smaller than "
                             f"the {kh}x{kw} kernel")
        Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
        F, K, dt = self.out_channels, C * kh * kw, self.dtype
        self._in_shape, self._K = (C, H, W), K
        self._out_hw = (Ho, Wo)
        self._XpT_shape = (C, Hp, Wp)
        self._XpT = np.empty(C * Hp * Wp * M, dtype=dt)      # padded input, samples last
        self._im2col: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._zeroed_for = 0                                 # the m the border is zero for
        self._cols = np.empty(K * M * Ho * Wo, dtype=dt)    # (K, Ho*Wo*m), flat
        self._z = np.empty(F * M * Ho * Wo, dtype=dt)       # a = g(z), (F, Ho*Wo*m)
        self._dz = np.empty_like(self._z)
        self._work = np.empty_like(self._z)                 # scratch for g'
        self._Y = np.empty((M, F, Ho, Wo), dtype=dt)
        self._dXpT = np.empty_like(self._XpT)               # col2im target, samples last
        self._acc = np.empty(H * W * M, dtype=dt)          # compiled col2im's scratch
        self._dX = np.empty((M, C, H, W), dtype=dt)
        return (M, F, Ho, Wo)

    def _views(self, m: int):
        """The flat buffers as ``(rows, m*Ho*Wo)`` matrices for a batch of ``m``."""
        n, K, F = m * self._out_hw[0] * self._out_hw[1], self._K, self.out_channels
        return (self._cols[:K * n].reshape(K, n), self._z[:F * n].reshape(F, n),
                self._dz[:F * n].reshape(F, n), self._work[:F * n].reshape(F, n))

    def forward(self, X, training=False):
        m = len(X)
        if self._Y is None or m > len(self._Y) or X.shape[1:] != self._in_shape:
            self.allocate(X.shape)
        Ho, Wo = self._out_hw
        F, P = self.out_channels, Ho * Wo
        cols, z, _, _ = self._views(m)
        inner, fields, cols6 = self._im2col_views(m)
        np.copyto(inner, X.transpose(1, 2, 3, 0))
        np.copyto(cols6, fields)  # im2col: one copy from a strided view of every field
        np.matmul(self.W.reshape(F, -1), cols, out=z)
        Y = self._Y[:m]
        passes, relu = self.compiled_passes, self.activation.name == "relu"
        if passes is not None and (relu or self.activation.name == "identity"):
            passes[0](z.reshape(F, P, m), self.b, relu, Y.reshape(m, F, P))
            return Y
        z += self.b[:, None]
        self.activation.forward(z, z)
        np.copyto(Y.reshape(m, F * P), z.reshape(F * P, m).T)
        return Y

    def _im2col_views(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a batch of ``m``: the unpadded interior of the padded input buffer ``(C, H,
        W, m)`` (samples last), the strided view of its receptive fields ``(C, kh, kw,
        Ho, Wo, m)`` and the columns as that shape (made once per ``m``); the buffer's
        border is zeroed when ``m`` changes (the view's layout does)."""
        views = self._im2col.get(m)
        if views is None:
            (C, H, W), (Ho, Wo) = self._in_shape, self._out_hw
            (kh, kw), (sh, sw) = self.kernel_size, self.stride
            C, Hp, Wp = self._XpT_shape
            XpT = self._XpT[:C * Hp * Wp * m].reshape(C, Hp, Wp, m)
            top, _, left, _ = self._pads
            t = XpT.strides
            fields = as_strided(XpT, shape=(C, kh, kw, Ho, Wo, m),
                                strides=(t[0], t[1], t[2], t[1] * sh, t[2] * sw, t[3]),
                                writeable=False)
            cols6 = self._cols[:self._K * Ho * Wo * m].reshape(C, kh, kw, Ho, Wo, m)
            views = self._im2col[m] = (XpT, XpT[:, top:top + H, left:left + W], fields,
                                       cols6)
        if self._zeroed_for != m:
            if self._pads != (0, 0, 0, 0):
                views[0].fill(0.0)
            self._zeroed_for = m
        return views[1], views[2], views[3]

    def backward(self, dY, need_dX=True):
        m = len(dY)
        (C, H, W), (Ho, Wo) = self._in_shape, self._out_hw
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        F, P = self.out_channels, Ho * Wo
        cols, z, dz, work = self._views(m)
        passes, relu = self.compiled_passes, self.activation.name == "relu"
        if passes is not None and (relu or self.activation.name == "identity"):
            passes[1](z.reshape(F, P, m), dY.reshape(m, F, P), relu, dz.reshape(F, P, m))
        else:
            np.copyto(dz.reshape(F * P, m), dY.reshape(m, F * P).T)
            self.activation.backward(z, dz, work)                        # dz = dY * g'(z)
        np.matmul(dz, cols.T, out=self.grads[0].reshape(F, -1))         # BP4
        np.add.reduce(dz, axis=1, out=self.grads[1])                     # BP3
        if not need_dX:
            return None
        dcols = np.matmul(self.W.reshape(F, -1).T, dz, out=cols)         # BP2 (cols reused)
        dcols = dcols.reshape(C, kh, kw, Ho, Wo, m)
        top, _, left, _ = self._pads
        dX = self._dX[:m]
        if passes is not None:
            passes[2](dcols, sh, sw, top, left, self._acc[:H * W * m].reshape(H, W, m), dX)
            return dX
        C, Hp, Wp = self._XpT_shape
        dXpT = self._dXpT[:C * Hp * Wp * m].reshape(C, Hp, Wp, m)
        dXpT.fill(0.0)
        for p in range(kh):  # col2im: each kernel offset adds its slab back onto the pixels
            for q in range(kw):
                dXpT[:, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw] += dcols[:, p, q]
        np.copyto(dX, dXpT[:, top:top + H, left:left + W].transpose(3, 0, 1, 2))
        return dX

    def get_config(self):
        padding = self.padding if isinstance(self.padding, str | int) else list(self.padding)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": padding, "activation": self.activation.name, "init": self.init,
                "dtype": np.dtype(self.dtype).name}

"""The compiled passes of the convolutional layers: :class:`nablanet.layers.conv.Conv2D`'s
around its matrix products, and :class:`nablanet.layers.pool.MaxPool2D`'s for 2x2 windows.

Conv2D
the layer keeps its columns with the sample index innermost, ``(K, Ho*Wo*m)``, so that
im2col copies runs of ``Wo*m`` numbers; what that order costs is the transposition of
``z`` to the ``(m, F, Ho, Wo)`` output and back, and col2im's scatter-add. NumPy does each
as several strided passes; here each is one pass, in the same operation order as the
layer's NumPy path (tests check 1e-12 in float64; relu and identity give equal bits):

- :func:`conv_output`: ``z += b``, ``z = g(z)`` (identity or relu), ``Y = z`` transposed;
- :func:`conv_delta`: ``dz = dY`` transposed, ``dz *= g'(z)``;
- :func:`col2im`: ``dL/dX`` from the columns' gradients, each input pixel gathered from
  the kernel offsets that read it (in offset order, as the NumPy scatter adds them) and
  written once, in ``(m, C, H, W)`` order;
- :func:`pool2_forward`, :func:`pool2_backward`: max-pooling over 2x2 windows with
  stride 2 tiling the input, one pass each (NumPy makes four strided passes, several
  operations each); the arg-max rule, NaN propagation and the gradient products are
  NumPy's, so the results are equal.
"""

from __future__ import annotations

import numpy as np

from nablanet.kernels.scalar import JIT_OPTIONS

#: the transpositions run over tiles of BLOCK_P positions x BLOCK_M samples: the rows of
#: ``(m, F, P)`` lie F*P numbers apart, often a multiple of 2 KiB, so that whole columns
#: of samples would fall into the same few L1 sets (with 16 x m tiles the delta pass at
#: batch 64 ran 3x slower)
BLOCK_P, BLOCK_M = 32, 8


def conv_output(z, b, relu, Y):
    """``z (F, P, m) += b (F,)``, then ``max(z, 0)`` if ``relu``, in place; ``Y (m, F, P)``
    receives ``z`` transposed (``P = Ho*Wo``)."""
    F, P, m = z.shape
    for f in range(F):
        bf = b[f]
        zf = z[f]
        for k in range(P):
            for n in range(m):
                v = zf[k, n] + bf
                zf[k, n] = max(v, 0.0) if relu else v
        for k0 in range(0, P, BLOCK_P):
            k1 = min(k0 + BLOCK_P, P)
            for n0 in range(0, m, BLOCK_M):
                for n in range(n0, min(n0 + BLOCK_M, m)):
                    for k in range(k0, k1):
                        Y[n, f, k] = zf[k, n]


def conv_delta(a, dY, relu, dz):
    """``dz (F, P, m)`` = ``dY (m, F, P)`` transposed, times ``g'(z)`` written through the
    output ``a = g(z) (F, P, m)``: zero where ``a <= 0`` if ``relu`` (else identity)."""
    F, P, m = a.shape
    for f in range(F):
        df = dz[f]
        for k0 in range(0, P, BLOCK_P):
            k1 = min(k0 + BLOCK_P, P)
            for n0 in range(0, m, BLOCK_M):
                for n in range(n0, min(n0 + BLOCK_M, m)):
                    for k in range(k0, k1):
                        df[k, n] = dY[n, f, k]
        if relu:
            af = a[f]
            for k in range(P):
                for n in range(m):
                    df[k, n] = df[k, n] if af[k, n] > 0.0 else 0.0


def col2im(dcols, sh, sw, top, left, acc, dX):
    """``dX (m, C, H, W)`` from ``dcols (C, kh, kw, Ho, Wo, m)``: the column of kernel
    offset ``(p, q)`` at output ``(i, j)`` adds onto input pixel ``(i*sh + p - top,
    j*sw + q - left)`` (padding pixels dropped); ``acc (H, W, m)`` is one channel's
    scratch."""
    C, kh, kw, Ho, Wo, m = dcols.shape
    H, W = dX.shape[2], dX.shape[3]
    for c in range(C):
        acc[...] = 0.0
        for p in range(kh):
            for q in range(kw):
                for i in range(Ho):
                    r = i * sh + p - top
                    if r < 0 or r >= H:
                        continue
                    for j in range(Wo):
                        s = j * sw + q - left
                        if s < 0 or s >= W:
                            continue
                        dst, src = acc[r, s], dcols[c, p, q, i, j]
                        for n in range(m):
                            dst[n] += src[n]
        for r in range(H):
            for n in range(m):
                for s in range(W):
                    dX[n, c, r, s] = acc[r, s, n]


def pool2_forward(X, Y, arg):
    """``Y (m, C, Ho, Wo)``: the maximum of each 2x2 window of ``X (m, C, 2*Ho, 2*Wo)``;
    ``arg``: its offset ``2*p + q`` in the window, the first maximum in row-major order;
    a NaN in a window makes its maximum NaN (as ``np.maximum``)."""
    m, C, Ho, Wo = Y.shape
    for n in range(m):
        for c in range(C):
            for i in range(Ho):
                x0, x1 = X[n, c, 2 * i], X[n, c, 2 * i + 1]
                y, g = Y[n, c, i], arg[n, c, i]
                for j in range(Wo):  # written out, branches on NaN outside: 4-8x faster
                    a, b, c2, d = x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]
                    best, k = a, 0
                    if b > best:
                        best, k = b, 1
                    if c2 > best:
                        best, k = c2, 2
                    if d > best:
                        best, k = d, 3
                    if (b != b) | (c2 != c2) | (d != d):  # NaN wins, as in np.maximum
                        best = np.nan
                    y[j], g[j] = best, k


def pool2_backward(dY, arg, dX):
    """``dX (m, C, 2*Ho, 2*Wo)``: each window's ``dY (m, C, Ho, Wo)`` at its arg-max
    offset ``arg``, times 0 at the other three (every input written once)."""
    m, C, Ho, Wo = dY.shape
    for n in range(m):
        for c in range(C):
            for i in range(Ho):
                x0, x1 = dX[n, c, 2 * i], dX[n, c, 2 * i + 1]
                d, g = dY[n, c, i], arg[n, c, i]
                for j in range(Wo):
                    x0[2 * j] = d[j] * (g[j] == 0)
                    x0[2 * j + 1] = d[j] * (g[j] == 1)
                for j in range(Wo):
                    x1[2 * j] = d[j] * (g[j] == 2)
                    x1[2 * j + 1] = d[j] * (g[j] == 3)


def jit() -> None:
    """Replace this module's kernels by their Numba-compiled forms (once, by
    :func:`nablanet.kernels.kernel_table`)."""
    global conv_output, conv_delta, col2im, pool2_forward, pool2_backward
    import numba

    kernel = numba.njit(**JIT_OPTIONS)
    conv_output, conv_delta, col2im = kernel(conv_output), kernel(conv_delta), kernel(col2im)
    pool2_forward, pool2_backward = kernel(pool2_forward), kernel(pool2_backward)


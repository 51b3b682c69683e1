"""The compiled feedforward kernel: :func:`mlp_sgd_epoch` trains a
:class:`nablanet.models.Network` of any depth with plain SGD, many mini-batches per call,
in the operation order of the NumPy path (matrix products through BLAS, ``np.dot``
inside Numba; elementwise work in loops)."""

from __future__ import annotations

import numpy as np

from nablanet.kernels import scalar
from nablanet.kernels.scalar import JIT_OPTIONS


# --------------------------------------------------------------------------------------
# Feedforward network: one SGD step per mini-batch, many mini-batches per call
# --------------------------------------------------------------------------------------
def mlp_sgd_epoch(X, T, order, weights, biases, acts, delta_mode, lr, xb, tb, A, D, gW, gb):
    """Plain-SGD training on the mini-batches ``order[k*m:(k+1)*m]``, ``m = len(xb)``
    (``len(order)`` must be a multiple of ``m``). Arguments: data ``X (n, n_in)``,
    targets ``T (n, n_out)``; typed lists of the layers' ``weights (n_l-1, n_l)``,
    ``biases (n_l,)``, activation codes ``acts``, and work buffers ``A``/``D`` (m, n_l),
    ``gW``, ``gb``; the parameters are updated in place."""
    L = len(weights)
    m = xb.shape[0]
    inv_m = 1.0 / m
    for start in range(0, order.shape[0], m):
        for r in range(m):  # gather the mini-batch
            src = order[start + r]
            xb[r, :] = X[src]
            tb[r, :] = T[src]
        prev = xb
        for layer in range(L):  # forward: a = f(prev @ W + b)
            a = A[layer]
            np.dot(prev, weights[layer], a)
            b = biases[layer]
            if layer == L - 1:
                break
            for r in range(m):
                for j in range(a.shape[1]):
                    a[r, j] += b[j]
                scalar.act_row(acts[layer], a, r)
            prev = a
        a, d, b = A[L - 1], D[L - 1], biases[L - 1]  # output layer and BP1
        for r in range(m):
            for j in range(a.shape[1]):
                a[r, j] += b[j]
            scalar.output_row(acts[L - 1], delta_mode, a, r, tb, r, d, inv_m)
        for layer in range(L - 1, -1, -1):  # BP2-BP4
            d = D[layer]
            prev = xb if layer == 0 else A[layer - 1]
            np.dot(prev.T, d, gW[layer])
            g = gb[layer]
            g[:] = 0.0
            for r in range(m):
                for j in range(d.shape[1]):
                    g[j] += d[r, j]
            if layer:
                below = D[layer - 1]
                np.dot(d, weights[layer].T, below)
                for r in range(m):
                    scalar.act_grad_row(acts[layer - 1], prev, r, below, r)
        for layer in range(L):  # plain SGD: w <- w - lr g
            W, G = weights[layer], gW[layer]
            for i in range(W.shape[0]):
                for j in range(W.shape[1]):
                    W[i, j] -= G[i, j] * lr
            b, g = biases[layer], gb[layer]
            for j in range(b.shape[0]):
                b[j] -= g[j] * lr


def jit() -> None:
    """Replace :func:`mlp_sgd_epoch` by its Numba-compiled form (once, by
    :func:`nablanet.kernels.kernel_table`, after :func:`nablanet.kernels.scalar.jit`)."""
    global mlp_sgd_epoch
    import numba

    mlp_sgd_epoch = numba.njit(**JIT_OPTIONS)(mlp_sgd_epoch)

"""Compiled training kernels (Numba) for the small-batch regime.

At a mini-batch of 10 images or of one sequence, NumPy's cost is not arithmetic but
dispatch: every array operation costs about a microsecond of Python and ufunc set-up,
and a training step is dozens of them. These kernels run *many mini-batches per call*
in compiled code: gather, forward pass, backward pass and the plain SGD update, fused,
with the same equations and the same operation order as the NumPy reference path
(:class:`nablanet.models.Network`, :class:`nablanet.layers.recurrent.RNNLayer`), so
that both give the same weights to rounding (tests check 1e-12 in float64).

- :func:`mlp_sgd_epoch`: feedforward network, any depth; matrix products through BLAS
  (``np.dot`` inside Numba), elementwise work in loops.
- :func:`rnn_sgd_epoch`: one-layer vanilla RNN with a dense output at every step or at
  the last valid step; everything in plain loops (the matrices are too small for BLAS).

Both are optional: Numba is the ``fast`` extra (``pip install 'nablanet[fast]'``).
``AVAILABLE`` says whether it imported. Kernels compile on first use (a few seconds)
and are cached on disk (``cache=True``), so later processes load them in milliseconds.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from collections.abc import Callable

import numpy as np

__all__ = [
    "ACT_CODES",
    "AVAILABLE",
    "BACKENDS",
    "DELTA_COMBINED",
    "DELTA_QUADRATIC",
    "kernel_table",
    "run",
    "use_numba",
]

log = logging.getLogger(__name__)

#: whether Numba is installed (imported, and the kernels compiled, only when first used)
AVAILABLE = importlib.util.find_spec("numba") is not None

#: activation name -> code used inside the kernels
ACT_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "softmax": 4}
#: output-layer error: (a - y) * f'(z) (quadratic cost) or a - y (cross-entropies)
DELTA_QUADRATIC, DELTA_COMBINED = 0, 1

_reported: set[str] = set()
_TABLE: dict[str, Callable] = {}  # filled by kernel_table()

BACKENDS = ("auto", "numpy", "numba")


def use_numba(backend: str, unsupported: str | None, batch_size: int, auto_max_batch: int) -> bool:
    """Decide whether a ``fit`` runs the compiled kernels.

    ``backend="numpy"`` never, ``"numba"`` always (or an error saying why it cannot),
    ``"auto"`` when Numba is installed, the model is supported and the mini-batch is at
    most ``auto_max_batch`` (above it, BLAS on whole batches wins: see the benchmarks).

    Raises
    ------
    ValueError
        For an unknown backend, or ``"numba"`` for a configuration the kernels do not
        cover (``unsupported`` says which).
    ImportError
        For ``"numba"`` without Numba installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "numpy":
        return False
    if backend == "numba":
        if not AVAILABLE:
            raise ImportError("backend 'numba' needs Numba: pip install 'nablanet[fast]'")
        if unsupported:
            raise ValueError(f"backend 'numba' does not cover this model: {unsupported}; "
                             "use backend 'numpy' or 'auto'")
        return True
    return AVAILABLE and unsupported is None and batch_size <= auto_max_batch


def plain_sgd_unsupported(optimizer) -> str | None:
    """Why the kernels (plain SGD only) cannot run ``optimizer``, or None."""
    from nablanet.optimizers import SGD

    if type(optimizer) is not SGD or optimizer.momentum or optimizer.weight_decay \
            or optimizer.clip_norm is not None:
        return f"the kernels do plain SGD only, not {optimizer!r}"
    return None


def delta_mode(loss, output_activation) -> int | None:
    """Kernel code of the output-layer error, or None if not covered."""
    if loss.name == "quadratic" and output_activation.name != "softmax":
        return DELTA_QUADRATIC
    if loss.name in ("binary_cross_entropy", "cross_entropy"):
        return DELTA_COMBINED
    return None


def kernel_table() -> dict[str, Callable]:
    """The one explicit table of the kernels :func:`run` can call, by name, compiled:
    ``mlp_sgd_epoch`` serves :class:`nablanet.models.Network` (plain SGD, any depth),
    ``rnn_sgd_epoch`` serves :class:`nablanet.models.RNN` (one vanilla layer, plain SGD).
    The first call imports Numba and wraps the kernels (each compiles, or loads from the
    disk cache, on its first call). A new kernel is one entry here and its line in
    :func:`_jit_all`.

    Raises
    ------
    ImportError
        Without Numba.
    """
    if not _TABLE:
        _jit_all()
        _TABLE.update(mlp_sgd_epoch=mlp_sgd_epoch, rnn_sgd_epoch=rnn_sgd_epoch)
    return _TABLE


def run(name: str, *args):
    """Call the kernel ``name`` of :func:`kernel_table`. The first call of a kernel in a
    process compiles it, or loads it from the disk cache; that time is logged once.

    Raises
    ------
    ValueError
        For a name that is not in the table (the message lists the names).
    """
    table = _TABLE or kernel_table()
    kernel = table.get(name)
    if kernel is None:
        raise ValueError(f"kernel: expected one of {sorted(table)}, got {name!r}")
    if name in _reported:
        return kernel(*args)
    start = time.perf_counter()
    out = kernel(*args)
    _reported.add(name)
    log.info("numba: %s ready in %.2f s (compiled, or loaded from the disk cache)", name,
             time.perf_counter() - start)
    return out


# --------------------------------------------------------------------------------------
# Scalar forms of the activations (the formulas of nablanet.activations)
# --------------------------------------------------------------------------------------
def _tanh(z):
    """tanh(z) = sign(z) (1 - e) / (1 + e) with e = exp(-2|z|): four times faster than
    the C library's scalar tanh, which otherwise dominates the small-batch kernels, and
    within 3e-16 of NumPy's tanh in absolute terms (the relative error grows for
    |z| < 1e-5, where tanh(z) ~ z is tiny, up to ~1e-11)."""
    e = math.exp(-2.0 * abs(z))
    r = (1.0 - e) / (1.0 + e)
    return r if z >= 0.0 else -r


def _act(code, z):
    if code == 1:
        return _tanh(z * 0.5) * 0.5 + 0.5
    if code == 2:
        return _tanh(z)
    if code == 3:
        return max(z, 0.0)
    return z


def _act_grad(code, a):
    """f'(z) written through the output a = f(z)."""
    if code == 1:
        return (1.0 - a) * a
    if code == 2:
        return 1.0 - a * a
    if code == 3:
        return 1.0 if a > 0.0 else 0.0
    return 1.0


def _output_row(code, delta_mode, z, y, out_a, out_d, scale):
    """Output activations ``out_a = g(z)`` of one row and its error ``out_d``
    (``(a - y) g'(z)`` or ``a - y``), times ``scale``."""
    n = z.shape[0]
    if code == 4:  # softmax
        zmax = z[0]
        for j in range(1, n):
            zmax = max(zmax, z[j])
        total = 0.0
        for j in range(n):
            out_a[j] = math.exp(z[j] - zmax)
            total += out_a[j]
        for j in range(n):
            out_a[j] /= total
    else:
        for j in range(n):
            out_a[j] = _act(code, z[j])
    for j in range(n):
        d = out_a[j] - y[j]
        if delta_mode == 0:  # DELTA_QUADRATIC
            d *= _act_grad(code, out_a[j])
        out_d[j] = d * scale


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
            code = acts[layer]
            for r in range(m):
                for j in range(a.shape[1]):
                    a[r, j] = _act(code, a[r, j] + b[j])
            prev = a
        a, d, b = A[L - 1], D[L - 1], biases[L - 1]  # output layer and BP1
        for r in range(m):
            for j in range(a.shape[1]):
                a[r, j] += b[j]
            _output_row(acts[L - 1], delta_mode, a[r], tb[r], a[r], d[r], inv_m)
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
                code = acts[layer - 1]
                for r in range(m):
                    for j in range(below.shape[1]):
                        below[r, j] *= _act_grad(code, prev[r, j])
        for layer in range(L):  # plain SGD: w <- w - lr g
            W, G = weights[layer], gW[layer]
            for i in range(W.shape[0]):
                for j in range(W.shape[1]):
                    W[i, j] -= G[i, j] * lr
            b, g = biases[layer], gb[layer]
            for j in range(b.shape[0]):
                b[j] -= g[j] * lr


# --------------------------------------------------------------------------------------
# Vanilla RNN: per sequence forward and BPTT, one SGD step per mini-batch of sequences
# --------------------------------------------------------------------------------------
def rnn_sgd_epoch(X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y, act,
                  out_act, delta_mode, lr, Hs, Z, dY, gW_x, gW_h, gb, gW_y, gb_y, da, carry):
    """Plain-SGD training of a one-layer RNN (:class:`nablanet.rnn.RNNCell`) over the
    mini-batches of ``batch_size`` sequences of ``order``. Batch-major ``X (n, T, F)``
    inputs (each sequence one contiguous block: the order is random), targets ``Y
    (n, T, L)`` (``last`` False) or ``(n, 1, L)`` (``last`` True), ``lengths (n,)``; work
    buffers ``Hs (T+1, H)``, ``Z``/``dY (T, L)``, ``da``/``carry (H,)`` and the gradient
    arrays; the parameters are updated in place."""
    F, H = W_x.shape
    n_out = W_y.shape[1]
    n = order.shape[0]
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        inv_m = 1.0 / m
        gW_x[:] = 0.0
        gW_h[:] = 0.0
        gb[:] = 0.0
        gW_y[:] = 0.0
        gb_y[:] = 0.0
        for s_i in range(start, start + m):
            s = order[s_i]
            T = lengths[s]
            Hs[0, :] = 0.0
            for t in range(T):  # forward: h_t = f((h_{t-1} W_h) + (x_t W_x + b))
                u, v = da, carry  # free during the forward pass: the two partial sums
                u[:] = 0.0
                for i in range(F):  # row-times-matrix with the contiguous index inside
                    x = X[s, t, i]
                    for j in range(H):
                        u[j] += x * W_x[i, j]
                for j in range(H):
                    u[j] += b[j]
                v[:] = 0.0
                if t:  # h_0 = 0
                    for k in range(H):
                        h = Hs[t, k]
                        for j in range(H):
                            v[j] += h * W_h[k, j]
                for j in range(H):
                    Hs[t + 1, j] = _act(act, v[j] + u[j])
            for t in range(T):  # outputs and their errors, scaled by 1/m
                if last and t < T - 1:
                    continue
                for j in range(n_out):
                    z = 0.0
                    for k in range(H):
                        z += Hs[t + 1, k] * W_y[k, j]
                    Z[t, j] = z + b_y[j]
                y = Y[s, 0] if last else Y[s, t]
                _output_row(out_act, delta_mode, Z[t], y, Z[t], dY[t], inv_m)
            carry[:] = 0.0
            for t in range(T - 1, -1, -1):  # BPTT
                has_out = not last or t == T - 1
                for k in range(H):
                    d = 0.0
                    if has_out:
                        for j in range(n_out):
                            d += dY[t, j] * W_y[k, j]
                    da[k] = (d + carry[k]) * _act_grad(act, Hs[t + 1, k])
                if has_out:
                    for k in range(H):
                        for j in range(n_out):
                            gW_y[k, j] += Hs[t + 1, k] * dY[t, j]
                    for j in range(n_out):
                        gb_y[j] += dY[t, j]
                for i in range(F):
                    x = X[s, t, i]
                    for j in range(H):
                        gW_x[i, j] += x * da[j]
                for k in range(H):
                    h = Hs[t, k]
                    c = 0.0
                    for j in range(H):
                        gW_h[k, j] += h * da[j]
                        c += da[j] * W_h[k, j]
                    carry[k] = c
                for j in range(H):
                    gb[j] += da[j]
        for P, G in ((W_x, gW_x), (W_h, gW_h), (W_y, gW_y)):  # plain SGD
            for i in range(P.shape[0]):
                for j in range(P.shape[1]):
                    P[i, j] -= G[i, j] * lr
        for p, g in ((b, gb), (b_y, gb_y)):
            for j in range(p.shape[0]):
                p[j] -= g[j] * lr


# --------------------------------------------------------------------------------------
def _jit_all() -> None:
    """Replace this module's Python functions by their Numba-compiled forms (once)."""
    global _tanh, _act, _act_grad, _output_row, mlp_sgd_epoch, rnn_sgd_epoch
    if hasattr(mlp_sgd_epoch, "py_func"):
        return
    import numba

    _tanh = numba.njit(inline="always")(_tanh)
    _act = numba.njit(inline="always")(_act)
    _act_grad = numba.njit(inline="always")(_act_grad)
    _output_row = numba.njit(inline="always")(_output_row)
    mlp_sgd_epoch = numba.njit(cache=True, nogil=True)(mlp_sgd_epoch)
    rnn_sgd_epoch = numba.njit(cache=True, nogil=True, fastmath=True)(rnn_sgd_epoch)

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

import functools
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
    "CELL_STEPS",
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

#: LLVM fast-math flags of the kernels: fused multiply-adds ("contract") and reordered
#: sums ("reassoc", with "nsz" for the sign of zero), so that dot products and row loops
#: vectorize. Each changes a result by rounding only, well inside the kernels' 1e-12
#: contract; "nnan"/"ninf"/"afn"/"arcp" are left out (a diverging run still shows NaN
#: and infinities, and divisions stay correctly rounded). error_model="numpy": a
#: division is a plain vector division, not a Python ZeroDivisionError check.
FASTMATH = frozenset({"contract", "reassoc", "nsz"})
#: options of every kernel
_JIT = {"cache": True, "nogil": True, "fastmath": set(FASTMATH), "error_model": "numpy"}

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
        if unsupported:  # first: true whether or not Numba is installed
            raise ValueError(f"backend 'numba' does not cover this model: {unsupported}; "
                             "use backend 'numpy' or 'auto'")
        if not AVAILABLE:
            raise ImportError("backend 'numba' needs Numba: pip install 'nablanet[fast]'")
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
    ``rnn_sgd_epoch`` serves :class:`nablanet.models.RNN` (one vanilla layer, plain SGD),
    ``lstm_forward``/``lstm_backward`` and ``gru_forward``/``gru_backward`` the steps of
    :class:`~nablanet.layers.recurrent.LSTMLayer` and ``GRULayer`` (through
    :data:`CELL_STEPS`; any depth, any optimizer). The first call imports Numba and wraps
    the kernels (each compiles, or loads from the disk cache, on its first call). A new
    kernel is one entry here and its line in :func:`_jit_all`.

    Raises
    ------
    ImportError
        Without Numba.
    """
    if not _TABLE:
        _jit_all()
        _TABLE.update(mlp_sgd_epoch=mlp_sgd_epoch, rnn_sgd_epoch=rnn_sgd_epoch,
                      lstm_forward=lstm_forward, lstm_backward=lstm_backward,
                      gru_forward=gru_forward, gru_backward=gru_backward)
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
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm's split
_INV_LN2 = 1.44269504088896338700e00
#: 1/k! for k = 2..13: the Taylor coefficients of expm1(r) beyond r
_EXPM1 = tuple(1.0 / math.factorial(k) for k in range(2, 14))
#: 2^-k for k = 0..63, exact
_POW2_NEG = np.ldexp(1.0, -np.arange(64))


def _tanh(z):
    """tanh(z) without a C library call, so that LLVM vectorizes it across the hidden
    units (the libm call it replaces cost half of a batch-1 RNN step).

    With a = min(|z|, 20) (tanh(20) is 1.0 in float64) and 2a = k ln2 - r, |r| <= ln2/2
    (Cody-Waite reduction, ln2 split in two), ``em = expm1(-2a) = 2^-k expm1(r) + 2^-k
    - 1`` with expm1(r) its Taylor polynomial to r^13 (truncation < 5e-18), and
    tanh(a) = -em / (2 + em): no cancellation near 0. Within 3 ulp of NumPy's tanh
    (relative error < 5e-16 for every z; checked in tests/test_kernels.py)."""
    a = min(abs(z), 20.0)
    k = int(a * (2.0 * _INV_LN2) + 0.5)
    kf = float(k)
    r = (kf * _LN2_HI - 2.0 * a) + kf * _LN2_LO
    c = _EXPM1
    p = r * (1.0 + r * (c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (
        c[5] + r * (c[6] + r * (c[7] + r * (c[8] + r * (c[9] + r * (c[10] + r * c[11]))))))))))))
    s = _POW2_NEG[k]
    em = s * p + (s - 1.0)
    t = -em / (2.0 + em)
    return t if z >= 0.0 else -t


#: tanh(x) = x P(x^2) / Q(x^2) on |x| <= 9 (a rational fit by reweighted least squares on
#: the relative error, 1.4e-7 in exact arithmetic), in float32: within 6 ulp of tanh
_TANH32_P = tuple(np.float32(c) for c in (
    0.999999861880684, 0.133270434800818, 0.0034332581347766918, 1.965590227430646e-05,
    1.2169863692636452e-08))
_TANH32_Q = tuple(np.float32(c) for c in (
    1.0, 0.4666029053763545, 0.02563521146420774, 0.00031868266821043326,
    7.262933010563712e-07))
_F32_CLIP, _F32_ONE, _F32_HALF = np.float32(9.0), np.float32(1.0), np.float32(0.5)


def _tanh32(z):
    """tanh of a float32 in float32 arithmetic, so that LLVM vectorizes it 16 wide (with
    the float64 :func:`_tanh`, the float32 LSTM kernel was slower than NumPy's path).
    A rational function, no table and no library call; within 6 ulp of float32 tanh
    (checked in tests/test_kernels.py)."""
    x = min(max(z, -_F32_CLIP), _F32_CLIP)
    u = x * x
    p, q = _TANH32_P, _TANH32_Q
    t = x * (p[0] + u * (p[1] + u * (p[2] + u * (p[3] + u * p[4])))) / (
        q[0] + u * (q[1] + u * (q[2] + u * (q[3] + u * q[4]))))
    return min(max(t, -_F32_ONE), _F32_ONE)


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


def _act_row(code, A, r):
    """``A[r] = f(A[r])`` in place; the branch on ``code`` sits outside the loop, so that
    the loop vectorizes."""
    if code == 1:
        for j in range(A.shape[1]):
            A[r, j] = _tanh(A[r, j] * 0.5) * 0.5 + 0.5
    elif code == 2:
        for j in range(A.shape[1]):
            A[r, j] = _tanh(A[r, j])
    elif code == 3:
        for j in range(A.shape[1]):
            A[r, j] = max(A[r, j], 0.0)


def _act_grad_row(code, A, r, D, rd):
    """``D[rd] *= f'(z)``, written through ``A[r] = f(z)``."""
    if code == 1:
        for j in range(A.shape[1]):
            D[rd, j] *= (1.0 - A[r, j]) * A[r, j]
    elif code == 2:
        for j in range(A.shape[1]):
            D[rd, j] *= 1.0 - A[r, j] * A[r, j]
    elif code == 3:
        for j in range(A.shape[1]):
            D[rd, j] *= 1.0 if A[r, j] > 0.0 else 0.0


def _output_row(code, delta_mode, Z, r, T, rt, D, scale):
    """Output activations ``Z[r] = g(z)`` in place (``Z[r]`` holds z) and their error
    ``D[r] = scale * ((a - y) g'(z) or a - y)`` against the target row ``T[rt]``.
    Rows are indices, not views: a view costs two atomic reference counts."""
    n = Z.shape[1]
    if code == 4:  # softmax
        zmax = Z[r, 0]
        for j in range(1, n):
            zmax = max(zmax, Z[r, j])
        total = 0.0
        for j in range(n):
            e = math.exp(Z[r, j] - zmax)
            Z[r, j] = e
            total += e
        for j in range(n):
            Z[r, j] /= total
    else:
        for j in range(n):
            Z[r, j] = _act(code, Z[r, j])
    for j in range(n):
        d = Z[r, j] - T[rt, j]
        if delta_mode == 0:  # DELTA_QUADRATIC
            d *= _act_grad(code, Z[r, j])
        D[r, j] = d * scale


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
                _act_row(acts[layer], a, r)
            prev = a
        a, d, b = A[L - 1], D[L - 1], biases[L - 1]  # output layer and BP1
        for r in range(m):
            for j in range(a.shape[1]):
                a[r, j] += b[j]
            _output_row(acts[L - 1], delta_mode, a, r, tb, r, d, inv_m)
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
                    _act_grad_row(acts[layer - 1], prev, r, below, r)
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
    """Plain-SGD training of a one-layer :class:`nablanet.models.RNN` over the
    mini-batches of ``batch_size`` sequences of ``order``. Batch-major ``X (n, T, F)``
    inputs (each sequence one contiguous block: the order is random), targets ``Y
    (n, T, L)`` (``last`` False) or ``(n, 1, L)`` (``last`` True), ``lengths (n,)``; work
    buffers ``Hs (T+1, H)``, ``Z``/``dY (T, L)``, ``da``/``carry (H,)`` and the gradient
    arrays; the parameters are updated in place.

    As in the NumPy path, the products that do not depend on the recurrence are one
    small matrix product per sequence through BLAS: the input part ``X_s W_x`` of every
    step before the forward loop, ``X_s^T dA`` and ``H^T dA`` after BPTT; only the
    recurrence (``h_{t-1} W_h``, ``dA_t W_h^T``), the activations and the outputs loop
    over the steps. Scratch for one sequence (``dA (T, H)`` and two gradient blocks) is
    allocated once per call. The loop is compiled for the model's ``F, H = W_x.shape``
    as constants (:func:`_rnn_epoch`)."""
    _rnn_epoch(*W_x.shape)(X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y,
                       act, out_act, delta_mode, lr, Hs, Z, dY, gW_x, gW_h, gb, gW_y,
                       gb_y, da, carry)


@functools.cache
def _rnn_epoch(F: int, H: int):
    """:func:`rnn_sgd_epoch`'s loop compiled with ``F`` inputs and ``H`` hidden units as
    compile-time constants, so that LLVM unrolls and vectorizes the loops over the hidden
    units completely, as Rust's const generics do for the seed (13% less time per
    sequence than shapes read at run time, on the fraud workload). Compiled once per
    ``(F, H)`` and dtype, and cached on disk like the other kernels."""

    def epoch(X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y, act,
              out_act, delta_mode, lr, Hs, Z, dY, gW_x, gW_h, gb, gW_y, gb_y, da, carry):
        n_out = W_y.shape[1]
        dA = np.empty((Hs.shape[0] - 1, H), W_x.dtype)  # dL/da_t of the current sequence
        G_x = np.empty_like(W_x)
        G_h = np.empty_like(W_h)
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
                Ys = Y[s]
                np.dot(X[s, :T], W_x, Hs[1:T + 1])  # the input part of every step
                for t in range(T):  # forward: h_t = f((h_{t-1} W_h) + (x_t W_x + b)), h_0 = 0
                    for j in range(H):
                        Hs[t + 1, j] += b[j]
                    if t:
                        for k in range(H):
                            h = Hs[t, k]
                            for j in range(H):
                                Hs[t + 1, j] += h * W_h[k, j]
                    _act_row(act, Hs, t + 1)
                    if last and t < T - 1:
                        continue
                    for j in range(n_out):  # the output and its error, scaled by 1/m
                        z = b_y[j]
                        for k in range(H):
                            z += Hs[t + 1, k] * W_y[k, j]
                        Z[t, j] = z
                    _output_row(out_act, delta_mode, Z, t, Ys, 0 if last else t, dY, inv_m)
                carry[:] = 0.0  # dL/dh_t from step t+1
                for t in range(T - 1, -1, -1):  # BPTT
                    for k in range(H):
                        da[k] = carry[k]
                    if not last or t == T - 1:
                        for k in range(H):
                            for j in range(n_out):
                                da[k] += dY[t, j] * W_y[k, j]
                                gW_y[k, j] += Hs[t + 1, k] * dY[t, j]
                        for j in range(n_out):
                            gb_y[j] += dY[t, j]
                    for k in range(H):
                        dA[t, k] = da[k]
                    _act_grad_row(act, Hs, t + 1, dA, t)  # dL/da_t
                    for j in range(H):
                        gb[j] += dA[t, j]
                    if t:
                        for k in range(H):
                            c = 0.0
                            for j in range(H):
                                c += dA[t, j] * W_h[k, j]
                            carry[k] = c
                np.dot(X[s, :T].T, dA[:T], G_x)  # sum_t x_t^T dA_t
                np.dot(Hs[:T].T, dA[:T], G_h)  # sum_t h_{t-1}^T dA_t (h_0 = 0)
                for i in range(F):
                    for j in range(H):
                        gW_x[i, j] += G_x[i, j]
                for i in range(H):
                    for j in range(H):
                        gW_h[i, j] += G_h[i, j]
            for P, G in ((W_x, gW_x), (W_h, gW_h), (W_y, gW_y)):  # plain SGD
                for i in range(P.shape[0]):
                    for j in range(P.shape[1]):
                        P[i, j] -= G[i, j] * lr
            for p, g in ((b, gb), (b_y, gb_y)):
                for j in range(p.shape[0]):
                    p[j] -= g[j] * lr
    import numba

    return numba.njit(**_JIT)(epoch)  # type: ignore[attr-defined]  # numba exports njit at run time


# --------------------------------------------------------------------------------------
# LSTM and GRU cells: forward and BPTT of one time-major mini-batch, gates fused
# --------------------------------------------------------------------------------------
def _sigmoid(z):
    return _tanh(z * 0.5) * 0.5 + 0.5


def _sigmoid32(z):
    return _tanh32(z * _F32_HALF) * _F32_HALF + _F32_HALF


def _one(a):
    """1 in the dtype of the array ``a``: float32 arithmetic stays float32 (a literal 1.0
    would promote it to float64)."""
    return np.ones(1, a.dtype)[0]


def _cell_tanh(z):
    """The gates' tanh: :func:`_tanh32` for float32, :func:`_tanh` otherwise (chosen at
    compile time by the overload in :func:`_jit_all`)."""
    return _tanh32(z) if isinstance(z, np.float32) else _tanh(z)


def _cell_sigmoid(z):
    """The gates' sigmoid, by dtype as :func:`_cell_tanh`."""
    return _sigmoid32(z) if isinstance(z, np.float32) else _sigmoid(z)


def lstm_forward(X, W_x, W_h, b, Hs, C, G, TC, rec):
    """Forward pass of :class:`nablanet.layers.recurrent.LSTMLayer` over ``X (T, m, F)``, with its
    buffers: hidden states ``Hs (T+1, m, H)`` (``Hs[0]`` = 0), cell states ``C (T+1, m,
    H)``, gate activations ``G (T, m, 4H)`` (order i, f, o, g), ``TC = tanh(C[1:])``
    and the scratch ``rec (m, 4H)``. The products go through BLAS (all input parts in
    one); the gates, the cell update and the output are one fused loop per step."""
    T, m, F = X.shape
    H = W_h.shape[0]
    np.dot(X.reshape(T * m, F), W_x, G.reshape(T * m, 4 * H))
    for r in range(m):
        for j in range(H):
            C[0, r, j] = 0.0
    for t in range(T):
        np.dot(Hs[t], W_h, rec)
        for r in range(m):
            for j in range(4 * H):
                G[t, r, j] += b[j] + rec[r, j]
            for j in range(3 * H):
                G[t, r, j] = _cell_sigmoid(G[t, r, j])
            for j in range(H):
                gg = _cell_tanh(G[t, r, 3 * H + j])
                G[t, r, 3 * H + j] = gg
                c = G[t, r, H + j] * C[t, r, j] + G[t, r, j] * gg
                C[t + 1, r, j] = c
                tc = _cell_tanh(c)
                TC[t, r, j] = tc
                Hs[t + 1, r, j] = G[t, r, 2 * H + j] * tc


def lstm_backward(X, dH, W_x, W_h, Hs, C, G, TC, dG, dc, carry, gW_x, gW_h, gb, dX, need_dX):
    """BPTT of :class:`nablanet.layers.recurrent.LSTMLayer` after :func:`lstm_forward`: ``dH (T, m,
    H)`` = dL/dh_t from above (used as scratch), pre-activation gradients into ``dG
    (T, m, 4H)``, scratch ``dc``/``carry (m, H)``; writes ``gW_x``, ``gW_h``, ``gb``
    and, if ``need_dX``, ``dX (T, m, F)``."""
    T, m = X.shape[:2]
    H = W_h.shape[0]
    one = _one(dG)
    for r in range(m):
        for j in range(H):
            dc[r, j] = 0.0
    for t in range(T - 1, -1, -1):
        for r in range(m):
            for j in range(H):
                dh = dH[t, r, j]
                if t < T - 1:
                    dh += carry[r, j]
                i, f = G[t, r, j], G[t, r, H + j]
                o, gg = G[t, r, 2 * H + j], G[t, r, 3 * H + j]
                tc = TC[t, r, j]
                d = dc[r, j] + dh * o * (one - tc * tc)  # dL/dc_t
                dG[t, r, j] = d * gg * (i * (one - i))
                dG[t, r, H + j] = d * C[t, r, j] * (f * (one - f))
                dG[t, r, 2 * H + j] = dh * tc * (o * (one - o))
                dG[t, r, 3 * H + j] = d * i * (one - gg * gg)
                dc[r, j] = d * f
        if t:
            np.dot(dG[t], W_h.T, carry)
    _input_gradients(X, dG, dG, Hs, W_x, gW_x, gW_h, gb, gb, dX, need_dX)


def _input_gradients(X, dGx, dGh, Hs, W_x, gW_x, gW_h, gb_x, gb_h, dX, need_dX):
    """``gW_x = X^T dGx``, ``gW_h = H^T dGh`` over all ``T m`` rows (BLAS), the bias
    sums ``gb_x``/``gb_h`` of ``dGx``/``dGh``, and ``dX = dGx W_x^T`` if asked (the
    LSTM's one bias passes ``gb`` twice, with ``dGh`` = ``dGx``)."""
    T, m, F = X.shape
    n_g = dGx.shape[2]
    rows = T * m
    dGx2 = dGx.reshape(rows, n_g)
    np.dot(X.reshape(rows, F).T, dGx2, gW_x)
    np.dot(Hs[:T].reshape(rows, Hs.shape[2]).T, dGh.reshape(rows, n_g), gW_h)
    for gb, dG in ((gb_x, dGx2), (gb_h, dGh.reshape(rows, n_g))):
        for j in range(n_g):
            gb[j] = 0.0
        for r in range(rows):
            for j in range(n_g):
                gb[j] += dG[r, j]
    if need_dX:
        np.dot(dGx2, W_x.T, dX.reshape(rows, F))


def gru_forward(X, W_x, W_h, b_x, b_h, Hs, GX, GH):
    """Forward pass of :class:`nablanet.layers.recurrent.GRULayer` over ``X (T, m, F)`` with its
    buffers ``Hs (T+1, m, H)`` (``Hs[0]`` = 0), ``GX``/``GH (T, m, 3H)``: ``GX`` ends
    with the activated gates r, z, n; ``GH`` holds ``h_{t-1} W_h + b_h``."""
    T, m, F = X.shape
    H = W_h.shape[0]
    np.dot(X.reshape(T * m, F), W_x, GX.reshape(T * m, 3 * H))
    for t in range(T):
        np.dot(Hs[t], W_h, GH[t])
        for r in range(m):
            for j in range(3 * H):
                GH[t, r, j] += b_h[j]
                GX[t, r, j] += b_x[j]
            for j in range(2 * H):
                GX[t, r, j] = _cell_sigmoid(GX[t, r, j] + GH[t, r, j])
            for j in range(H):
                n = _cell_tanh(GX[t, r, 2 * H + j] + GX[t, r, j] * GH[t, r, 2 * H + j])
                GX[t, r, 2 * H + j] = n
                Hs[t + 1, r, j] = (Hs[t, r, j] - n) * GX[t, r, H + j] + n


def gru_backward(X, dH, W_x, W_h, Hs, GX, GH, dGx, dGh, carry, gW_x, gW_h, gb_x, gb_h,
                 dX, need_dX):
    """BPTT of :class:`nablanet.layers.recurrent.GRULayer` after :func:`gru_forward`:
    ``dH (T, m, H)`` from above (scratch), pre-activation gradients into ``dGx``/``dGh (T, m, 3H)``,
    scratch ``carry (m, H)``; writes the four gradients and, if ``need_dX``, ``dX``."""
    T, m = X.shape[:2]
    H = W_h.shape[0]
    one = _one(dGx)
    for t in range(T - 1, -1, -1):
        for r in range(m):
            for j in range(H):
                dh = dH[t, r, j]
                if t < T - 1:
                    dh += carry[r, j]
                dH[t, r, j] = dh
                rg, z, n = GX[t, r, j], GX[t, r, H + j], GX[t, r, 2 * H + j]
                dn = (one - z) * dh * (one - n * n)  # d(n pre-activation)
                dr = dn * GH[t, r, 2 * H + j] * (rg * (one - rg))
                dz = (Hs[t, r, j] - n) * dh * (z * (one - z))
                dGx[t, r, j] = dr
                dGx[t, r, H + j] = dz
                dGx[t, r, 2 * H + j] = dn
                dGh[t, r, j] = dr
                dGh[t, r, H + j] = dz
                dGh[t, r, 2 * H + j] = dn * rg
        if t:
            np.dot(dGh[t], W_h.T, carry)
            for r in range(m):
                for j in range(H):
                    carry[r, j] += dH[t, r, j] * GX[t, r, H + j]
    _input_gradients(X, dGx, dGh, Hs, W_x, gW_x, gW_h, gb_x, gb_h, dX, need_dX)


def _lstm_steps_forward(layer, X, buf, T):
    run("lstm_forward", X, layer.W_x, layer.W_h, layer.b, buf.H, buf.C, buf.G[:T], buf.TC,
        buf.dG[0])


def _lstm_steps_backward(layer, X, dH, buf, T, dX):
    run("lstm_backward", X, dH, layer.W_x, layer.W_h, buf.H, buf.C, buf.G, buf.TC,
        buf.dG[:T], buf.dc, buf.carry, *layer.grads, X if dX is None else dX, dX is not None)


def _gru_steps_forward(layer, X, buf, T):
    run("gru_forward", X, layer.W_x, layer.W_h, layer.b_x, layer.b_h, buf.H, buf.GX[:T],
        buf.GH[:T])


def _gru_steps_backward(layer, X, dH, buf, T, dX):
    run("gru_backward", X, dH, layer.W_x, layer.W_h, buf.H, buf.GX, buf.GH, buf.dGx[:T],
        buf.dGh[:T], buf.carry, *layer.grads, X if dX is None else dX, dX is not None)


#: a recurrent layer's ``kernel`` name -> the compiled ``(steps_forward(layer, X, buf,
#: T), steps_backward(layer, X, dH, buf, T, dX))`` that replace its NumPy recurrence
#: (same buffers, same results to 1e-12; :class:`nablanet.layers.recurrent.Recurrent`)
CELL_STEPS = {"lstm": (_lstm_steps_forward, _lstm_steps_backward),
              "gru": (_gru_steps_forward, _gru_steps_backward)}


# --------------------------------------------------------------------------------------
def _jit_all() -> None:
    """Replace this module's Python functions by their Numba-compiled forms (once)."""
    global _tanh, _act, _act_grad, _act_row, _act_grad_row, _output_row, _sigmoid
    global _tanh32, _sigmoid32, _one
    global _input_gradients, mlp_sgd_epoch
    global lstm_forward, lstm_backward, gru_forward, gru_backward
    if hasattr(mlp_sgd_epoch, "py_func"):
        return
    import numba

    helper = numba.njit(inline="always")  # type: ignore[attr-defined]  # numba exports njit at run time
    _tanh, _act, _act_grad = helper(_tanh), helper(_act), helper(_act_grad)
    _act_row, _act_grad_row, _output_row = helper(_act_row), helper(_act_grad_row), \
        helper(_output_row)
    _sigmoid = helper(_sigmoid)
    _tanh32, _sigmoid32, _one = helper(_tanh32), helper(_sigmoid32), helper(_one)
    from numba.core import types
    from numba.extending import overload

    def by_dtype(f32, f64):  # the typing-time choice of _cell_tanh / _cell_sigmoid
        def choose(z):
            return (lambda z: f32(z)) if z == types.float32 else (lambda z: f64(z))
        return choose

    overload(_cell_tanh)(by_dtype(_tanh32, _tanh))
    overload(_cell_sigmoid)(by_dtype(_sigmoid32, _sigmoid))
    kernel = numba.njit(**_JIT)  # type: ignore[attr-defined]  # numba exports njit at run time
    _input_gradients = kernel(_input_gradients)
    mlp_sgd_epoch = kernel(mlp_sgd_epoch)
    lstm_forward, lstm_backward = kernel(lstm_forward), kernel(lstm_backward)
    gru_forward, gru_backward = kernel(gru_forward), kernel(gru_backward)

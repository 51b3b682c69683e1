"""What every compiled kernel is made of: the compile options, and the scalar forms of
the activations (the formulas of :mod:`nablanet.activations`) that the kernels of
:mod:`~nablanet.kernels.mlp`, :mod:`~nablanet.kernels.rnn` and :mod:`~nablanet.kernels.cells`
call elementwise, inlined by Numba. Plain Python functions until :func:`jit` replaces them
by their compiled forms (the first :func:`nablanet.kernels.kernel_table` call)."""

from __future__ import annotations

import math

import numpy as np

#: LLVM fast-math flags of the kernels: fused multiply-adds ("contract") and reordered
#: sums ("reassoc", with "nsz" for the sign of zero), so that dot products and row loops
#: vectorize. Each changes a result by rounding only, well inside the kernels' 1e-12
#: contract; "nnan"/"ninf"/"afn"/"arcp" are left out (a diverging run still shows NaN
#: and infinities, and divisions stay correctly rounded). error_model="numpy": a
#: division is a plain vector division, not a Python ZeroDivisionError check.
FASTMATH = frozenset({"contract", "reassoc", "nsz"})
#: options of every kernel
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": set(FASTMATH), "error_model": "numpy"}


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
    # expm1(r) = r + r^2 (c0 + c1 r + ... + c11 r^11), the sum by Estrin's scheme: 5
    # dependent multiply-adds instead of Horner's 13 (the tanh sits on the recurrence)
    r2 = r * r
    r4 = r2 * r2
    q = ((c[0] + c[1] * r) + (c[2] + c[3] * r) * r2) + ((c[4] + c[5] * r) + (
        c[6] + c[7] * r) * r2) * r4 + ((c[8] + c[9] * r) + (c[10] + c[11] * r) * r2) * (
        r4 * r4)
    p = r + r2 * q
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


def act_row(code, A, r):
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


def act_grad_row(code, A, r, D, rd):
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


def output_row(code, delta_mode, Z, r, T, rt, D, scale):
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
# The gates of the LSTM and GRU cells, in the dtype of their arrays
# --------------------------------------------------------------------------------------
def _sigmoid(z):
    return _tanh(z * 0.5) * 0.5 + 0.5


def _sigmoid32(z):
    return _tanh32(z * _F32_HALF) * _F32_HALF + _F32_HALF


def one(a):
    """1 in the dtype of the array ``a``: float32 arithmetic stays float32 (a literal 1.0
    would promote it to float64)."""
    return np.ones(1, a.dtype)[0]


def cell_tanh(z):
    """The gates' tanh: :func:`_tanh32` for float32, :func:`_tanh` otherwise (chosen at
    compile time by the overload in :func:`jit`)."""
    return _tanh32(z) if isinstance(z, np.float32) else _tanh(z)


def cell_sigmoid(z):
    """The gates' sigmoid, by dtype as :func:`cell_tanh`."""
    return _sigmoid32(z) if isinstance(z, np.float32) else _sigmoid(z)


def jit() -> None:
    """Replace this module's Python functions by their Numba-compiled forms, inlined
    where a kernel calls them, and give :func:`cell_tanh`/:func:`cell_sigmoid` their
    choice by dtype (once, by :func:`nablanet.kernels.kernel_table`, before the kernels)."""
    global _tanh, _act, _act_grad, act_row, act_grad_row, output_row, _sigmoid
    global _tanh32, _sigmoid32, one
    import numba

    helper = numba.njit(inline="always")
    _tanh, _act, _act_grad = helper(_tanh), helper(_act), helper(_act_grad)
    act_row, act_grad_row, output_row = helper(act_row), helper(act_grad_row), \
        helper(output_row)
    _sigmoid = helper(_sigmoid)
    _tanh32, _sigmoid32, one = helper(_tanh32), helper(_sigmoid32), helper(one)
    from numba.core import types
    from numba.extending import overload

    def by_dtype(f32, f64):  # the typing-time choice of cell_tanh / cell_sigmoid
        def choose(z):
            return (lambda z: f32(z)) if z == types.float32 else (lambda z: f64(z))
        return choose

    overload(cell_tanh)(by_dtype(_tanh32, _tanh))
    overload(cell_sigmoid)(by_dtype(_sigmoid32, _sigmoid))

"""The compiled LSTM and GRU cells: forward and BPTT of one time-major mini-batch, the
gates fused in one loop per step, products through BLAS. They replace the NumPy
recurrence of :class:`nablanet.layers.recurrent.LSTMLayer` and ``GRULayer`` (through
:data:`nablanet.kernels.CELL_STEPS`) with the same buffers and results to 1e-12."""

from __future__ import annotations

import numpy as np

from nablanet.kernels import scalar
from nablanet.kernels.scalar import JIT_OPTIONS


# --------------------------------------------------------------------------------------
# LSTM and GRU cells: forward and BPTT of one time-major mini-batch, gates fused
# --------------------------------------------------------------------------------------
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
                G[t, r, j] = scalar.cell_sigmoid(G[t, r, j])
            for j in range(H):
                gg = scalar.cell_tanh(G[t, r, 3 * H + j])
                G[t, r, 3 * H + j] = gg
                c = G[t, r, H + j] * C[t, r, j] + G[t, r, j] * gg
                C[t + 1, r, j] = c
                tc = scalar.cell_tanh(c)
                TC[t, r, j] = tc
                Hs[t + 1, r, j] = G[t, r, 2 * H + j] * tc


def lstm_backward(X, dH, W_x, W_h, Hs, C, G, TC, dG, dc, carry, gW_x, gW_h, gb, dX, need_dX):
    """BPTT of :class:`nablanet.layers.recurrent.LSTMLayer` after :func:`lstm_forward`: ``dH (T, m,
    H)`` = dL/dh_t from above (used as scratch), pre-activation gradients into ``dG
    (T, m, 4H)``, scratch ``dc``/``carry (m, H)``; writes ``gW_x``, ``gW_h``, ``gb``
    and, if ``need_dX``, ``dX (T, m, F)``."""
    T, m = X.shape[:2]
    H = W_h.shape[0]
    one = scalar.one(dG)
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
                GX[t, r, j] = scalar.cell_sigmoid(GX[t, r, j] + GH[t, r, j])
            for j in range(H):
                n = scalar.cell_tanh(GX[t, r, 2 * H + j]
                                     + GX[t, r, j] * GH[t, r, 2 * H + j])
                GX[t, r, 2 * H + j] = n
                Hs[t + 1, r, j] = (Hs[t, r, j] - n) * GX[t, r, H + j] + n


def gru_backward(X, dH, W_x, W_h, Hs, GX, GH, dGx, dGh, carry, gW_x, gW_h, gb_x, gb_h,
                 dX, need_dX):
    """BPTT of :class:`nablanet.layers.recurrent.GRULayer` after :func:`gru_forward`:
    ``dH (T, m, H)`` from above (scratch), pre-activation gradients into ``dGx``/``dGh (T, m, 3H)``,
    scratch ``carry (m, H)``; writes the four gradients and, if ``need_dX``, ``dX``."""
    T, m = X.shape[:2]
    H = W_h.shape[0]
    one = scalar.one(dGx)
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


def jit() -> None:
    """Replace this module's kernels by their Numba-compiled forms (once, by
    :func:`nablanet.kernels.kernel_table`, after :func:`nablanet.kernels.scalar.jit`)."""
    global _input_gradients, lstm_forward, lstm_backward, gru_forward, gru_backward
    import numba

    kernel = numba.njit(**JIT_OPTIONS)
    _input_gradients = kernel(_input_gradients)
    lstm_forward, lstm_backward = kernel(lstm_forward), kernel(lstm_backward)
    gru_forward, gru_backward = kernel(gru_forward), kernel(gru_backward)

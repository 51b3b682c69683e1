"""The compiled vanilla-RNN kernel: :func:`rnn_sgd_epoch` trains a one-layer
:class:`nablanet.models.RNN` with plain SGD (forward and BPTT per sequence, one step per
mini-batch of sequences), compiled on first use for the model's sizes as constants."""

from __future__ import annotations

import functools

import numpy as np

from nablanet.kernels import scalar
from nablanet.kernels.scalar import JIT_OPTIONS


# --------------------------------------------------------------------------------------
# Vanilla RNN: per sequence forward and BPTT, one SGD step per mini-batch of sequences
# --------------------------------------------------------------------------------------
def rnn_sgd_epoch(X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y, act,
                  out_act, delta_mode, lr, Hs, Z, dY, gW, gb, gW_y, gb_y, carry, record):
    """Plain-SGD training of a one-layer :class:`nablanet.models.RNN` over the
    mini-batches of ``batch_size`` sequences of ``order``. Batch-major ``X (n, T, F)``
    inputs (each sequence one contiguous block: the order is random), targets ``Y
    (n, T, L)`` (``last`` False) or ``(n, 1, L)`` (``last`` True), ``lengths (n,)``; work
    buffers ``Hs (T+1, H)``, ``Z``/``dY (T, L)``, ``carry (H,)``, the gradient
    arrays of ``b``, ``W_y``, ``b_y`` and ``gW (F+H, H)``, the gradients of ``W_x`` and
    ``W_h`` stacked; the parameters are updated in place. ``record (n, T, L)`` receives each
    trained sequence's outputs ``z`` of the training pass at the labelled steps (zeros at
    the others), as the NumPy trainer records them; ``record`` with no rows records
    nothing.

    As in the NumPy path, the products that do not depend on the recurrence are small
    matrix products per sequence through BLAS: the input part ``X_s W_x`` of every step
    before the forward loop, and after BPTT both weight gradients in one product,
    ``[X_s, H_prev]^T dA`` (row t: ``[x_t, h_{t-1}]``), written straight into ``gW`` for
    a mini-batch's first sequence (no zeroing, no sum: at batch 1, the only one); only
    the recurrence (``h_{t-1} W_h``, ``dA_t W_h^T``), the activations and the outputs
    loop over the steps. Scratch for one sequence (``dA (T, H)``, ``[X_s, H_prev]`` and
    a gradient block) is allocated once per call. The loop is compiled for the model's
    ``F, H = W_x.shape`` and ``L`` as constants (:func:`_rnn_epoch`)."""
    _rnn_epoch(*W_x.shape, W_y.shape[1])(
        X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y, act, out_act,
        delta_mode, lr, Hs, Z, dY, gW, gb, gW_y, gb_y, carry, record)


@functools.cache
def _rnn_epoch(F: int, H: int, L: int):
    """:func:`rnn_sgd_epoch`'s loop compiled with ``F`` inputs, ``H`` hidden units and
    ``L`` outputs as compile-time constants, so that LLVM unrolls and vectorizes the loops
    over the hidden units and outputs completely, as Rust's const generics do for the seed
    (13% less time per sequence than shapes read at run time, on the fraud workload).
    Compiled once per ``(F, H, L)`` and dtype, and cached on disk like the other
    kernels."""

    def epoch(X, Y, lengths, order, batch_size, last, W_x, W_h, b, W_y, b_y, act,
              out_act, delta_mode, lr, Hs, Z, dY, gW, gb, gW_y, gb_y, carry, record):
        recording = record.shape[0] > 0
        steps = Hs.shape[0] - 1
        dA = np.empty((steps, H), W_x.dtype)  # dL/da_t of the current sequence
        XH = np.zeros((steps, F + H), W_x.dtype)  # row t: [x_t, h_{t-1}] (h_0 = 0)
        G = np.empty_like(gW)  # one sequence's [dL/dW_x; dL/dW_h]
        n = order.shape[0]
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            inv_m = 1.0 / m
            gb[:] = 0.0
            gW_y[:] = 0.0
            gb_y[:] = 0.0
            for s_i in range(start, start + m):
                s = order[s_i]
                T = lengths[s]
                Ys = Y[s]
                if recording:
                    record[s] = 0.0
                np.dot(X[s, :T], W_x, Hs[1:T + 1])  # the input part of every step
                for t in range(T):  # forward: h_t = f((h_{t-1} W_h) + (x_t W_x + b)), h_0 = 0
                    for j in range(H):
                        Hs[t + 1, j] += b[j]
                    if t:
                        for k in range(H):
                            h = Hs[t, k]
                            for j in range(H):
                                Hs[t + 1, j] += h * W_h[k, j]
                    scalar.act_row(act, Hs, t + 1)
                    if last and t < T - 1:
                        continue
                    for j in range(L):  # the output and its error, scaled by 1/m
                        z = b_y[j]
                        for k in range(H):
                            z += Hs[t + 1, k] * W_y[k, j]
                        Z[t, j] = z
                        if recording:
                            record[s, t, j] = z
                    scalar.output_row(out_act, delta_mode, Z, t, Ys, 0 if last else t, dY,
                                      inv_m)
                carry[:] = 0.0  # dL/dh_t from step t+1
                for t in range(T - 1, -1, -1):  # BPTT
                    for k in range(H):
                        dA[t, k] = carry[k]
                    if not last or t == T - 1:
                        for k in range(H):
                            for j in range(L):
                                dA[t, k] += dY[t, j] * W_y[k, j]
                                gW_y[k, j] += Hs[t + 1, k] * dY[t, j]
                        for j in range(L):
                            gb_y[j] += dY[t, j]
                    scalar.act_grad_row(act, Hs, t + 1, dA, t)  # dL/da_t
                    for j in range(H):
                        gb[j] += dA[t, j]
                    if t:
                        for k in range(H):
                            c = 0.0
                            for j in range(H):
                                c += dA[t, j] * W_h[k, j]
                            carry[k] = c
                for t in range(T):
                    for i in range(F):
                        XH[t, i] = X[s, t, i]
                    if t:
                        for k in range(H):
                            XH[t, F + k] = Hs[t, k]
                # sum_t [x_t, h_{t-1}]^T dA_t: the gradients of W_x and W_h in one product
                if s_i == start:
                    np.dot(XH[:T].T, dA[:T], gW)
                else:
                    np.dot(XH[:T].T, dA[:T], G)
                    for i in range(F + H):
                        for j in range(H):
                            gW[i, j] += G[i, j]
            for i in range(F):  # plain SGD
                for j in range(H):
                    W_x[i, j] -= gW[i, j] * lr
            for i in range(H):
                for j in range(H):
                    W_h[i, j] -= gW[F + i, j] * lr
            for i in range(H):
                for j in range(L):
                    W_y[i, j] -= gW_y[i, j] * lr
            for p, g in ((b, gb), (b_y, gb_y)):
                for j in range(p.shape[0]):
                    p[j] -= g[j] * lr
    import numba

    return numba.njit(**JIT_OPTIONS)(epoch)


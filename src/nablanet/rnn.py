"""Recurrent networks trained by backpropagation through time (BPTT).

Three cells, one model API (:class:`RNN`, :class:`LSTM`, :class:`GRU`), all sharing the
activations, losses, optimizers and training loop of the feedforward network.

Data are batch-major at the API: inputs ``X (n_sequences, n_steps, n_features)``, a
boolean ``mask (n_sequences, n_steps)`` that is True on the valid (left-aligned) steps
of variable-length sequences, and targets either at every step (``target="every"``,
many-to-many: ``Y (n, n_steps, n_outputs)``) or for the last valid step only
(``target="last"``, many-to-one: ``Y (n, n_outputs)``). Class labels may be given as
integers instead of one-hot rows. Inside, a mini-batch is time-major, ``(n_steps, m, .)``,
so that each step is one contiguous ``(m, .)`` matrix.

The loss of a mini-batch is the mean over its sequences of the loss *summed over the
labelled steps* of each sequence (for ``target="every"``; the seed's per-step gradient
``dL/dy_t = y_t - target_t``). So the gradient of a batch is the sum of the
per-sequence gradients divided by the batch size, and ``batch_size=1`` is the Rust
seed's one-sequence-per-update SGD.

Padded steps (mask False) are computed but contribute no loss; because they come after
the valid steps, no gradient flows through them either, and the result equals running
each sequence at its own length.

Input-to-hidden products for all steps, and all weight gradients, are single large
matrix products over ``(n_steps * m)`` rows; only the recurrence itself loops over time.
Work buffers are allocated once per ``fit`` and reused.
"""

from __future__ import annotations

import logging

import numpy as np

from nablanet import io, kernels
from nablanet.activations import ACTIVATIONS, get_activation
from nablanet.init import check_dtype, get_initializer
from nablanet.losses import get_loss, one_hot
from nablanet.optimizers import SGD, Optimizer
from nablanet.training import (
    EarlyStopping,
    History,
    Schedule,
    check_fit_args,
    fit_loop,
    thread_limit,
)

__all__ = ["GRU", "LSTM", "MODELS", "RNN", "RecurrentNetwork"]

log = logging.getLogger(__name__)

_SIGMOID, _TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]
_EVAL_CHUNK = 1024  # sequences per forward pass when evaluating
AUTO_NUMBA_MAX_BATCH = 16  # backend="auto": the compiled kernel up to this batch size
AUTO_CELL_MAX_BATCH = 1 << 30  # backend="auto": the LSTM/GRU cell kernels at any batch size


# ======================================================================================
# Cells: one recurrent layer each, over a whole time-major mini-batch.
#
# forward(X, buf, T): X (T, m, n_in) -> buf.H[1:T+1] (T, m, H) hidden states (H[0] = 0)
# backward(X, dH, buf, T, dX): dH (T, m, H) = dL/dh_t from above (used as scratch);
#   writes the parameter gradients into buf.grads and, if dX is given, dL/dX into it.
# ======================================================================================
class _Cell:
    names: tuple[str, ...] = ()
    n_gates = 1

    def __init__(self, n_in: int, n_hidden: int, rng, dtype, init: str):
        self.n_in, self.n_hidden, self.dtype = n_in, n_hidden, dtype
        self.compiled = False  # forward/backward by the Numba kernels (set by fit)
        draw_x = get_initializer(init)
        orth = get_initializer("orthogonal")
        H, G = n_hidden, self.n_gates
        # input weights and recurrent weights, one block of H columns per gate
        self.W_x = np.concatenate([draw_x(rng, n_in, H, dtype) for _ in range(G)], axis=1)
        self.W_h = np.concatenate([orth(rng, H, H, dtype) for _ in range(G)], axis=1)

    @property
    def params(self) -> list[np.ndarray]:
        return [getattr(self, n) for n in self.names]

    def _buffers(self, T: int, m: int, **extra) -> _Buffers:
        H, dt = self.n_hidden, self.dtype
        buf = _Buffers(
            H=np.zeros((T + 1, m, H), dtype=dt),
            grads=[np.empty_like(p) for p in self.params],
            carry=np.empty((m, H), dtype=dt),
            work=np.empty((m, H), dtype=dt),
        )
        for k, v in extra.items():
            setattr(buf, k, np.empty(v, dtype=dt))
        return buf

    def _input_gradients(self, X, dGx, dGh, buf, T, dX):
        """The weight and bias gradients from the per-step pre-activation gradients, as
        three large products over all ``T * m`` rows, and ``dL/dX`` if asked."""
        m = X.shape[1]
        rows = T * m
        dGx2 = dGx.reshape(rows, -1)
        dGh2 = dGh.reshape(rows, -1)
        gW_x, gW_h, *gb = buf.grads
        np.matmul(X.reshape(rows, -1).T, dGx2, out=gW_x)
        np.matmul(buf.H[:T].reshape(rows, -1).T, dGh2, out=gW_h)
        np.add.reduce(dGx2, axis=0, out=gb[0])
        if len(gb) == 2:
            np.add.reduce(dGh2, axis=0, out=gb[1])
        if dX is not None:
            np.matmul(dGx2, self.W_x.T, out=dX.reshape(rows, -1))


class _Buffers:
    """Per-layer work buffers for one mini-batch shape (attributes set by the cell)."""

    def __init__(self, **arrays):
        self.__dict__.update(arrays)


class RNNCell(_Cell):
    """Elman cell: ``h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)``.

    BPTT (Werbos 1990), with ``a_t`` the pre-activation::

        dL/da_t   = (dL/dh_t + dL/da_{t+1} W_hh^T) * f'(a_t)
        dL/dW_xh  = sum_t x_t^T dL/da_t      dL/dW_hh = sum_t h_{t-1}^T dL/da_t
        dL/db_h   = sum_t dL/da_t            dL/dx_t  = dL/da_t W_xh^T
    """

    names = ("W_x", "W_h", "b")

    def __init__(self, n_in, n_hidden, rng, dtype, init, activation="tanh"):
        super().__init__(n_in, n_hidden, rng, dtype, init)
        self.activation = get_activation(activation)
        if self.activation.name == "softmax":
            raise ValueError("activation: softmax is an output activation only")
        self.b = np.zeros(n_hidden, dtype=dtype)

    def buffers(self, T, m):
        return self._buffers(T, m, A=(T, m, self.n_hidden))

    def forward(self, X, buf, T):
        m, f, Hs = X.shape[1], self.activation, buf.H
        A = buf.A[:T]
        np.matmul(X.reshape(T * m, -1), self.W_x, out=A.reshape(T * m, -1))
        A += self.b
        for t in range(T):
            h = Hs[t + 1]
            np.matmul(Hs[t], self.W_h, out=h)
            h += A[t]
            f.forward(h, h)

    def backward(self, X, dH, buf, T, dX=None):
        f, Hs, carry = self.activation, buf.H, buf.carry
        for t in range(T - 1, -1, -1):
            d = dH[t]
            if t < T - 1:
                d += carry
            f.backward(Hs[t + 1], d, buf.work)  # d is now dL/da_t
            if t:
                np.matmul(d, self.W_h.T, out=carry)
        self._input_gradients(X, dH[:T], dH[:T], buf, T, dX)


class LSTMCell(_Cell):
    """Long short-term memory with a forget gate (Hochreiter & Schmidhuber 1997;
    Gers et al. 2000), PyTorch's formulation with one bias per gate::

        [i, f, o] = sigmoid(x_t W_x + h_{t-1} W_h + b)[:, :3H]
        g         = tanh(   x_t W_x + h_{t-1} W_h + b)[:, 3H:]
        c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)

    The gate blocks are stored in the order ``i, f, o, g`` (PyTorch's is ``i, f, g, o``)
    so that one sigmoid covers the first three. The forget-gate bias starts at 1
    (Jozefowicz et al. 2015). BPTT, with ``dc`` carried backwards::

        do = dh * tanh(c_t)          dc = dc_{t+1} * f_{t+1} + dh * o * (1 - tanh(c_t)^2)
        di = dc * g   df = dc * c_{t-1}   dg = dc * i
        d(gate pre-activations) = [di, df, do] * s(1-s), dg * (1 - g^2)
        dh_{t-1} += d(pre-activations) W_h^T
    """

    names = ("W_x", "W_h", "b")
    n_gates = 4

    def __init__(self, n_in, n_hidden, rng, dtype, init):
        super().__init__(n_in, n_hidden, rng, dtype, init)
        self.b = np.zeros(4 * n_hidden, dtype=dtype)
        self.b[n_hidden:2 * n_hidden] = 1.0

    def buffers(self, T, m):
        H = self.n_hidden
        return self._buffers(T, m, G=(T, m, 4 * H), dG=(T, m, 4 * H), C=(T + 1, m, H),
                             TC=(T, m, H), dc=(m, H), work3=(m, 3 * H))

    def forward(self, X, buf, T):
        if self.compiled:
            kernels.run("lstm_forward", X, self.W_x, self.W_h, self.b, buf.H, buf.C,
                        buf.G[:T], buf.TC, buf.dG[0])
            return
        m, H = X.shape[1], self.n_hidden
        Hs, C, G, TC = buf.H, buf.C, buf.G[:T], buf.TC
        C[0] = 0.0
        np.matmul(X.reshape(T * m, -1), self.W_x, out=G.reshape(T * m, -1))
        G += self.b
        rec = buf.dG[0]  # scratch (m, 4H); dG is free during the forward pass
        for t in range(T):
            g = G[t]
            np.matmul(Hs[t], self.W_h, out=rec)
            g += rec
            _SIGMOID.forward(g[:, :3 * H], g[:, :3 * H])
            _TANH.forward(g[:, 3 * H:], g[:, 3 * H:])
            i, f, o, gg = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
            c = C[t + 1]
            np.multiply(f, C[t], out=c)
            np.multiply(i, gg, out=buf.work)
            c += buf.work
            np.tanh(c, out=TC[t])
            np.multiply(o, TC[t], out=Hs[t + 1])

    def backward(self, X, dH, buf, T, dX=None):
        if self.compiled:
            kernels.run("lstm_backward", X, dH, self.W_x, self.W_h, buf.H, buf.C, buf.G,
                        buf.TC, buf.dG[:T], buf.dc, buf.carry, *buf.grads,
                        X if dX is None else dX, dX is not None)
            return
        H = self.n_hidden
        G, dG, C, TC, dc, w, carry = buf.G, buf.dG[:T], buf.C, buf.TC, buf.dc, buf.work, buf.carry
        dc.fill(0.0)
        for t in range(T - 1, -1, -1):
            dh = dH[t]
            if t < T - 1:
                dh += carry
            g, d = G[t], dG[t]
            i, f, o, gg = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
            di, df, do, dgg = d[:, :H], d[:, H:2 * H], d[:, 2 * H:3 * H], d[:, 3 * H:]
            tc = TC[t]
            np.multiply(dh, tc, out=do)
            np.multiply(tc, tc, out=w)
            np.subtract(1.0, w, out=w)
            w *= o
            w *= dh
            dc += w  # dL/dc_t
            np.multiply(dc, gg, out=di)
            np.multiply(dc, i, out=dgg)
            np.multiply(dc, C[t], out=df)
            dc *= f  # carried to step t-1
            _SIGMOID.backward(g[:, :3 * H], d[:, :3 * H], buf.work3)
            _TANH.backward(gg, dgg, w)
            if t:
                np.matmul(d, self.W_h.T, out=carry)
        self._input_gradients(X, dG, dG, buf, T, dX)


class GRUCell(_Cell):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation::

        r = sigmoid(x W_xr + b_xr + h_{t-1} W_hr + b_hr)
        z = sigmoid(x W_xz + b_xz + h_{t-1} W_hz + b_hz)
        n = tanh(x W_xn + b_xn + r * (h_{t-1} W_hn + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Gate blocks in the order ``r, z, n``; input and recurrent biases are separate
    (``b_x``, ``b_h``) because ``r`` multiplies the recurrent part of ``n`` only. BPTT::

        dn = dh (1 - z)      dz = dh (h_{t-1} - n)     dh_{t-1} = dh z + d(gh) W_h^T
        d(n pre) = dn (1 - n^2)   dr = d(n pre) * (h_{t-1} W_hn + b_hn)
        d(gx) = [dr r(1-r), dz z(1-z), d(n pre)]   d(gh) = [.., .., d(n pre) * r]
    """

    names = ("W_x", "W_h", "b_x", "b_h")
    n_gates = 3

    def __init__(self, n_in, n_hidden, rng, dtype, init):
        super().__init__(n_in, n_hidden, rng, dtype, init)
        self.b_x = np.zeros(3 * n_hidden, dtype=dtype)
        self.b_h = np.zeros(3 * n_hidden, dtype=dtype)

    def buffers(self, T, m):
        H = self.n_hidden
        return self._buffers(T, m, GX=(T, m, 3 * H), GH=(T, m, 3 * H), dGx=(T, m, 3 * H),
                             dGh=(T, m, 3 * H), work2=(m, 2 * H))

    def forward(self, X, buf, T):
        if self.compiled:
            kernels.run("gru_forward", X, self.W_x, self.W_h, self.b_x, self.b_h, buf.H,
                        buf.GX[:T], buf.GH[:T])
            return
        m, H, Hs = X.shape[1], self.n_hidden, buf.H
        GX, GH = buf.GX[:T], buf.GH
        np.matmul(X.reshape(T * m, -1), self.W_x, out=GX.reshape(T * m, -1))
        GX += self.b_x
        for t in range(T):
            gx, gh = GX[t], GH[t]
            np.matmul(Hs[t], self.W_h, out=gh)
            gh += self.b_h
            rz = gx[:, :2 * H]  # the gates overwrite the input part in place
            rz += gh[:, :2 * H]
            _SIGMOID.forward(rz, rz)
            r, z, n = gx[:, :H], gx[:, H:2 * H], gx[:, 2 * H:]
            np.multiply(r, gh[:, 2 * H:], out=buf.work)
            n += buf.work
            _TANH.forward(n, n)
            h = Hs[t + 1]
            np.subtract(Hs[t], n, out=h)
            h *= z
            h += n

    def backward(self, X, dH, buf, T, dX=None):
        if self.compiled:
            kernels.run("gru_backward", X, dH, self.W_x, self.W_h, buf.H, buf.GX, buf.GH,
                        buf.dGx[:T], buf.dGh[:T], buf.carry, *buf.grads,
                        X if dX is None else dX, dX is not None)
            return
        H, Hs, w, carry = self.n_hidden, buf.H, buf.work, buf.carry
        for t in range(T - 1, -1, -1):
            dh = dH[t]
            if t < T - 1:
                dh += carry
            gx, gh, dgx, dgh = buf.GX[t], buf.GH[t], buf.dGx[t], buf.dGh[t]
            r, z, n, hn = gx[:, :H], gx[:, H:2 * H], gx[:, 2 * H:], gh[:, 2 * H:]
            dr, dz, dn = dgx[:, :H], dgx[:, H:2 * H], dgx[:, 2 * H:]
            np.subtract(Hs[t], n, out=dz)
            dz *= dh
            np.subtract(1.0, z, out=dn)
            dn *= dh
            _TANH.backward(n, dn, w)  # dn: d(n pre-activation)
            np.multiply(dn, hn, out=dr)
            _SIGMOID.backward(gx[:, :2 * H], dgx[:, :2 * H], buf.work2)
            dgh[:, :2 * H] = dgx[:, :2 * H]
            np.multiply(dn, r, out=dgh[:, 2 * H:])
            if t:
                np.matmul(dgh, self.W_h.T, out=carry)
                np.multiply(dh, z, out=w)
                carry += w
        self._input_gradients(X, buf.dGx[:T], buf.dGh[:T], buf, T, dX)


# ======================================================================================
# The model: stacked cells + a dense output layer applied per step (or at the last step)
# ======================================================================================
class RecurrentNetwork:
    """Base class of :class:`RNN`, :class:`LSTM` and :class:`GRU`: stacked recurrent
    layers of ``cell_class`` and a dense output layer. See :class:`RNN` for the
    parameters."""

    cell_class: type[_Cell] = RNNCell

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int,
        n_outputs: int,
        *,
        layers: int = 1,
        output_activation: str = "identity",
        loss: str = "mse",
        target: str = "every",
        optimizer: Optimizer | None = None,
        init: str = "glorot",
        seed: int | None = None,
        dtype=np.float64,
        **cell_options,
    ):
        for name, v in (("n_inputs", n_inputs), ("n_hidden", n_hidden),
                        ("n_outputs", n_outputs), ("layers", layers)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if target not in ("every", "last"):
            raise ValueError(f"target: expected 'every' or 'last', got {target!r}")
        dtype = check_dtype(dtype)
        self.n_inputs, self.n_hidden, self.n_outputs = int(n_inputs), int(n_hidden), int(n_outputs)
        self.n_layers, self.target, self.init = int(layers), target, init
        self.dtype, self.seed, self.cell_options = dtype, seed, cell_options
        self.output_activation = get_activation(output_activation)
        self.loss = get_loss(loss)
        self.loss.check_output(self.output_activation)
        self.optimizer = optimizer if optimizer is not None else SGD(0.001)
        self.metadata: dict = {}  # saved with the model (data scaler, feature names, ...)
        self.rng = np.random.default_rng(seed)
        sizes = [self.n_inputs] + [self.n_hidden] * self.n_layers
        self.cells = [self.cell_class(n_in, self.n_hidden, self.rng, self.dtype, init,
                                      **cell_options) for n_in in sizes[:-1]]
        self.W_y = get_initializer(init)(self.rng, self.n_hidden, self.n_outputs, self.dtype)
        self.b_y = np.zeros(self.n_outputs, dtype=self.dtype)

    # ----------------------------------------------------------------------------------
    @property
    def params(self) -> list[np.ndarray]:
        """All parameter arrays: each layer's cell parameters, then ``W_y``, ``b_y``."""
        return [p for c in self.cells for p in c.params] + [self.W_y, self.b_y]

    def _decay_flags(self) -> list[bool]:
        return [n.startswith("W") for c in self.cells for n in c.names] + [True, False]

    def tensors(self) -> dict[str, np.ndarray]:
        """Parameters by name: ``layers.0.W_x``, ..., ``W_y``, ``b_y``."""
        out = {f"layers.{i}.{n}": getattr(c, n)
               for i, c in enumerate(self.cells) for n in c.names}
        out.update(W_y=self.W_y, b_y=self.b_y)
        return out

    def config(self) -> dict:
        """Constructor arguments (JSON-ready) plus ``metadata``, as stored when saving."""
        return {
            "n_inputs": self.n_inputs, "n_hidden": self.n_hidden, "n_outputs": self.n_outputs,
            "layers": self.n_layers, "output_activation": self.output_activation.name,
            "loss": self.loss.name, "target": self.target, "init": self.init,
            "seed": self.seed, "dtype": np.dtype(self.dtype).name, **self.cell_options,
            "metadata": self.metadata,
        }

    def save(self, path) -> None:
        """Save to ``path`` in nablanet's safe, versioned format (see :mod:`nablanet.io`)."""
        io.save(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save` (checked against this class)."""
        return io.load(path, expect=cls)

    @classmethod
    def from_saved(cls, config: dict, tensors: dict[str, np.ndarray]):
        """Rebuild a model from :meth:`config` and :meth:`tensors` (checked)."""
        config = dict(config)
        metadata = config.pop("metadata", {})
        model = cls(**config)
        io.assign(model.tensors(), tensors)
        model.metadata = metadata
        return model

    # ----------------------------------------------------------------------------------
    # Data at the edge
    # ----------------------------------------------------------------------------------
    def _prepare(self, X, Y=None, mask=None, name: str = "X"):
        """Time-major inputs ``(T, n, F)``, mask ``(T, n)`` (0/1 in the model's dtype),
        lengths ``(n,)`` and targets:
        ``(T, n, L)`` for ``target="every"``, ``(n, L)`` for ``"last"``."""
        X = np.asarray(X)
        if X.ndim == 2 and self.n_inputs == 1:
            X = X[..., None]
        if X.ndim != 3 or X.shape[2] != self.n_inputs:
            raise ValueError(f"{name}: expected shape (n_sequences, n_steps, {self.n_inputs}), "
                             f"got {X.shape}")
        n, T = X.shape[:2]
        if n == 0 or T == 0:
            raise ValueError(f"{name}: expected at least one sequence with one step, got {X.shape}")
        if mask is None:
            mask = np.ones((n, T), dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n, T):
            raise ValueError(f"mask: expected shape {(n, T)}, got {mask.shape}")
        lengths = mask.sum(axis=1)
        if (lengths == 0).any() or not (mask == (np.arange(T) < lengths[:, None])).all():
            raise ValueError("mask: every sequence needs >= 1 valid step, valid steps first")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name}: expected real numbers, got dtype {X.dtype}")
        X = X.astype(self.dtype, copy=False)
        if not np.isfinite(X[mask]).all():
            raise ValueError(f"{name}: contains NaN or infinite values on valid steps")
        if not mask.all():  # padding is computed (then ignored): make it harmless zeros
            X = np.where(mask[..., None], X, 0).astype(self.dtype, copy=False)
        Xt = np.ascontiguousarray(X.transpose(1, 0, 2))
        maskt = np.ascontiguousarray(mask.T, dtype=self.dtype)
        Y = None if Y is None else self._targets(Y, n, T, lengths)
        return Xt, maskt, lengths, Y

    def _targets(self, Y, n, T, lengths):
        Y = np.asarray(Y)
        L = self.n_outputs
        labels = self.output_activation.name == "softmax"
        per_step = Y.ndim >= 2 and Y.shape[:2] == (n, T) and (Y.ndim == 3 or labels)
        if self.target == "last" and per_step:  # labels of every step given: take the last
            Y = Y[np.arange(n), lengths - 1]
            per_step = False
        if self.target == "every" and not per_step:
            raise ValueError(f"Y: target='every' needs one label per step, shape ({n}, {T}, "
                             f"{L}){' or (n, n_steps) class labels' if labels else ''}; "
                             f"got {Y.shape}")
        lead = (n, T) if per_step else (n,)
        if labels and Y.shape in (lead, (*lead, 1)) and L > 1:
            Y = one_hot(Y.reshape(lead), L, self.dtype, "Y")
        if Y.shape == lead and L == 1:
            Y = Y[..., None]
        if Y.shape != (*lead, L):
            raise ValueError(f"Y: expected shape {(*lead, L)}, got {Y.shape}")
        Y = Y.astype(self.dtype, copy=False)
        return np.ascontiguousarray(Y.transpose(1, 0, 2)) if per_step else Y

    # ----------------------------------------------------------------------------------
    # Forward and backward over one time-major mini-batch
    # ----------------------------------------------------------------------------------
    def _workspace(self, T: int, m: int) -> _Workspace:
        return _Workspace(self, T, m)

    def _forward(self, ws: _Workspace, T: int) -> np.ndarray:
        """Run the cells and the output layer on ``ws.X[:T]``; returns the output
        activations, ``(T*m, L)`` rows for ``target="every"``, ``(m, L)`` for ``"last"``
        (at each sequence's last valid step ``ws.lengths``)."""
        x = ws.X[:T]
        for cell, buf in zip(self.cells, ws.layers, strict=True):
            cell.forward(x, buf, T)
            x = buf.H[1:T + 1]
        m = ws.m
        if self.target == "every":
            h, z, a = x.reshape(T * m, -1), ws.Z[:T * m], ws.A[:T * m]
        else:
            # row of h_t at each sequence's last valid step t = lengths in the flattened
            # states H[1:] (T, m, H): t * m + i (the same row of dL/dh in the backward pass)
            np.multiply(ws.lengths, m, out=ws.rows)
            ws.rows += ws.arange
            np.take(ws.layers[-1].H[1:].reshape(-1, self.n_hidden), ws.rows, axis=0,
                    out=ws.h_last)
            h, z, a = ws.h_last, ws.Z, ws.A
        np.matmul(h, self.W_y, out=z)
        z += self.b_y
        self.output_activation.forward(z, a)
        return a

    def _backward(self, ws: _Workspace, T: int, targets: np.ndarray, weights: np.ndarray):
        """BPTT for the batch after :meth:`_forward`; gradients land in ``ws.grads``.

        ``targets`` match the output rows; ``weights`` (rows, 1) scale each row's output
        error: the mask divided by the batch size (0 on padded steps)."""
        m, L = ws.m, len(self.cells) - 1
        rows = T * m if self.target == "every" else m
        a, dy = ws.A[:rows], ws.dY[:rows]
        self.loss.delta(a, targets, self.output_activation, dy, ws.dY_work[:rows])
        dy *= weights
        gW_y, gb_y = ws.grads[-2:]
        top = ws.layers[L]
        if self.target == "every":
            h = top.H[1:T + 1].reshape(rows, -1)
            np.matmul(h.T, dy, out=gW_y)
            np.matmul(dy, self.W_y.T, out=ws.dH[L][:T].reshape(rows, -1))
        else:
            np.matmul(ws.h_last.T, dy, out=gW_y)
            dH = ws.dH[L][:T]
            dH.fill(0.0)
            np.matmul(dy, self.W_y.T, out=ws.h_last)  # h_last is free now: reuse it
            dH.reshape(-1, self.n_hidden)[ws.rows] = ws.h_last
        np.add.reduce(dy, axis=0, out=gb_y)
        for k in range(L, -1, -1):
            x = ws.X[:T] if k == 0 else ws.layers[k - 1].H[1:T + 1]
            dX = ws.dH[k - 1][:T] if k else None
            self.cells[k].backward(x, ws.dH[k][:T], ws.layers[k], T, dX)

    def _batch(self, ws: _Workspace, data, idx: np.ndarray) -> tuple[int, np.ndarray]:
        """Gather sequences ``idx`` of ``data`` into the workspace; returns the number of
        steps ``T`` of the batch (its longest sequence) and the targets of its rows."""
        Xt, maskt, lengths, Y = data
        T = int(lengths[idx].max())
        np.take(Xt[:T], idx, axis=1, out=ws.X[:T])
        m = ws.m
        if self.target == "every":
            np.take(Y[:T], idx, axis=1, out=ws.Y[:T])
            np.take(maskt[:T], idx, axis=1, out=ws.weights[:T])
            ws.weights[:T] *= 1.0 / m
            return T, ws.Y[:T].reshape(T * m, -1)
        np.take(lengths, idx, out=ws.lengths)
        ws.lengths -= 1
        np.take(Y, idx, axis=0, out=ws.Y[0])
        return T, ws.Y[0]

    def _train_batch(self, ws: _Workspace, data, idx: np.ndarray) -> None:
        T, targets = self._batch(ws, data, idx)
        self._forward(ws, T)
        weights = ws.weights[:T].reshape(T * ws.m, 1) if self.target == "every" else ws.inv_m
        self._backward(ws, T, targets, weights)

    # ----------------------------------------------------------------------------------
    # Public: gradients, loss, fit, predict
    # ----------------------------------------------------------------------------------
    def gradients(self, X, Y, mask=None) -> list[np.ndarray]:
        """Gradients of :meth:`loss` (the batch mean over sequences) with respect to
        :attr:`params`, in that order, for the batch ``X (n, T, F)``, ``Y``, ``mask``."""
        data = self._prepare(X, Y, mask)
        n = data[0].shape[1]
        ws = self._workspace(data[0].shape[0], n)
        self._train_batch(ws, data, np.arange(n))
        return [g.copy() for g in ws.grads]

    def loss_value(self, X, Y, mask=None) -> float:
        """The training objective on ``X``: the mean over sequences of the loss summed over
        each sequence's labelled steps (the quantity :meth:`gradients` differentiates)."""
        data = self._prepare(X, Y, mask)
        return self._evaluate(data)["loss_sum"] / data[0].shape[1]

    def _evaluate(self, data) -> dict:
        """Loss and outputs over a whole prepared data set, in chunks of sequences."""
        Xt, maskt, lengths, Y = data
        n, T = Xt.shape[1], Xt.shape[0]
        L = self.n_outputs
        outputs = np.zeros((T, n, L) if self.target == "every" else (n, L), dtype=self.dtype)
        loss_sum = 0.0
        for start in range(0, n, _EVAL_CHUNK):
            idx = np.arange(start, min(n, start + _EVAL_CHUNK))
            ws = self._workspace(int(lengths[idx].max()), len(idx))
            if Y is None:
                Tb = ws.T
                np.take(Xt[:Tb], idx, axis=1, out=ws.X[:Tb])
                np.subtract(np.take(lengths, idx), 1, out=ws.lengths)
            else:
                Tb, targets = self._batch(ws, data, idx)
            a = self._forward(ws, Tb)
            if self.target == "every":
                outputs[:Tb, idx] = a.reshape(Tb, len(idx), L)
                if Y is not None:
                    z = ws.Z[:Tb * len(idx)]
                    loss_sum += self.loss.value(z, a, targets, maskt[:Tb, idx].reshape(-1) > 0)
            else:
                outputs[idx] = a
                if Y is not None:
                    loss_sum += self.loss.value(ws.Z, a, targets)
        if self.target == "every":
            outputs *= maskt[..., None]  # zeros on padded steps
        return {"outputs": outputs, "loss_sum": loss_sum}

    def fit(
        self,
        X,
        Y,
        mask=None,
        *,
        epochs: int = 10,
        batch_size: int = 1,
        validation_data=None,
        schedule: Schedule | None = None,
        early_stopping: EarlyStopping | None = None,
        eval_every: int = 1,
        threshold: float = 0.5,
        monitor_training: bool = True,
        shuffle: bool = True,
        progress: bool = True,
        backend: str = "auto",
        threads: int | None = None,
    ) -> History:
        """Train by BPTT and the model's optimizer.

        Parameters
        ----------
        X : array ``(n, T, F)``; Y : targets (see the module docstring); mask : bool ``(n, T)``
        epochs : int
        batch_size : int, default 1
            Sequences per update; 1 is the Rust seed's semantics.
        validation_data : tuple ``(X, Y)`` or ``(X, Y, mask)``, optional
            Test data, evaluated separately from the training data.
        schedule, early_stopping : optional
            See :mod:`nablanet.training`.
        eval_every : int
            Evaluate (and log the seed's epoch line) every this many epochs and at the end.
        threshold : float
            Decision threshold for the accuracy of a sigmoid output.
        monitor_training : bool
            Also evaluate on the training data (``train_loss``, ``train_accuracy`` ...).
        shuffle : bool
            Reshuffle the sequences every epoch (the seed does not).
        backend : ``"auto"``, ``"numpy"`` or ``"numba"``
            ``numpy`` is the batched NumPy BPTT (the reference); ``numba`` the compiled
            kernels: for the RNN :func:`nablanet.kernels.rnn_sgd_epoch` (one vanilla
            RNN layer, plain SGD; ``auto`` picks it when ``batch_size <= 16``, where it
            is faster: ``benchmarks/rnn_epoch.py``); for LSTM and GRU the fused cell
            kernels (:func:`nablanet.kernels.lstm_forward` ...; any depth and optimizer;
            ``auto`` picks them whenever Numba is installed:
            ``benchmarks/recurrent_cells.py``).
        threads : int, optional
            BLAS threads while training; default: 1 for the small products of these
            networks (:func:`nablanet.training.thread_limit`).

        Returns
        -------
        History
            Per evaluation: ``seconds``, ``lr``, ``train_loss`` (mean per labelled step),
            ``train_accuracy`` (classification) or ``train_rmse`` (regression), and the
            same with ``val_`` for ``validation_data``.

        Raises
        ------
        ValueError
            For data of the wrong shape, a bad mask, labels out of range, a batch size
            larger than the data, or ``backend="numba"`` for a model the kernel does not
            cover.
        ImportError
            For ``backend="numba"`` without Numba installed.
        """
        data = self._prepare(X, Y, mask)
        val = None
        if validation_data is not None:
            val = self._prepare(*validation_data, name="validation_data[0]")
        n, T = data[0].shape[1], data[0].shape[0]
        check_fit_args(n, epochs, batch_size, eval_every)
        work = self._workspace(T, batch_size)
        rest = n % batch_size
        work_rest = self._workspace(T, rest) if rest else None
        params, decay = self.params, self._decay_flags()

        def train_batches(idx):
            for start in range(0, len(idx), batch_size):
                batch = idx[start:start + batch_size]
                ws = work if len(batch) == work.m else work_rest
                self._train_batch(ws, data, batch)
                self.optimizer.step(params, ws.grads, decay)

        if type(self.cells[0]) is RNNCell:
            if kernels.use_numba(backend, self._kernel_unsupported(), batch_size,
                                 AUTO_NUMBA_MAX_BATCH):
                train_batches = self._compiled_trainer(data, batch_size)
        else:  # LSTM, GRU: the cells' forward and BPTT by the kernels, any optimizer
            compiled = kernels.use_numba(backend, None, batch_size, AUTO_CELL_MAX_BATCH)
            for cell in self.cells:
                cell.compiled = compiled
        largest = batch_size * max(max(c.W_x.size, c.W_h.size) for c in self.cells)

        def evaluate():
            logs = {}
            if monitor_training:
                logs.update(self._metrics(data, "train", threshold))
            if val is not None:
                logs.update(self._metrics(val, "val", threshold))
            return logs

        return fit_loop(
            n_samples=n, epochs=epochs, batch_size=batch_size, rng=self.rng,
            train_batches=train_batches, evaluate=evaluate, epoch_line=self._epoch_line,
            optimizer=self.optimizer, get_params=lambda: params, schedule=schedule,
            early_stopping=early_stopping, eval_every=eval_every, shuffle=shuffle,
            progress=progress, threads=thread_limit(threads, largest),
        )

    def _kernel_unsupported(self) -> str | None:
        """Why :func:`nablanet.kernels.rnn_sgd_epoch` cannot train this model, or None."""
        if type(self.cells[0]) is not RNNCell or len(self.cells) > 1:
            return "the kernel covers one vanilla RNN layer only"
        if kernels.delta_mode(self.loss, self.output_activation) is None:
            return f"loss {self.loss.name} on {self.output_activation.name} outputs"
        return kernels.plain_sgd_unsupported(self.optimizer)

    def _compiled_trainer(self, data, batch_size: int):
        """``train_batches`` for :func:`fit_loop` running the compiled kernel."""
        Xt, _, lengths, Y = data
        T, H, L, dt = Xt.shape[0], self.n_hidden, self.n_outputs, self.dtype
        cell = self.cells[0]
        last = self.target == "last"
        # the kernel reads one sequence at a time, in random order: batch-major copies
        Xk = np.ascontiguousarray(Xt.transpose(1, 0, 2))
        Yk = Y[:, None] if last else np.ascontiguousarray(Y.transpose(1, 0, 2))
        codes = (kernels.ACT_CODES[cell.activation.name],
                 kernels.ACT_CODES[self.output_activation.name],
                 kernels.delta_mode(self.loss, self.output_activation))
        buffers = (np.zeros((T + 1, H), dt), np.empty((T, L), dt), np.empty((T, L), dt),
                   *[np.empty_like(p) for p in self.params], np.empty(H, dt), np.empty(H, dt))

        def train_batches(idx: np.ndarray) -> None:
            kernels.run("rnn_sgd_epoch", Xk, Yk, lengths, idx, batch_size, last,
                        cell.W_x, cell.W_h, cell.b, self.W_y, self.b_y, *codes,
                        self.optimizer.lr, *buffers)

        train_batches(np.empty(0, dtype=np.int64))  # compile (or load) before epoch 0
        return train_batches

    def _metrics(self, data, prefix: str, threshold: float) -> dict:
        result = self._evaluate(data)
        _, maskt, _, Y = data
        out = result["outputs"]
        if self.target == "every":
            out, Y = out[maskt > 0], Y[maskt > 0]
        logs = {f"{prefix}_loss": result["loss_sum"] / len(out)}
        kind = self.output_activation.name
        if kind == "softmax":
            logs[f"{prefix}_accuracy"] = float((out.argmax(-1) == Y.argmax(-1)).mean())
        elif kind == "sigmoid":
            logs[f"{prefix}_accuracy"] = float(((out >= threshold) == (Y >= 0.5)).mean())
        else:
            logs[f"{prefix}_rmse"] = float(np.sqrt(((out - Y) ** 2).mean()))
        return logs

    @staticmethod
    def _epoch_line(logs: dict) -> str:
        loss = logs.get("train_loss", logs.get("val_loss", float("nan")))
        parts = [f"Epoch {logs['epoch'] + 1}: Loss = {loss:.6f}"]
        for prefix, title in (("train", "Train"), ("val", "Test")):
            if f"{prefix}_accuracy" in logs:
                parts.append(f"{title} Accuracy: {100 * logs[f'{prefix}_accuracy']:.2f}%")
            elif f"{prefix}_rmse" in logs:
                parts.append(f"{title} RMSE: {logs[f'{prefix}_rmse']:.6f}")
        parts.append(f"{logs['seconds']:.2f} s")
        return " | ".join(parts)

    def predict_proba(self, X, mask=None) -> np.ndarray:
        """Output activations: ``(n, T, L)`` for ``target="every"`` (zeros on padded
        steps), ``(n, L)`` for ``"last"``."""
        out = self._evaluate(self._prepare(X, None, mask))["outputs"]
        return out.transpose(1, 0, 2) if self.target == "every" else out

    def predict(self, X, mask=None, *, threshold: float = 0.5) -> np.ndarray:
        """Predictions: class index (softmax output, shape ``(n, T)``/``(n,)``), 0/1 per
        output at ``threshold`` (sigmoid) or the output values (other activations), both
        of shape ``(n, T, L)``/``(n, L)``."""
        out = self.predict_proba(X, mask)
        kind = self.output_activation.name
        if kind == "softmax":
            return out.argmax(-1)
        if kind == "sigmoid":
            return (out >= threshold).astype(np.int64)
        return out


class _Workspace:
    """All work buffers of a model for mini-batches of ``m`` sequences of up to ``T``
    steps: allocated once per ``fit`` (and once per evaluation chunk), then reused."""

    def __init__(self, model: RecurrentNetwork, T: int, m: int):
        dt, L, H = model.dtype, model.n_outputs, model.n_hidden
        self.T, self.m, self.inv_m = T, m, 1.0 / m
        self.X = np.empty((T, m, model.n_inputs), dtype=dt)
        self.layers = [c.buffers(T, m) for c in model.cells]
        self.dH = [np.empty((T, m, H), dtype=dt) for _ in model.cells]
        rows = T * m if model.target == "every" else m
        self.Z, self.A = np.empty((rows, L), dtype=dt), np.empty((rows, L), dtype=dt)
        self.dY, self.dY_work = np.empty((rows, L), dtype=dt), np.empty((rows, L), dtype=dt)
        self.Y = np.empty((T, m, L) if model.target == "every" else (1, m, L), dtype=dt)
        self.weights = np.empty((T, m), dtype=dt)
        self.lengths = np.empty(m, dtype=np.int64)  # last valid step index per sequence
        self.rows = np.empty(m, dtype=np.int64)
        self.arange = np.arange(m, dtype=np.int64)
        self.h_last = np.empty((m, H), dtype=dt)
        self.grads = [g for buf in self.layers for g in buf.grads] + [
            np.empty_like(model.W_y), np.empty_like(model.b_y)]


class RNN(RecurrentNetwork):
    """Vanilla (Elman) recurrent network trained by BPTT, the model of the Rust seed.

    ``h_t = f(x_t W_x + h_{t-1} W_h + b)`` per layer (see :class:`RNNCell`), then
    ``y_t = g(h_t W_y + b_y)`` at every step (``target="every"``) or at the last valid
    step (``target="last"``).

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        Features per step ``F``, hidden units ``H``, outputs per step ``L``.
    activation : str, default ``"tanh"``
        Hidden activation: ``tanh``, ``relu`` or ``sigmoid``.
    output_activation : str, default ``"identity"``
        ``identity`` (regression), ``sigmoid`` (binary), ``softmax`` (multiclass).
    loss : str, default ``"mse"``
        ``mse`` (the seed's), ``binary_cross_entropy`` (sigmoid), ``cross_entropy`` (softmax).
    target : ``"every"`` or ``"last"``
        Many-to-many or many-to-one.
    layers : int, default 1
        Stacked recurrent layers.
    optimizer : Optimizer, default ``SGD(0.001)``
    init : str, default ``"glorot"``
        Initialiser of the input and output weights; recurrent weights are orthogonal,
        biases zero.
    seed : int, optional
        Same seed, same result.
    dtype : float64 or float32

    Shapes: ``W_x (F, H)``, ``W_h (H, H)``, ``b (H,)`` per layer, ``W_y (H, L)``,
    ``b_y (L,)``.

    Raises
    ------
    ValueError
        For non-positive sizes, unknown names, or a loss that does not fit the output.
    """

    cell_class = RNNCell

    def __init__(self, n_inputs, n_hidden, n_outputs, *, activation: str = "tanh", **kwargs):
        super().__init__(n_inputs, n_hidden, n_outputs, activation=activation, **kwargs)


class LSTM(RecurrentNetwork):
    """LSTM network (see :class:`LSTMCell`); same parameters as :class:`RNN` without
    ``activation``. Shapes per layer: ``W_x (F, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``,
    gate blocks ``i, f, o, g``."""

    cell_class = LSTMCell


class GRU(RecurrentNetwork):
    """GRU network (see :class:`GRUCell`); same parameters as :class:`RNN` without
    ``activation``. Shapes per layer: ``W_x (F, 3H)``, ``W_h (H, 3H)``, ``b_x (3H,)``,
    ``b_h (3H,)``, gate blocks ``r, z, n``."""

    cell_class = GRUCell


MODELS = (RNN, LSTM, GRU)

"""Recurrent layers: a vanilla (Elman) RNN, an LSTM and a GRU over whole sequences,
trained by backpropagation through time (BPTT).

Each layer maps a batch-major mini-batch of sequences ``X (m, n_steps, n_in)`` to the
hidden states of every step ``(m, n_steps, n_hidden)``, so layers stack. Inside, a
mini-batch is time-major, ``(n_steps, m, .)``, so that each step is one contiguous
``(m, .)`` matrix: the input-to-hidden products of all steps, and all weight gradients,
are single large matrix products over ``n_steps * m`` rows; only the recurrence loops
over time. Work buffers are made per mini-batch shape by :meth:`Recurrent.allocate`
(and once for each other shape met, such as the short last mini-batch) and reused.

Variable-length sequences are the model's business, once, in the batch
(:class:`nablanet.models.recurrent.RecurrentNetwork`): padded steps come after the valid
ones with zero inputs and carry no loss, so no gradient flows through them and the layer
needs no mask. Initialisation: input weights from ``init`` (one draw per gate block),
recurrent weights orthogonal (one per gate block), biases zero (the LSTM's forget gate 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np

from nablanet.activations import ACTIVATIONS, get_activation
from nablanet.init import check_dtype, get_initializer
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["GRULayer", "LSTMLayer", "RNNLayer", "Recurrent"]

_SIGMOID, _TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]


class _Buffers:
    """Work buffers of a layer for the rows of one mini-batch shape: these, and the
    subclass's (``_extra_buffers``)."""

    X: np.ndarray  # (T, m, n_in) time-major inputs
    H: np.ndarray  # (T + 1, m, H) hidden states, H[0] = 0
    dH: np.ndarray  # (T, m, H) dL/dh from above
    dXt: np.ndarray  # (T, m, n_in) dL/dX, time-major
    carry: np.ndarray  # (m, H) gradient carried to the previous step
    work: np.ndarray  # (m, H) scratch

    def __init__(self, **arrays):
        self.__dict__.update(arrays)


class Recurrent(Layer):
    """Base of the recurrent layers: the weights ``W_x (n_in, G*H)`` and ``W_h (H, G*H)``
    (``G`` gate blocks of ``H`` columns), the time-major buffers, and the shared parts of
    BPTT. Subclasses set ``n_gates``, make their biases and write the recurrence
    (``_steps_forward`` and ``_steps_backward``).

    Parameters
    ----------
    n_in, n_hidden : int
        Features per step and hidden units ``H``.
    init : str, default ``"glorot"``
        Initialiser of the input weights (see :mod:`nablanet.init`).
    seed : int or numpy.random.Generator, optional
        Source of the draws: ``W_x`` gate block by gate block, then ``W_h``.
    dtype : float64 or float32

    Notes
    -----
    Shapes: input ``(m, n_steps, n_in)``, output ``(m, n_steps, n_hidden)``.
    """

    param_names: ClassVar[tuple[str, ...]] = ("W_x", "W_h", "b")
    n_gates: ClassVar[int] = 1
    #: the buffers ``(T + 1, m, H)`` that carry the state from step to step; row 0 is
    #: the state before the first step (zeros in :meth:`forward`, given in :meth:`step`)
    state_names: ClassVar[tuple[str, ...]] = ("H",)
    #: name of the compiled recurrence in :data:`nablanet.kernels.CELL_STEPS`, if any
    kernel: ClassVar[str | None] = None

    def __init__(self, n_in: int, n_hidden: int, *, init: str = "glorot", seed=None,
                 dtype=np.float64):
        for name, v in (("n_in", n_in), ("n_hidden", n_hidden)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{type(self).__name__} {name}: expected an integer >= 1, "
                                 f"got {v!r}")
        self.n_in, self.n_hidden, self.init = int(n_in), int(n_hidden), init
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        draw_x, orth = get_initializer(init), get_initializer("orthogonal")
        H, G, dt = self.n_hidden, self.n_gates, self.dtype
        self.W_x = np.concatenate([draw_x(rng, self.n_in, H, dt) for _ in range(G)], axis=1)
        self.W_h = np.concatenate([orth(rng, H, H, dt) for _ in range(G)], axis=1)
        self._make_biases()
        self.grads = [np.empty_like(p) for p in self.params()]
        self._bufs: dict[tuple[int, int], _Buffers] = {}
        self._io: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._buf: _Buffers | None = None  # the buffers of the last forward
        #: ``(steps_forward, steps_backward)`` of the compiled kernels replacing the NumPy
        #: recurrence below, or None; set by the model (``fit(backend=...)``)
        self.compiled_steps: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    def _make_biases(self) -> None:
        self.b = np.zeros(self.n_gates * self.n_hidden, dtype=self.dtype)

    def allocate(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.n_in:
            raise ValueError(f"{type(self).__name__}({self.n_in}, {self.n_hidden}): expected "
                             f"input shape (m, n_steps, {self.n_in}), got {tuple(input_shape)}")
        m, T, _ = input_shape
        self._bufs, self._io = {}, {}
        self._buffers(T, m)
        return (m, T, self.n_hidden)

    def forward_macs(self, output_shape):
        return (self.W_x.size + self.W_h.size) * output_shape[1]  # once per step

    def _buffers(self, T: int, m: int) -> _Buffers:
        """The time-major buffers for a mini-batch of ``m`` sequences of ``T`` steps,
        made on first use."""
        buf = self._bufs.get((T, m))
        if buf is None:
            H, F, dt = self.n_hidden, self.n_in, self.dtype
            buf = _Buffers(
                X=np.empty((T, m, F), dtype=dt), H=np.zeros((T + 1, m, H), dtype=dt),
                dH=np.empty((T, m, H), dtype=dt), dXt=np.empty((T, m, F), dtype=dt),
                carry=np.empty((m, H), dtype=dt), work=np.empty((m, H), dtype=dt),
            )
            for k, shape in self._extra_buffers(T, m).items():
                setattr(buf, k, np.empty(shape, dtype=dt))
            self._bufs[(T, m)] = buf
        return buf

    def _extra_buffers(self, T: int, m: int) -> dict[str, tuple[int, ...]]:
        return {}

    def _steps_forward(self, X: np.ndarray, buf: Any, T: int) -> None:
        """The recurrence over the time-major inputs ``X[:T] (T, m, n_in)`` from the
        state in row 0 of the state buffers: each subclass writes its cell's equations."""
        raise NotImplementedError

    def _outputs(self, T: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch-major results ``out (m, T, H)`` and ``dX (m, T, n_in)``, reused."""
        io = self._io.get((T, m))
        if io is None:
            io = self._io[(T, m)] = (np.empty((m, T, self.n_hidden), dtype=self.dtype),
                                     np.empty((m, T, self.n_in), dtype=self.dtype))
        return io

    def forward(self, X, training=False):
        m, T = X.shape[:2]
        buf = self._buf = self._buffers(T, m)
        out = self._outputs(T, m)[0]
        steps = type(self)._steps_forward if self.compiled_steps is None \
            else self.compiled_steps[0]
        np.copyto(buf.X, X.transpose(1, 0, 2))  # time-major: one (m, n_in) per step
        for name in self.state_names:  # every sequence starts from the zero state
            getattr(buf, name)[0] = 0.0
        steps(self, buf.X, buf, T)
        np.copyto(out, buf.H[1:].transpose(1, 0, 2))
        return out

    def step(self, x: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """One step of the recurrence: the state after ``x_t`` given the state before.

        The step is :meth:`forward`'s own recurrence (the NumPy one) run for one step
        from ``state``, so a sequence fed one step at a time gives :meth:`forward`'s
        hidden states.

        Parameters
        ----------
        x : ndarray ``(m, n_in)``
            The inputs of the current step of ``m`` sequences, in the layer's dtype.
        state : tuple of ndarray ``(m, H)``
            The state before the step, one array per :attr:`state_names` (``h``; ``h, c``
            for the LSTM); zeros before the first step.

        Returns
        -------
        tuple of ndarray ``(m, H)``
            The state after the step (new arrays); its first array is ``h_t``, the
            layer's output at this step.
        """
        buf: Any = self._buffers(1, len(x))
        buf.X[0] = x
        for name, value in zip(self.state_names, state, strict=True):
            getattr(buf, name)[0] = value
        self._steps_forward(buf.X, buf, 1)
        return tuple(getattr(buf, name)[1].copy() for name in self.state_names)

    def backward(self, dY, need_dX=True):
        m, T = dY.shape[:2]
        buf = cast(_Buffers, self._buf)
        dX = self._outputs(T, m)[1]
        steps = type(self)._steps_backward if self.compiled_steps is None \
            else self.compiled_steps[1]
        np.copyto(buf.dH, dY.transpose(1, 0, 2))
        steps(self, buf.X, buf.dH, buf, T, buf.dXt if need_dX else None)
        if not need_dX:
            return None
        np.copyto(dX, buf.dXt.transpose(1, 0, 2))
        return dX

    def _input_gradients(self, X, dGx, dGh, buf, T, dX):
        """The weight and bias gradients from the per-step pre-activation gradients, as
        three large products over all ``T * m`` rows, and ``dL/dX`` if asked."""
        m = X.shape[1]
        rows = T * m
        dGx2 = dGx.reshape(rows, -1)
        dGh2 = dGh.reshape(rows, -1)
        gW_x, gW_h, *gb = self.grads
        np.matmul(X.reshape(rows, -1).T, dGx2, out=gW_x)
        np.matmul(buf.H[:T].reshape(rows, -1).T, dGh2, out=gW_h)
        np.add.reduce(dGx2, axis=0, out=gb[0])
        if len(gb) == 2:
            np.add.reduce(dGh2, axis=0, out=gb[1])
        if dX is not None:
            np.matmul(dGx2, self.W_x.T, out=dX.reshape(rows, -1))

    def get_config(self):
        return {"n_in": self.n_in, "n_hidden": self.n_hidden, "init": self.init,
                "dtype": np.dtype(self.dtype).name}


@register("layer", "RNNLayer")
class RNNLayer(Recurrent):
    """Elman layer: ``h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)`` at every step.

    BPTT (Werbos 1990), with ``a_t`` the pre-activation::

        dL/da_t   = (dL/dh_t + dL/da_{t+1} W_hh^T) * f'(a_t)
        dL/dW_xh  = sum_t x_t^T dL/da_t      dL/dW_hh = sum_t h_{t-1}^T dL/da_t
        dL/db_h   = sum_t dL/da_t            dL/dx_t  = dL/da_t W_xh^T

    Parameters: those of :class:`Recurrent`, and ``activation`` (``tanh``, ``relu``,
    ``sigmoid``; default ``tanh``), ``f``.
    """

    def __init__(self, n_in: int, n_hidden: int, *, activation: str = "tanh", **kwargs):
        self.activation = get_activation(activation)
        if self.activation.name == "softmax":
            raise ValueError("activation: softmax is an output activation only")
        super().__init__(n_in, n_hidden, **kwargs)

    def _extra_buffers(self, T, m):
        return {"A": (T, m, self.n_hidden)}

    def _steps_forward(self, X, buf, T):
        m, f, Hs = X.shape[1], self.activation, buf.H
        A = buf.A[:T]
        np.matmul(X.reshape(T * m, -1), self.W_x, out=A.reshape(T * m, -1))
        A += self.b
        for t in range(T):
            h = Hs[t + 1]
            np.matmul(Hs[t], self.W_h, out=h)
            h += A[t]
            f.forward(h, h)

    def _steps_backward(self, X, dH, buf, T, dX):
        f, Hs, carry = self.activation, buf.H, buf.carry
        for t in range(T - 1, -1, -1):
            d = dH[t]
            if t < T - 1:
                d += carry
            f.backward(Hs[t + 1], d, buf.work)  # d is now dL/da_t
            if t:
                np.matmul(d, self.W_h.T, out=carry)
        self._input_gradients(X, dH[:T], dH[:T], buf, T, dX)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


@register("layer", "LSTMLayer")
class LSTMLayer(Recurrent):
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

    n_gates = 4
    kernel = "lstm"
    state_names = ("H", "C")

    def _make_biases(self):
        H = self.n_hidden
        self.b = np.zeros(4 * H, dtype=self.dtype)
        self.b[H:2 * H] = 1.0

    def _extra_buffers(self, T, m):
        H = self.n_hidden
        return {"G": (T, m, 4 * H), "dG": (T, m, 4 * H), "C": (T + 1, m, H), "TC": (T, m, H),
                "dc": (m, H), "work3": (m, 3 * H)}

    def _steps_forward(self, X, buf, T):
        m, H = X.shape[1], self.n_hidden
        Hs, C, G, TC = buf.H, buf.C, buf.G[:T], buf.TC
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

    def _steps_backward(self, X, dH, buf, T, dX):
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


@register("layer", "GRULayer")
class GRULayer(Recurrent):
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

    param_names = ("W_x", "W_h", "b_x", "b_h")
    n_gates = 3
    kernel = "gru"

    def _make_biases(self):
        self.b_x = np.zeros(3 * self.n_hidden, dtype=self.dtype)
        self.b_h = np.zeros(3 * self.n_hidden, dtype=self.dtype)

    def _extra_buffers(self, T, m):
        H = self.n_hidden
        return {"GX": (T, m, 3 * H), "GH": (T, m, 3 * H), "dGx": (T, m, 3 * H),
                "dGh": (T, m, 3 * H), "work2": (m, 2 * H)}

    def _steps_forward(self, X, buf, T):
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

    def _steps_backward(self, X, dH, buf, T, dX):
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

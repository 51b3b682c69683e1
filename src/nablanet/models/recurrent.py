"""Recurrent networks trained by backpropagation through time (BPTT): :class:`RNN`,
:class:`LSTM`, :class:`GRU`, each a :class:`Sequential` of recurrent layers
(:mod:`nablanet.layers.recurrent`) and a :class:`Dense` output layer applied at every
step, trained by the one ``fit`` of every model.

Data are batch-major: inputs ``X (n_sequences, n_steps, n_features)``, a boolean ``mask
(n_sequences, n_steps)`` that is True on the valid (left-aligned) steps of
variable-length sequences, and targets either at every step (``target="every"``,
many-to-many: ``Y (n, n_steps, n_outputs)``) or for the last valid step only
(``target="last"``, many-to-one: ``Y (n, n_outputs)``). Class labels may be given as
integers instead of one-hot rows.

Masks and last-valid-step targets are handled here, once, in the batch: the model always
computes an output at every step, and the loss weighs each (sequence, step) row by 1 if
it is labelled (a valid step for ``"every"``, the last valid step for ``"last"``) and 0
otherwise. So the loss of a mini-batch is the mean over its sequences of the loss
*summed over the labelled steps* of each sequence (the seed's per-step gradient
``dL/dy_t = y_t - target_t``), the gradient of a batch is the sum of the per-sequence
gradients divided by the batch size, and ``batch_size=1`` is the Rust seed's
one-sequence-per-update SGD. Padded steps (mask False) are computed on zero inputs but
carry no loss; because they come after the valid steps, no gradient flows through them,
and the result equals running each sequence at its own length.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, cast

import numpy as np

from nablanet import kernels
from nablanet.init import check_dtype
from nablanet.layers.dense import Dense
from nablanet.layers.recurrent import GRULayer, LSTMLayer, Recurrent, RNNLayer
from nablanet.losses import one_hot
from nablanet.models.sequential import Sequential
from nablanet.optimizers import SGD, Optimizer
from nablanet.registry import register

__all__ = ["GRU", "LSTM", "RNN", "RecurrentNetwork"]

#: backend="auto" runs the LSTM/GRU cell kernels up to this mini-batch size (all sizes
#: measured by benchmarks/recurrent_cells.py were faster)
AUTO_CELL_MAX_BATCH = 1 << 30


class RecurrentNetwork(Sequential):
    """Base of :class:`RNN`, :class:`LSTM` and :class:`GRU`: ``num_layers`` stacked
    recurrent layers of ``layer_class`` and a dense output layer at every step. See
    :class:`RNN` for the parameters."""

    layer_class: ClassVar[type[Recurrent]] = RNNLayer
    default_epochs = 10
    default_batch_size = 1
    auto_numba_max_batch = 16  # backend="auto": the compiled kernel up to this batch size
    whole_epoch_kernel = True  # rnn_sgd_epoch; LSTM and GRU run their layers' compiled steps
    targets_name = "Y"

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int,
        n_outputs: int,
        *,
        num_layers: int = 1,
        output_activation: str = "identity",
        loss: str = "mse",
        target: str = "every",
        optimizer: Optimizer | None = None,
        init: str = "glorot",
        seed: int | None = None,
        dtype=np.float64,
        layers: int | None = None,
        input_scaling=None,
        output_scaling=None,
        **cell_options,
    ):
        count = "num_layers"
        if layers is not None:
            warnings.warn("layers= (a count of recurrent layers) is deprecated: use "
                          "num_layers=; layers= will be removed in the next release",
                          DeprecationWarning,
                          stacklevel=2 if type(self).__init__ is RecurrentNetwork.__init__ else 3)
            num_layers, count = layers, "layers"
        for name, v in (("n_inputs", n_inputs), ("n_hidden", n_hidden),
                        ("n_outputs", n_outputs), (count, num_layers)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if target not in ("every", "last"):
            raise ValueError(f"target: expected 'every' or 'last', got {target!r}")
        dtype = check_dtype(dtype)
        self.n_inputs, self.n_hidden, self.n_outputs = int(n_inputs), int(n_hidden), int(n_outputs)
        self.num_layers, self.target, self.init = int(num_layers), target, init
        self.cell_options = cell_options
        rng = np.random.default_rng(seed)
        sizes = [self.n_inputs] + [self.n_hidden] * self.num_layers
        stack = [self.layer_class(n_in, self.n_hidden, init=init, seed=rng, dtype=dtype,
                                  **cell_options) for n_in in sizes[:-1]]
        head = Dense(self.n_hidden, self.n_outputs, init=init, seed=rng, dtype=dtype)
        super().__init__([*stack, head], output_activation=output_activation, loss=loss,
                         optimizer=optimizer if optimizer is not None else SGD(0.001),
                         seed=rng, dtype=dtype, input_scaling=input_scaling,
                         output_scaling=output_scaling)
        self.seed = seed

    # ----------------------------------------------------------------------------------
    @property
    def cells(self) -> list[Recurrent]:
        """The recurrent layers, input side first."""
        return cast("list[Recurrent]", self.layers[:-1])

    @property
    def W_y(self) -> np.ndarray:
        """Output weights ``(n_hidden, n_outputs)`` (the head's ``W``)."""
        return cast(Dense, self.layers[-1]).W

    @property
    def b_y(self) -> np.ndarray:
        """Output biases ``(n_outputs,)`` (the head's ``b``)."""
        return cast(Dense, self.layers[-1]).b

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """``(1, n_inputs)``: one step (sequences may have any length)."""
        return (1, self.n_inputs)

    @property
    def n_layers(self) -> int:
        """Same as :attr:`num_layers` (the name of nablanet 0.1)."""
        return self.num_layers

    def get_config(self) -> dict:
        """Constructor arguments (JSON-ready), as stored when saving."""
        return {
            "n_inputs": self.n_inputs, "n_hidden": self.n_hidden, "n_outputs": self.n_outputs,
            "num_layers": self.num_layers, "output_activation": self.output_activation.name,
            "loss": self.loss.name, "target": self.target, "init": self.init,
            "seed": self.seed, "dtype": np.dtype(self.dtype).name, **self.cell_options,
            **self.scaling_config(),
        }

    @classmethod
    def from_config(cls, config: dict):
        """Build a model from :meth:`get_config`'s dict."""
        return cls(**config)

    # ----------------------------------------------------------------------------------
    # Scoring as a sequence grows: the state from step to step
    # ----------------------------------------------------------------------------------
    def initial_state(self, n: int) -> dict[str, np.ndarray]:
        """The state of ``n`` sequences before their first step: zeros.

        Parameters
        ----------
        n : int
            Sequences scored together (>= 1).

        Returns
        -------
        dict of str to ndarray ``(n, n_hidden)``
            ``"h0", "h1", ...``: the hidden state of each recurrent layer (input side
            first); for an LSTM also ``"c0", "c1", ...``, the cell states; in the model's
            dtype. Plain arrays: ``np.savez(file, **state)`` saves it and
            ``dict(np.load(file))`` gives it back.

        Raises
        ------
        ValueError
            If ``n`` is not an integer >= 1.
        """
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise ValueError(f"initial_state: n: expected an integer >= 1, got {n!r}")
        return {key: np.zeros((int(n), self.n_hidden), dtype=self.dtype)
                for key in self._state_keys()}

    def step(self, x_t, state: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Outputs after one more step of ``n`` sequences, and the state after it:
        PyTorch's ``out, h = gru(x_t, h)`` for the whole model.

        Feeding a sequence one step at a time from :meth:`initial_state` gives, at step
        ``t``, what :meth:`predict_proba` gives for the prefix ``x_0..x_t`` (its output
        at the last step, for ``target="every"`` and ``"last"`` alike), to rounding: the
        step runs each layer's own recurrence (:meth:`Recurrent.step`) and the head.

        Parameters
        ----------
        x_t : array_like ``(n, n_inputs)``
            The inputs of the current step, as for :meth:`predict_proba` (raw: a model
            with ``input_scaling`` scales them).
        state : dict of str to ndarray ``(n, n_hidden)``
            As :meth:`initial_state` returns, or a previous ``step``'s state; not
            modified.

        Returns
        -------
        proba : ndarray ``(n, n_outputs)``
            The output activations ``g(z)`` at this step (in the data's units for a
            model with ``output_scaling``), in the model's dtype.
        state : dict of str to ndarray ``(n, n_hidden)``
            The state after this step (new arrays, same keys).

        Raises
        ------
        ValueError
            Naming ``x_t`` or ``state``: wrong shape, non-finite values, missing or
            unexpected keys.
        """
        x = np.asarray(x_t)
        if x.ndim == 1 and self.n_inputs == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.n_inputs or len(x) == 0 \
                or x.dtype.kind not in "biuf":
            raise ValueError(f"x_t: expected real numbers of shape (n, {self.n_inputs}), got "
                             f"shape {x.shape} dtype {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("x_t: contains NaN or infinite values")
        n, keys = len(x), self._state_keys()
        if not isinstance(state, dict) or sorted(state) != sorted(keys):
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state: expected the keys {keys} (from initial_state), found "
                             f"{found}")
        for key in keys:
            if np.shape(state[key]) != (n, self.n_hidden):
                raise ValueError(f"state[{key!r}]: expected shape {(n, self.n_hidden)}, got "
                                 f"{np.shape(state[key])}")
        if self.input_scaling is not None:
            x = self.input_scaling.apply(x)
        h: np.ndarray = np.ascontiguousarray(x, dtype=self.dtype)
        new: dict[str, np.ndarray] = {}
        for k, cell in enumerate(self.cells):
            names = [f"{name.lower()}{k}" for name in cell.state_names]
            after = cell.step(h, tuple(np.asarray(state[key], dtype=self.dtype)
                                       for key in names))
            new.update(zip(names, after, strict=True))
            h = after[0]
        z = self.layers[-1].forward(h)
        a = self.output_activation.forward(z, np.empty_like(z))
        if self.output_scaling is not None:
            a = self.output_scaling.apply(a).astype(self.dtype, copy=False)
        return a, new

    def _state_keys(self) -> list[str]:
        """The keys of the state: ``h0, h1, ...`` then ``c0, c1, ...`` (LSTM)."""
        return [f"{name.lower()}{k}" for name in self.layer_class.state_names
                for k in range(self.num_layers)]

    # ----------------------------------------------------------------------------------
    # The compiled kernels: the whole epoch for one vanilla RNN layer with plain SGD
    # (rnn_sgd_epoch); the recurrence of LSTM and GRU layers (CELL_STEPS), any optimizer
    # ----------------------------------------------------------------------------------
    def kernel_unsupported(self) -> str | None:
        """Why no compiled kernel can train this model, or None."""
        if self.layer_class.kernel is not None:  # LSTM, GRU: the layers' steps
            return None
        if len(self.cells) > 1:
            return "the kernel covers one vanilla RNN layer only"
        if kernels.delta_mode(self.loss, self.output_activation) is None:
            return f"loss {self.loss.name} on {self.output_activation.name} outputs"
        return kernels.plain_sgd_unsupported(self.optimizer)

    def _numpy_trainer(self, data, batch_size: int, record=None, watchers=()):
        for cell in self.cells:  # a NumPy fit after a compiled one
            cell.compiled_steps = None
        return super()._numpy_trainer(data, batch_size, record, watchers)

    def compiled_trainer(self, data, batch_size: int, record=None):
        """``train_batches`` running :func:`nablanet.kernels.rnn.rnn_sgd_epoch` (its work
        buffers made here, once per ``fit``; it writes the training pass's outputs into
        ``record``); for LSTM and GRU, the NumPy trainer with each layer's recurrence
        (forward and BPTT) run by its compiled steps."""
        if self.layer_class.kernel is not None:
            for cell in self.cells:
                cell.compiled_steps = kernels.CELL_STEPS[self.layer_class.kernel]
            self._allocate(data[0].shape[1:], batch_size)
            return super()._numpy_trainer(data, batch_size, record)
        X, T, W = data
        n, steps = W.shape
        H, L, dt = self.n_hidden, self.n_outputs, self.dtype
        cell, head = cast(RNNLayer, self.cells[0]), cast(Dense, self.layers[-1])
        last = self.target == "last"
        lengths = W.argmax(axis=1) + 1 if last else W.sum(axis=1).astype(np.int64)
        Yk = np.ascontiguousarray(T[np.arange(n), lengths - 1][:, None]) if last else T
        codes = (kernels.ACT_CODES[cell.activation.name],
                 kernels.ACT_CODES[self.output_activation.name],
                 kernels.delta_mode(self.loss, self.output_activation))
        buffers: tuple[np.ndarray, ...] = (
            np.zeros((steps + 1, H), dt), np.empty((steps, L), dt), np.empty((steps, L), dt),
            np.empty((self.n_inputs + H, H), dt),
            *[np.empty_like(p) for p in (cell.b, head.W, head.b)],
            np.empty(H, dt), np.empty((0, steps, L), dt) if record is None else record)

        def train_batches(idx: np.ndarray) -> None:
            kernels.run("rnn_sgd_epoch", X, Yk, lengths, idx, batch_size, last,
                        cell.W_x, cell.W_h, cell.b, head.W, head.b, *codes,
                        self.optimizer.lr, *buffers)

        train_batches(np.empty(0, dtype=np.int64))  # compile (or load) before epoch 0
        return train_batches

    # ----------------------------------------------------------------------------------
    # Data at the edge: masks and targets, once
    # ----------------------------------------------------------------------------------
    def _prepare(self, X, Y, mask, xname: str, yname: str):
        """Inputs ``(n, T, F)`` (zeros on padded steps), targets at every step
        ``(n, T, L)`` and the loss weight of every step ``(n, T)`` (1 where labelled)."""
        X, W = self._prepare_inputs(X, mask, xname)
        n, T = W.shape
        return X, self._targets(Y, n, T, W, yname), W

    def _prepare_inputs(self, X, mask, name: str):
        """Inputs ``(n, T, F)`` in ``dtype`` (padded steps zeroed) and the labelled steps
        ``(n, T)``: the mask (``"every"``) or each sequence's last valid step (``"last"``).

        Raises
        ------
        ValueError
            Naming ``X`` (``name``) or ``mask``: wrong shape or dtype, non-finite values
            on valid steps, a sequence without valid steps, or gaps in the mask.
        """
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
        given = X
        if self.input_scaling is not None:  # in float64, then the model's dtype
            X = self.input_scaling.apply(X)
        X = X.astype(self.dtype, copy=False)
        own = X is not given and not np.shares_memory(X, given)  # ours to change in place
        # one reduction, no copy, where every value is finite (a finite sum); the exact
        # check of the valid steps only where it is not
        with np.errstate(over="ignore", invalid="ignore"):  # a sum may overflow
            total = X.sum()
        if not np.isfinite(total) and not np.isfinite(X[mask]).all():
            raise ValueError(f"{name}: contains NaN or infinite values on valid steps")
        # padding is computed (then ignored): make it harmless zeros (a copy only when it
        # is not +0.0 already, as pad() gives it); only the padded steps are read
        padded = ~mask
        if padded.any():
            pads = X[padded]
            if ((pads != 0) | np.signbit(pads)).any():
                if own:
                    X[padded] = 0
                else:
                    X = np.where(mask[..., None], X, 0)
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if self.target == "every":
            W = mask.astype(self.dtype)
        else:
            W = np.zeros((n, T), dtype=self.dtype)
            W[np.arange(n), lengths - 1] = 1.0
        return X, W

    def _targets(self, Y, n, T, W, name):
        """Targets at every step ``(n, T, L)``; for ``"last"``, at each last valid step
        (zeros elsewhere, where the weight is 0)."""
        Y = np.asarray(Y)
        L = self.n_outputs
        labels = self.output_activation.name == "softmax"
        per_step = Y.ndim >= 2 and Y.shape[:2] == (n, T) and (Y.ndim == 3 or labels)
        last = W.argmax(axis=1)
        if self.target == "last" and per_step:  # labels of every step given: take the last
            Y = Y[np.arange(n), last]
            per_step = False
        if self.target == "every" and not per_step:
            raise ValueError(f"{name}: target='every' needs one label per step, shape ({n}, "
                             f"{T}, {L}){' or (n, n_steps) class labels' if labels else ''}; "
                             f"got {Y.shape}")
        lead = (n, T) if per_step else (n,)
        if labels and Y.shape in (lead, (*lead, 1)) and L > 1:
            Y = one_hot(Y.reshape(lead), L, self.dtype, name)
        if Y.shape == lead and L == 1:
            Y = Y[..., None]
        if Y.shape != (*lead, L):
            raise ValueError(f"{name}: expected shape {(*lead, L)}, got {Y.shape}")
        if Y.dtype.kind not in "biuf":
            raise ValueError(f"{name}: expected numbers, got dtype {Y.dtype}")
        if self.output_scaling is not None:  # the loss is in the scaled units
            Y = self.output_scaling.undo(Y)
        if per_step:
            return np.ascontiguousarray(np.where(W[..., None] > 0, Y, 0), dtype=self.dtype)
        full = np.zeros((n, T, L), dtype=self.dtype)
        full[np.arange(n), last] = Y
        return full

    def _present(self, a, W):
        """``(n, T, L)`` with zeros on padded steps (``"every"``), or the output at each
        sequence's last valid step ``(n, L)`` (``"last"``)."""
        if self.target == "last":
            return a[W > 0]
        a *= W[..., None]
        return a


@register("model", "RNN")
class RNN(RecurrentNetwork):
    """Vanilla (Elman) recurrent network trained by BPTT, the model of the Rust seed.

    ``h_t = f(x_t W_x + h_{t-1} W_h + b)`` per layer (see
    :class:`nablanet.layers.recurrent.RNNLayer`), then
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
    num_layers : int, default 1
        Stacked recurrent layers (PyTorch's name). ``layers=`` is its deprecated alias
        (a DeprecationWarning; removed in the next release).
    optimizer : Optimizer, default ``SGD(0.001)``
    init : str, default ``"glorot"``
        Initialiser of the input and output weights; recurrent weights are orthogonal,
        biases zero.
    seed : int, optional
        Same seed, same result.
    dtype : float64 or float32
    input_scaling, output_scaling : MinMaxScaling, optional
        Preprocessing that is part of the model: raw features in, outputs in the data's
        units out; training runs in the scaled units (see
        :class:`~nablanet.models.sequential.Sequential`). ``nablanet rnn train`` gives
        its models both (``output_scaling`` for regression).

    Shapes: ``W_x (F, H)``, ``W_h (H, H)``, ``b (H,)`` per layer, ``W_y (H, L)``,
    ``b_y (L,)``.

    Raises
    ------
    ValueError
        For non-positive sizes, unknown names, or a loss that does not fit the output.
    """

    layer_class = RNNLayer

    def __init__(self, n_inputs, n_hidden, n_outputs, *, activation: str = "tanh", **kwargs):
        super().__init__(n_inputs, n_hidden, n_outputs, activation=activation, **kwargs)


@register("model", "LSTM")
class LSTM(RecurrentNetwork):
    """LSTM network (see :class:`nablanet.layers.recurrent.LSTMLayer`); same parameters
    as :class:`RNN` without ``activation``. Shapes per layer: ``W_x (F, 4H)``,
    ``W_h (H, 4H)``, ``b (4H,)``, gate blocks ``i, f, o, g``."""

    layer_class = LSTMLayer
    auto_numba_max_batch = AUTO_CELL_MAX_BATCH
    whole_epoch_kernel = False


@register("model", "GRU")
class GRU(RecurrentNetwork):
    """GRU network (see :class:`nablanet.layers.recurrent.GRULayer`); same parameters as
    :class:`RNN` without ``activation``. Shapes per layer: ``W_x (F, 3H)``,
    ``W_h (H, 3H)``, ``b_x (3H,)``, ``b_h (3H,)``, gate blocks ``r, z, n``."""

    layer_class = GRULayer
    auto_numba_max_batch = AUTO_CELL_MAX_BATCH
    whole_epoch_kernel = False

"""Gradient-descent optimizers shared by every model.

One interface: ``optimizer.step(params, grads, decay=None)`` updates each array of
``params`` in place from the matching array of ``grads`` (the gradient of the loss
*averaged over the mini-batch*, so ``lr`` is a learning rate per mini-batch step, the
book's ``eta``). ``grads`` are used as scratch space and hold garbage afterwards.
``decay`` is a sequence of booleans saying which parameters take weight decay (weights
yes, biases no, as in the book); default: all.

Before the update, every optimizer can

- clip the gradients to a global L2 norm of ``clip_norm`` (Pascanu et al. 2013; the
  same rule as ``torch.nn.utils.clip_grad_norm_``), then
- add L2 weight decay ``weight_decay * w`` to the gradient of each decayed weight
  (Nielsen ch. 3, eq. 93: ``weight_decay = lmbda / n``).

State (velocities, moment estimates) lives in the optimizer, allocated once on the first
step for the given parameter shapes; ``reset()`` drops it. The update formulas follow
PyTorch's documented forms so PyTorch can serve as a test oracle.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from nablanet.registry import get, names, register

__all__ = ["OPTIMIZERS", "SGD", "Adam", "Optimizer", "RMSProp", "get_optimizer"]


class Optimizer:
    """Base class. Subclasses implement ``_update(params, grads, state)``.

    Parameters
    ----------
    lr : float
        Learning rate (> 0), per mini-batch step on the mean gradient.
    weight_decay : float, default 0
        L2 coefficient added as ``weight_decay * w`` to the gradient (>= 0).
    clip_norm : float or None
        If set (> 0), rescale all gradients together so their global L2 norm is at most
        this value.

    Raises
    ------
    ValueError
        For a non-positive ``lr``, negative ``weight_decay`` or non-positive ``clip_norm``.
    """

    name = ""

    def __init__(self, lr: float = 0.01, *, weight_decay: float = 0.0,
                 clip_norm: float | None = None):
        _check_positive("lr", lr)
        if not (weight_decay >= 0 and math.isfinite(weight_decay)):
            raise ValueError(f"weight_decay: expected a number >= 0, got {weight_decay!r}")
        if clip_norm is not None:
            _check_positive("clip_norm", clip_norm)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self._state: list[dict[str, np.ndarray]] | None = None
        self._scratch: list[np.ndarray] | None = None
        self._params: list[np.ndarray] | None = None  # the list the state was made for
        self._pending: list[dict[str, np.ndarray]] | None = None  # from load_state_dict
        self.t = 0  # number of steps taken

    # -- public -------------------------------------------------------------------
    def step(self, params, grads, decay=None) -> None:
        """Update ``params`` in place from ``grads`` (see the module docstring)."""
        if params is not self._params:  # a new parameter list: (re)allocate the state
            self._allocate(params)
        if self.clip_norm is not None:
            clip_grad_norm(grads, self.clip_norm)
        if self.weight_decay:
            assert self._scratch is not None  # set by _allocate
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if decay is None or decay[i]:
                    scratch = self._scratch[i]
                    np.multiply(p, self.weight_decay, out=scratch)
                    g += scratch
        self.t += 1
        self._update(params, grads)

    def reset(self) -> None:
        """Forget the optimizer state (velocities, moments, step count)."""
        self._state = None
        self._scratch = None
        self._params = None
        self._pending = None
        self.t = 0

    def state_dict(self) -> dict:
        """The optimizer as data: ``{"config": config(), "t": steps taken, "state": [per
        parameter {slot: array}]}`` (``state`` is ``[]`` before the first step). The
        arrays are the live ones (copy them to keep a snapshot); after
        :meth:`load_state_dict` and before the next step, the loaded ones, so that a
        model loaded and saved again keeps its moments. PyTorch's
        ``Optimizer.state_dict`` plays the same part."""
        return {"config": self.config(), "t": self.t,
                "state": self._state or self._pending or []}

    def load_state_dict(self, state: dict) -> None:
        """Take over the step count and moment arrays of :meth:`state_dict` (copied); the
        next :meth:`step` on parameters of the same shapes continues from them.

        Raises
        ------
        ValueError
            If ``state`` was written by another optimizer kind (``config.name``), or its
            slots are not this optimizer's (e.g. SGD with and without momentum).
        """
        name = state.get("config", {}).get("name")
        if name != self.name:
            raise ValueError(f"optimizer state: written by {name!r}, expected {self.name!r}")
        arrays = state.get("state") or []
        for i, slots in enumerate(arrays):
            if set(slots) != set(self._slots):
                raise ValueError(f"optimizer state[{i}]: expected slots {sorted(self._slots)}, "
                                 f"found {sorted(slots)}")
        self.reset()
        self._pending = [{k: np.array(v) for k, v in slots.items()} for slots in arrays]
        self.t = int(state.get("t", 0))

    def config(self) -> dict:
        """The constructor arguments, for saving and logging."""
        cfg = {"name": self.name, "lr": self.lr, "weight_decay": self.weight_decay,
               "clip_norm": self.clip_norm}
        cfg.update(self._extra_config())
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    # -- subclass hooks -------------------------------------------------------------
    _slots: tuple[str, ...] = ()

    def _allocate(self, params) -> None:
        """State for ``params``: kept while parameters of the same shapes and dtypes are
        passed, taken from :meth:`load_state_dict` if it gave some, else made anew.

        Raises
        ------
        ValueError
            If the loaded state does not fit ``params`` (count, shapes or dtypes).
        """
        if self._params is not None and _same_layout(params, self._params):
            self._params = params  # same shapes and dtypes: keep the moments
            return
        pending, self._pending = self._pending, None
        self._scratch = [np.empty_like(p) for p in params]
        self._params = params
        if pending:
            if len(pending) != len(params) or not all(
                    _same_layout([v], [p])
                    for p, slots in zip(params, pending, strict=True) for v in slots.values()):
                raise ValueError("optimizer state: its moment arrays do not fit the model's "
                                 "parameters (other sizes or dtype)")
            self._state = pending
            return
        self._state = [{k: np.zeros_like(p) for k in self._slots} for p in params]
        if pending is None:
            self.t = 0

    def _extra_config(self) -> dict:
        return {}

    def _update(self, params, grads) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@register("optimizer", "sgd")
class SGD(Optimizer):
    """Mini-batch stochastic gradient descent, optionally with (Nesterov) momentum.

    Plain: ``w <- w - lr g`` (Nielsen ch. 1, eq. 20-21).
    Momentum ``mu`` (Polyak 1964; Sutskever et al. 2013, PyTorch form):
    ``v <- mu v + g``, ``w <- w - lr v``; with ``nesterov=True``:
    ``w <- w - lr (g + mu v)``.
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, *, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        super().__init__(lr, weight_decay=weight_decay, clip_norm=clip_norm)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov: needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._slots = ("v",) if momentum else ()

    def _extra_config(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, params, grads) -> None:
        lr, mu = self.lr, self.momentum
        assert self._state is not None and self._scratch is not None  # set by _allocate
        for p, g, s, tmp in zip(params, grads, self._state, self._scratch, strict=True):
            if mu:
                v = s["v"]
                v *= mu
                v += g
                if self.nesterov:
                    np.multiply(v, mu, out=tmp)
                    g += tmp
                else:
                    g = v
            np.multiply(g, lr, out=tmp)
            p -= tmp


@register("optimizer", "rmsprop")
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012, lecture 6.5; PyTorch form).

    ``s <- alpha s + (1 - alpha) g^2``, ``w <- w - lr g / (sqrt(s) + eps)``.
    """

    name = "rmsprop"
    _slots = ("s",)

    def __init__(self, lr: float = 0.001, *, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        super().__init__(lr, weight_decay=weight_decay, clip_norm=clip_norm)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha: expected a number in [0, 1), got {alpha!r}")
        _check_positive("eps", eps)
        self.alpha, self.eps = float(alpha), float(eps)

    def _extra_config(self) -> dict:
        return {"alpha": self.alpha, "eps": self.eps}

    def _update(self, params, grads) -> None:
        assert self._state is not None and self._scratch is not None  # set by _allocate
        for p, g, st, tmp in zip(params, grads, self._state, self._scratch, strict=True):
            s = st["s"]
            s *= self.alpha
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - self.alpha
            s += tmp
            np.sqrt(s, out=tmp)
            tmp += self.eps
            np.divide(g, tmp, out=tmp)
            tmp *= self.lr
            p -= tmp


@register("optimizer", "adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), bias-corrected.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``w <- w - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.
    """

    name = "adam"
    _slots = ("m", "v")

    def __init__(self, lr: float = 0.001, *, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 clip_norm: float | None = None):
        super().__init__(lr, weight_decay=weight_decay, clip_norm=clip_norm)
        for n, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{n}: expected a number in [0, 1), got {b!r}")
        _check_positive("eps", eps)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _extra_config(self) -> dict:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _update(self, params, grads) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        step_size = self.lr / (1.0 - b1**t)
        sqrt_bc2 = math.sqrt(1.0 - b2**t)
        assert self._state is not None and self._scratch is not None  # set by _allocate
        for p, g, st, tmp in zip(params, grads, self._state, self._scratch, strict=True):
            m, v = st["m"], st["v"]
            m *= b1
            np.multiply(g, 1.0 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= sqrt_bc2
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp


def _same_layout(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(p.shape == q.shape and p.dtype == q.dtype
                                    for p, q in zip(a, b, strict=True))


def clip_grad_norm(grads, max_norm: float) -> float:
    """Scale ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping. Same rule as ``torch.nn.utils.clip_grad_norm_``:
    the scale is ``max_norm / (norm + 1e-6)`` when that is below 1.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return norm


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) and math.isfinite(value)
        and value > 0  # type: ignore[operator]  # numbers.Real's stub has no comparisons
    ):
        raise ValueError(f"{name}: expected a number > 0, got {value!r}")


#: every optimizer class by name (a view of the registry, kind ``"optimizer"``)
OPTIMIZERS: dict[str, type[Optimizer]] = {n: get("optimizer", n) for n in names("optimizer")}


def get_optimizer(name: str, lr: float, *, momentum: float = 0.9, weight_decay: float = 0.0,
                  clip_norm: float | None = None) -> Optimizer:
    """Build an optimizer from a CLI-style name.

    ``name`` is one of ``sgd``, ``momentum`` (SGD with ``momentum``), ``nesterov``,
    ``rmsprop``, ``adam``.

    Raises
    ------
    ValueError
        If the name is unknown or a hyper-parameter is out of range.
    """
    common: dict[str, Any] = {"weight_decay": weight_decay, "clip_norm": clip_norm}
    if name == "sgd":
        return SGD(lr, **common)
    if name == "momentum":
        return SGD(lr, momentum=momentum, **common)
    if name == "nesterov":
        return SGD(lr, momentum=momentum, nesterov=True, **common)
    if name in OPTIMIZERS:
        return OPTIMIZERS[name](lr, **common)
    raise ValueError(
        f"optimizer: expected one of sgd, momentum, nesterov, rmsprop, adam; got {name!r}"
    )

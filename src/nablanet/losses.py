"""Loss functions (costs): value and output-layer delta.

Every loss works on rows: ``y`` and the output activations ``a`` have shape
``(..., n_outputs)`` and each row is one example (or one time step of one sequence).

``value(z, a, y, mask=None)``
    the loss *summed* over rows (callers divide by the number of rows they want to
    average over); ``z`` are the output pre-activations (logits), ``a = g(z)``.
    Cross-entropies are computed from the logits in the numerically stable way
    (log-sum-exp), so logits of +-1000 give finite values and no warnings.
``delta(a, y, activation, out, work)``
    the output-layer error ``dC/dz`` per row, written into ``out``:

    - quadratic: ``(a - y) * g'(z)`` (Nielsen ch. 2, equation BP1);
    - binary cross-entropy on sigmoid outputs: ``a - y`` (Nielsen ch. 3, eq. 66);
    - categorical cross-entropy on softmax outputs: ``a - y`` (Nielsen ch. 3, eq. 81-84).

The cross-entropies are only defined here with their canonical output activation;
``check_output`` rejects other pairings.
"""

from __future__ import annotations

import numpy as np

from nablanet.activations import Activation
from nablanet.registry import get, names, register
from nablanet.validation import first_index

__all__ = ["LOSSES", "Loss", "get_loss", "one_hot"]


def _masked_sum(rows: np.ndarray, mask: np.ndarray | None) -> float:
    """The sum of the per-row losses over the rows ``mask`` selects (bool), or weighted
    by ``mask`` (floats: per-row loss weights)."""
    if mask is None:
        return float(rows.sum())
    if mask.dtype == bool:
        return float(rows[mask].sum())
    return float(np.vdot(rows, mask))


class Loss:
    """Base class: a cost ``C`` with its value and output-layer delta."""

    name: str = ""
    #: output activation required by this loss, or None for any
    output_activation: str | None = None

    def check_output(self, activation: Activation) -> None:
        """Raise ``ValueError`` if this loss cannot be paired with ``activation``."""
        if self.output_activation and activation.name != self.output_activation:
            raise ValueError(
                f"loss: {self.name!r} needs output_activation={self.output_activation!r}, "
                f"got {activation.name!r}"
            )

    def value(self, z, a, y, mask=None) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def delta(self, a, y, activation, out, work):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register("loss", "quadratic")
class Quadratic(Loss):
    """Quadratic cost ``C = 1/2 ||a - y||^2`` per row (Nielsen ch. 1, eq. 6).

    Also registered as ``"mse"``: the gradient ``dC/da = a - y`` is the one the
    Rust RNN seed uses.
    """

    name = "quadratic"

    def value(self, z, a, y, mask=None) -> float:
        d = a - y
        return 0.5 * _masked_sum(np.einsum("...k,...k->...", d, d), mask)

    def delta(self, a, y, activation, out, work):
        np.subtract(a, y, out=out)
        return activation.backward(a, out, work)


@register("loss", "binary_cross_entropy")
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on sigmoid outputs, summed over the outputs of a row.

    ``C = -sum_k [y_k ln a_k + (1 - y_k) ln(1 - a_k)]`` (Nielsen ch. 3, eq. 63),
    computed from the logits as ``max(z, 0) - z y + ln(1 + exp(-|z|))``.
    """

    name = "binary_cross_entropy"
    output_activation = "sigmoid"

    def value(self, z, a, y, mask=None) -> float:
        rows = (np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum(axis=-1)
        return _masked_sum(rows, mask)

    def delta(self, a, y, activation, out, work):
        return np.subtract(a, y, out=out)


@register("loss", "cross_entropy")
class CrossEntropy(Loss):
    """Categorical cross-entropy on softmax outputs (log-likelihood cost).

    ``C = -sum_k y_k ln a_k`` with ``a = softmax(z)`` (Nielsen ch. 3, eq. 80),
    computed as ``logsumexp(z) - sum_k y_k z_k`` for one-hot or probability rows ``y``.
    """

    name = "cross_entropy"
    output_activation = "softmax"

    def value(self, z, a, y, mask=None) -> float:
        m = z.max(axis=-1, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=-1)) + m[..., 0]
        rows = lse * y.sum(axis=-1) - np.einsum("...k,...k->...", y, z)
        return _masked_sum(rows, mask)

    def delta(self, a, y, activation, out, work):
        return np.subtract(a, y, out=out)


register("loss", "mse")(Quadratic)

#: every loss class by name (a view of the registry, kind ``"loss"``)
LOSSES: dict[str, type[Loss]] = {n: get("loss", n) for n in names("loss")}


def get_loss(name: str | Loss) -> Loss:
    """Look up a loss by name (``quadratic``/``mse``, ``binary_cross_entropy``, ``cross_entropy``).

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if isinstance(name, Loss):
        return name
    return get("loss", name)()


def one_hot(labels, n_classes: int, dtype=np.float64, name: str = "y") -> np.ndarray:
    """One-hot target rows ``(..., n_classes)`` for integer class labels of any shape.

    Float labels are accepted when they are whole numbers (as read from a CSV file).
    Every label is checked against ``n_classes`` (the model's outputs) before the
    ``labels.size * n_classes`` result is allocated; nothing of size ``n_classes ** 2``
    is ever built.

    Raises
    ------
    ValueError
        If a label is not a whole number or lies outside ``0..n_classes-1`` (the first
        such label and its index are named); the message starts with ``name``.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        if not (np.isfinite(labels).all() and np.all(np.mod(labels, 1) == 0)):
            raise ValueError(f"{name}: expected integer class labels, got {labels.dtype} values")
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        where = first_index(bad)
        raise ValueError(
            f"{name}: expected class labels in 0..{n_classes - 1} (one per output), "
            f"found {labels.min():g}..{labels.max():g}; the first outside is "
            f"{labels[where]:g} at index {where}"
        )
    rows = np.zeros((*labels.shape, n_classes), dtype=dtype)
    np.put_along_axis(rows, labels.astype(np.intp)[..., None], 1, axis=-1)
    return rows

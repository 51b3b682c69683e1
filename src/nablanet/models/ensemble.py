"""An ensemble: several trained classifiers, one prediction (Nielsen ch. 6, "Using an
ensemble of networks": five networks voting reach 99.67% where each reaches 99.6%).

Each member only needs ``predict_proba(X) -> (n, n_classes)``: a
:class:`~nablanet.models.sequential.Sequential` with a softmax head, a
:class:`nablanet.book.network3.Network`, a scikit-learn classifier.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Ensemble"]


class Ensemble:
    """Combine the class probabilities or the votes of trained classifiers.

    Parameters
    ----------
    models : sequence
        Two or more trained classifiers with ``predict_proba(X)`` giving ``(n, k)``, all
        with the same ``k`` classes.
    method : {"average", "vote"}, default "average"
        ``average``: the class with the largest mean probability. ``vote``: the class
        most members predict (the book's ``ensemble``); ties go to the class with the
        larger mean probability among the tied ones.

    Raises
    ------
    ValueError
        For fewer than two models or an unknown ``method``.
    TypeError
        For a member without ``predict_proba``.

    Examples
    --------
    >>> class Fixed:
    ...     def __init__(self, p): self.p = np.array(p)
    ...     def predict_proba(self, X): return self.p
    >>> members = [Fixed([[0.6, 0.4]]), Fixed([[0.6, 0.4]]), Fixed([[0.0, 1.0]])]
    >>> Ensemble(members, method="vote").predict(None), Ensemble(members).predict(None)
    (array([0]), array([1]))
    """

    METHODS = ("average", "vote")

    def __init__(self, models, *, method: str = "average"):
        self.models = list(models)
        if len(self.models) < 2:
            raise ValueError(f"models: expected at least 2 trained models, got "
                             f"{len(self.models)}")
        for i, m in enumerate(self.models):
            if not callable(getattr(m, "predict_proba", None)):
                raise TypeError(f"models[{i}]: expected a classifier with predict_proba, "
                                f"got {type(m).__name__}")
        if method not in self.METHODS:
            raise ValueError(f"method: expected one of {', '.join(self.METHODS)}, "
                             f"got {method!r}")
        self.method = method

    def member_probabilities(self, X) -> np.ndarray:
        """Every member's ``predict_proba(X)``, stacked ``(n_models, n, k)``.

        Raises
        ------
        ValueError
            If the members give different shapes (different numbers of classes).
        """
        probs = [np.asarray(m.predict_proba(X)) for m in self.models]
        shapes = {p.shape for p in probs}
        if len(shapes) != 1 or probs[0].ndim != 2:
            raise ValueError(f"models: expected every member to give (n, n_classes) "
                             f"probabilities of one shape, got {sorted(shapes)}")
        return np.stack(probs)

    def predict_proba(self, X) -> np.ndarray:
        """``(n, k)``: the members' mean probabilities (``average``) or the fraction of
        members voting for each class (``vote``; ties not yet broken)."""
        probs = self.member_probabilities(X)
        if self.method == "average":
            return probs.mean(axis=0)
        k = probs.shape[2]
        return np.eye(k)[probs.argmax(axis=2)].mean(axis=0)

    def predict(self, X) -> np.ndarray:
        """The class index (int64 ``(n,)``) of each input."""
        probs = self.member_probabilities(X)
        mean = probs.mean(axis=0)
        if self.method == "average":
            return mean.argmax(axis=1)
        votes = np.eye(probs.shape[2])[probs.argmax(axis=2)].sum(axis=0)
        tied = votes == votes.max(axis=1, keepdims=True)
        return np.where(tied, mean, -np.inf).argmax(axis=1)

    def accuracy(self, X, y) -> float:
        """Fraction of ``X``'s examples whose prediction equals the label in ``y (n,)``.

        Raises
        ------
        ValueError
            If ``y`` does not hold one label per example.
        """
        y = np.asarray(y)
        predicted = self.predict(X)
        if y.shape != predicted.shape:
            raise ValueError(f"y: expected {len(predicted)} labels, got shape {y.shape}")
        return float(np.mean(predicted == y))

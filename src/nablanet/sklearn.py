"""scikit-learn estimators over nablanet's networks (extra ``[sklearn]``).

Four estimators, usable in a ``Pipeline``, ``GridSearchCV`` or ``cross_val_score``:

- :class:`NetworkClassifier`, :class:`NetworkRegressor`: a feedforward
  :class:`nablanet.Network` on ``X (n_samples, n_features)``;
- :class:`SequenceClassifier`, :class:`SequenceRegressor`: a recurrent network (RNN, LSTM or
  GRU, ``target="last"``: one output per sequence) on ``X (n_sequences, n_steps,
  n_features)``. A 2-D ``X (n, n_steps)`` is read as sequences of one feature per step.
  Sequences of different lengths are padded to one ``n_steps`` with NaN after their end
  (the mask is derived from it); ``n_steps`` is fixed at ``fit`` (``n_features_in_``, as
  scikit-learn counts it, is ``X.shape[1]``).

Inputs may be NumPy arrays or pandas/polars DataFrames (converted once with scikit-learn's
own validation). The constructor only stores its arguments (scikit-learn's rule); the
network is built by ``fit`` and trained with Adam (or the ``optimizer`` named) on the mean
loss of mini-batches: softmax + cross-entropy for the classifiers, identity + squared error
for the regressors. ``partial_fit`` trains one more epoch on the data given, keeping the
weights and the optimizer's state.

This is the only module of nablanet that imports scikit-learn.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "nablanet.sklearn needs scikit-learn: pip install 'nablanet[sklearn]'"
    ) from exc

from nablanet import GRU, LSTM, RNN, Network
from nablanet.optimizers import get_optimizer

__all__ = ["NetworkClassifier", "NetworkRegressor", "SequenceClassifier", "SequenceRegressor"]

_CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class _Estimator(BaseEstimator):
    """What the four estimators share: data validation, the optimizer, and the fit /
    partial_fit loop over a nablanet model built by the subclass's ``_build``."""

    _sequences = False  # True: X is (n, n_steps, n_features)

    def _validate(self, X, y="no_validation", *, reset: bool):
        kwargs = {"allow_nd": self._sequences, "dtype": self.dtype, "reset": reset,
                  "ensure_all_finite": "allow-nan" if self._sequences else True}
        if isinstance(y, str) and y == "no_validation":
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, multi_output=not self._is_classifier(),
                                 y_numeric=not self._is_classifier(), **kwargs)
        if self._sequences:
            if X.ndim == 2:
                X = X[..., None]
            if X.ndim != 3:
                raise ValueError(f"X: expected (n_sequences, n_steps, n_features), got {X.shape}")
        return X, y

    def __setstate__(self, state):
        # Unpickled arrays may be read-only (joblib's memory maps): the network's weights
        # and work buffers are written in place, so it gets its own copies.
        super().__setstate__(state)
        if "model_" in state:
            self.model_ = copy.deepcopy(self.model_)

    def _is_classifier(self) -> bool:
        return isinstance(self, ClassifierMixin)

    def _optimizer(self):
        return get_optimizer(self.optimizer, self.learning_rate, weight_decay=self.weight_decay)

    def _inputs(self, X) -> tuple[np.ndarray, dict]:
        """The model's inputs for validated ``X``: the array and keyword arguments."""
        return X, {}

    def _train(self, X, T, epochs: int) -> None:
        batch_size = min(self.batch_size, len(X))
        X, kwargs = self._inputs(X)
        self.model_.fit(X, T, epochs=epochs, batch_size=batch_size, progress=False,
                        monitor_training=False, **kwargs)

    def fit(self, X, y):
        """Build a fresh network and train it for ``epochs`` epochs.

        Parameters
        ----------
        X : array-like ``(n, n_features)`` (sequence estimators: ``(n, n_steps, n_features)``)
        y : array-like ``(n,)`` labels (classifiers) or ``(n,)`` / ``(n, n_outputs)`` targets

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For inputs or targets that scikit-learn's validation refuses (NaN, wrong shape),
            or a single class.
        """
        X, y = self._validate(X, y, reset=True)
        T = self._targets(y, fitting=True)
        self.model_ = self._build(X, T)
        self._train(X, T, self.epochs)
        return self

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on ``(X, y)``, building the network on the first call.

        ``classes`` (classifiers): every label that will ever be seen, required on the
        first call (scikit-learn's convention).
        """
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first and self._is_classifier():
            if classes is None:
                raise ValueError("classes: required on the first call to partial_fit")
            self.classes_ = np.unique(classes)
        T = self._targets(y, fitting=first and not self._is_classifier())
        if first:
            self.model_ = self._build(X, T)
        self._train(X, T, 1)
        return self


class _ClassifierMixin(ClassifierMixin):
    def _targets(self, y, *, fitting: bool):
        check_classification_targets(y)
        if fitting:
            self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y: expected at least 2 classes, got only one class ({self.classes_[0]!r})"
            )
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        if not (self.classes_[index] == y).all():
            raise ValueError(f"y: labels not in classes_ {self.classes_.tolist()}")
        return index

    def predict_proba(self, X):
        """Class probabilities ``(n, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        X, kwargs = self._inputs(X)
        return self.model_.predict_proba(X, **kwargs)

    def predict(self, X):
        """The most probable class of each sample, ``(n,)``, from ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def _n_outputs(self, T) -> int:
        return len(self.classes_)

    _head: ClassVar[dict] = {"output_activation": "softmax", "loss": "cross_entropy"}


class _RegressorMixin(RegressorMixin):
    def _targets(self, y, *, fitting: bool):
        y = np.asarray(y, dtype=self.dtype)
        if fitting:
            self._y_1d = y.ndim == 1
        return y.reshape(len(y), -1)

    def predict(self, X):
        """Predicted targets: ``(n,)`` for a 1-D ``y`` at fit, else ``(n, n_outputs)``."""
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        X, kwargs = self._inputs(X)
        out = self.model_.predict_proba(X, **kwargs)
        return out[:, 0] if self._y_1d else out

    def _n_outputs(self, T) -> int:
        return T.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may be (n, n_outputs)
        return tags

    _head: ClassVar[dict] = {"output_activation": "identity", "loss": "mse"}


class _FeedforwardBuilder(_Estimator):
    def __init__(self, hidden_layer_sizes=(100,), *, activation="relu", init="he",
                 optimizer="adam", learning_rate=0.001, weight_decay=0.0, epochs=200,
                 batch_size=32, random_state=None, dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype

    def _build(self, X, T):
        sizes = [X.shape[1], *self.hidden_layer_sizes, self._n_outputs(T)]
        return Network(sizes, activation=self.activation, init=self.init,
                       optimizer=self._optimizer(), seed=self.random_state, dtype=self.dtype,
                       **self._head)


class _RecurrentBuilder(_Estimator):
    _sequences = True

    def __init__(self, cell="lstm", *, n_hidden=32, num_layers=1, optimizer="adam",
                 learning_rate=0.005, weight_decay=0.0, epochs=100, batch_size=16,
                 random_state=None, dtype="float64"):
        self.cell = cell
        self.n_hidden = n_hidden
        self.num_layers = num_layers
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype

    def _inputs(self, X) -> tuple[np.ndarray, dict]:
        """``X`` with zeros for NaN, and the ``mask``: NaN marks the padded steps after a
        sequence's end."""
        padded = np.isnan(X).any(axis=2)
        if not padded.any():
            return X, {}
        mask = ~padded
        lengths = mask.sum(axis=1)
        if (lengths == 0).any() or (mask != (np.arange(X.shape[1]) < lengths[:, None])).any():
            raise ValueError("X: NaN marks padding, which must follow each sequence's "
                             "valid steps (at least one)")
        return np.where(mask[..., None], X, 0.0), {"mask": mask}

    def _build(self, X, T):
        if self.cell not in _CELLS:
            raise ValueError(f"cell: expected one of {sorted(_CELLS)}, got {self.cell!r}")
        return _CELLS[self.cell](X.shape[2], self.n_hidden, self._n_outputs(T),
                                 num_layers=self.num_layers, target="last",
                                 optimizer=self._optimizer(), seed=self.random_state,
                                 dtype=self.dtype, **self._head)


_FEEDFORWARD_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Neurons per hidden layer.
    activation : str, default "relu"
        Hidden activation: ``relu``, ``tanh`` or ``sigmoid``.
    init : str, default "he"
        Weight initialiser (:mod:`nablanet.init`).
    optimizer : str, default "adam"
        ``sgd``, ``momentum``, ``nesterov``, ``rmsprop`` or ``adam``.
    learning_rate : float, default 0.001
    weight_decay : float, default 0.0
        L2 coefficient (the book's ``lmbda / n``).
    epochs : int, default 200
    batch_size : int, default 32
        Capped at the number of samples.
    random_state : int or None
        Seed of the initial weights and the shuffling.
    dtype : "float64" or "float32"

    Attributes
    ----------
    model_ : nablanet.Network
    n_features_in_ : int
"""

_SEQUENCE_DOC = """
    Parameters
    ----------
    cell : "lstm", "gru" or "rnn", default "lstm"
    n_hidden : int, default 32
    num_layers : int, default 1
    optimizer : str, default "adam"
    learning_rate : float, default 0.005
    weight_decay : float, default 0.0
    epochs : int, default 100
    batch_size : int, default 16
    random_state : int or None
    dtype : "float64" or "float32"

    Attributes
    ----------
    model_ : nablanet.RNN, LSTM or GRU (``target="last"``)
    n_features_in_ : int
        As scikit-learn counts it: ``X.shape[1]`` (the steps of a 3-D ``X``).
"""


class NetworkClassifier(_ClassifierMixin, _FeedforwardBuilder):
    __doc__ = ("Feedforward classifier: a nablanet ``Network`` with a softmax output and "
               "the cross-entropy loss.\n" + _FEEDFORWARD_DOC +
               "    classes_ : ndarray (n_classes,)\n")


class NetworkRegressor(_RegressorMixin, _FeedforwardBuilder):
    __doc__ = ("Feedforward regressor: a nablanet ``Network`` with an identity output and "
               "the squared-error loss.\n" + _FEEDFORWARD_DOC)


class SequenceClassifier(_ClassifierMixin, _RecurrentBuilder):
    __doc__ = ("Sequence classifier: one label per sequence from the last valid step of a "
               "recurrent network.\n" + _SEQUENCE_DOC + "    classes_ : ndarray (n_classes,)\n")


class SequenceRegressor(_RegressorMixin, _RecurrentBuilder):
    __doc__ = ("Sequence regressor: one target (vector) per sequence from the last valid "
               "step of a recurrent network.\n" + _SEQUENCE_DOC)

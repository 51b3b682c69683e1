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
network is built by ``fit`` and trained on the mean loss of mini-batches: softmax +
cross-entropy for the classifiers, identity + squared error (``1/2 ||a - y||^2`` per
sample) for the regressors. ``partial_fit`` trains one more epoch on the data given,
keeping the weights and the optimizer's state.

The estimators speak :class:`sklearn.neural_network.MLPClassifier`'s language: its options
(``max_iter``, ``batch_size``, ``learning_rate_init``, ``alpha``, ``solver``, ``momentum``,
``nesterovs_momentum``, ``beta_1``, ``beta_2``, ``epsilon``, ``shuffle``, ``random_state``,
``tol``, ``n_iter_no_change``, ``early_stopping``, ``validation_fraction``, ``verbose``,
``warm_start``) mean what they mean there, the feedforward estimators take its defaults,
and a fitted estimator has its ``loss_curve_``, ``n_iter_``, ``best_loss_``,
``validation_scores_``, ``best_validation_score_``, ``loss_``, ``t_`` and ``n_outputs_``.
What needs a method nablanet does not have is refused, naming the option:
``solver="lbfgs"`` and ``max_fun`` (L-BFGS, a full-batch quasi-Newton method), and
``learning_rate="invscaling"``/``"adaptive"`` with ``solver="sgd"`` and ``power_t`` (the
rate schedules of scikit-learn's SGD), and ``MLPRegressor``'s ``loss`` (the regressors'
loss is the squared error, there is no Poisson loss). A keyword the estimator does not
take is a ``TypeError`` naming the estimator's class.

This is the only module of nablanet that imports scikit-learn.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import numbers
import warnings
from typing import ClassVar

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "nablanet.sklearn needs scikit-learn: pip install 'nablanet[sklearn]'"
    ) from exc

from nablanet import GRU, LSTM, RNN, Network
from nablanet.optimizers import SGD, Adam, RMSProp
from nablanet.training import Callback, EarlyStopping

__all__ = ["NetworkClassifier", "NetworkRegressor", "SequenceClassifier", "SequenceRegressor"]

_CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

#: keywords refused with a reason: MLPClassifier options nablanet has no method for, and
#: the estimators' former names
_REFUSED = {
    "power_t": "it belongs to learning_rate='invscaling', a schedule of scikit-learn's "
               "SGD that nablanet does not have",
    "max_fun": "it belongs to solver='lbfgs' (L-BFGS), which nablanet does not have: it "
               "trains by mini-batch gradient descent",
    "epochs": "the number of epochs is max_iter, as in MLPClassifier",
    "weight_decay": "the L2 penalty is alpha, as in MLPClassifier (weight decay "
                    "alpha / batch_size on the mean gradient)",
    "optimizer": "the optimizer is solver ('adam', 'sgd' or 'rmsprop'), as in MLPClassifier",
    "loss": "the loss is the squared error for the regressors (MLPRegressor's default) and "
            "the cross-entropy for the classifiers; nablanet has no Poisson loss",
}

_SCHEDULES = ("constant", "invscaling", "adaptive")


def _unexpected(cls: type, key: str, names: list[str]) -> str:
    why = _REFUSED.get(key)
    if why is None:
        close = difflib.get_close_matches(key, names, n=1)
        why = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(names)}"
    return f"{cls.__name__}() got an unexpected keyword argument {key!r}: {why}"


def _integer(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


#: the checks of the training options: (name, test, what is expected)
_CHECKS = (
    ("max_iter", lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    ("n_iter_no_change", lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    ("batch_size", lambda v: v == "auto" or (_integer(v) and v >= 1),
     "'auto' or an integer >= 1"),
    ("learning_rate_init", lambda v: _real(v) and v > 0, "a number > 0"),
    ("learning_rate", lambda v: v in _SCHEDULES, "one of " + ", ".join(map(repr, _SCHEDULES))
     + " (MLPClassifier's schedule; the step size is learning_rate_init)"),
    ("alpha", lambda v: _real(v) and v >= 0, "a number >= 0"),
    ("tol", lambda v: _real(v) and v >= 0, "a number >= 0"),
    ("validation_fraction", lambda v: _real(v) and 0 < v < 1, "a number in (0, 1)"),
    ("momentum", lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("beta_1", lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("beta_2", lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("epsilon", lambda v: _real(v) and v > 0, "a number > 0"),
)


def _score(logs: dict, key: str) -> float:
    """The metric ``key`` of an epoch's logs; an R^2 that a constant target leaves
    undefined (None) counts as 0, as ``sklearn.metrics.r2_score`` gives it."""
    value = logs[key]
    return 0.0 if value is None else float(value)


class _NoImprovement(EarlyStopping):
    """scikit-learn's stopping rule (``MLPClassifier``'s ``tol`` and ``n_iter_no_change``):
    an epoch whose ``monitor`` does not beat the best so far by more than ``min_delta``
    (``tol``) counts as no improvement, the best follows every improvement however small,
    and more than ``patience`` (``n_iter_no_change``) such epochs in a row stop training;
    with ``restore_best`` the best epoch's parameters are put back. (The base class,
    Keras's rule, moves its best only on improvements by more than ``min_delta``.)"""

    def observe(self, epoch: int, logs: dict, params: list[np.ndarray]) -> bool:
        value = self.sign * _score(logs, self.monitor)
        self.wait = self.wait + 1 if value > self.best - self.min_delta else 0
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self.best_params = [p.copy() for p in params]
        return self.wait > self.patience


class _Verbose(Callback):
    """``verbose=True``: MLPClassifier's lines on stdout, ``Iteration 3, loss =
    0.41234567`` after each epoch (``Validation score: 0.930000`` with early stopping) and
    the reason training stopped."""

    def __init__(self, stop: _NoImprovement | None, score: str | None):
        self.stop, self.score = stop, score

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        print(f"Iteration {epoch}, loss = {logs['train_loss']:.8f}")
        if self.score is not None:
            print(f"Validation score: {_score(logs, self.score):f}")
        stop = self.stop
        if stop is not None and stop.wait > stop.patience:
            what = "Training loss" if self.score is None else "Validation score"
            print(f"{what} did not improve more than tol={stop.min_delta:f} for "
                  f"{stop.patience} consecutive epochs. Stopping.")


class _Estimator(BaseEstimator):
    """What the four estimators share: the keyword check, data validation, the optimizer,
    and the fit / partial_fit loop over a nablanet model built by the subclass's
    ``_build``."""

    _sequences = False  # True: X is (n, n_steps, n_features)

    def __new__(cls, *args, **kwargs):
        # Python would name the internal class whose __init__ refuses a keyword; this names
        # the estimator, and says why for MLPClassifier's options it does not take.
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self"]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        if len(args) > len(positional):
            raise TypeError(f"{cls.__name__}() takes at most {len(positional)} positional "
                            f"arguments ({', '.join(positional)}), got {len(args)}; pass "
                            "the others by keyword")
        names = [p.name for p in params]
        for key in kwargs:
            if key not in names:
                raise TypeError(_unexpected(cls, key, names))
        return super().__new__(cls)

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

    def _check_params(self) -> None:
        name = type(self).__name__
        for param, ok, expected in _CHECKS:
            value = getattr(self, param)
            if not ok(value):
                raise ValueError(f"{name}: {param}: expected {expected}, got {value!r}")
        if self.solver == "lbfgs":
            raise ValueError(f"{name}: solver 'lbfgs' (L-BFGS, a full-batch quasi-Newton "
                             "method) is not available: nablanet trains by mini-batch "
                             "gradient descent; use 'adam' or 'sgd'")
        if self.solver not in ("adam", "sgd", "rmsprop"):
            raise ValueError(f"{name}: solver: expected 'adam', 'sgd' or 'rmsprop', got "
                             f"{self.solver!r}")
        if self.solver == "sgd" and self.learning_rate != "constant":
            raise ValueError(f"{name}: learning_rate {self.learning_rate!r} (a schedule of "
                             "scikit-learn's SGD) is not available: use 'constant'")

    def _optimizer(self):
        """The optimizer ``solver`` names, with scikit-learn's options (the L2 penalty is
        set per call of :meth:`_train`, from the batch size)."""
        lr = self.learning_rate_init
        if self.solver == "adam":
            return Adam(lr, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        if self.solver == "sgd":
            return SGD(lr, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        return RMSProp(lr)

    def _inputs(self, X) -> tuple[np.ndarray, dict]:
        """The model's inputs for validated ``X``: the array and keyword arguments."""
        return X, {}

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)  # scikit-learn's rule
        if self.batch_size > n:
            warnings.warn(f"{type(self).__name__}: batch_size {self.batch_size} is larger "
                          f"than the {n} training samples: clipped to {n}", stacklevel=3)
        return min(self.batch_size, n)

    def _start_curves(self) -> None:
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_: list[float] = []
        self.best_loss_: float | None = None
        self.best_validation_score_: float | None = None
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None

    def _train(self, X, T, epochs: int, *, incremental: bool) -> None:
        """Train ``model_`` on ``(X, T)`` for ``epochs`` epochs (partial_fit: one, without
        stopping rules; fit: up to ``max_iter``, stopping by scikit-learn's rule on the
        training loss, or with ``early_stopping`` on the validation score of a held-out
        ``validation_fraction``, stratified for classifiers) and extend the curves."""
        val, score = None, None
        if self.early_stopping and not incremental:
            X, Xv, T, Tv = train_test_split(
                X, T, test_size=self.validation_fraction, random_state=self.random_state,
                stratify=T if self._is_classifier() else None)
            Xv, kv = self._inputs(Xv)
            val = (Xv, Tv, kv["mask"]) if kv else (Xv, Tv)
            score = "val_accuracy" if self._is_classifier() else "val_r2"  # sklearn's score
        stop = None if incremental else _NoImprovement(
            monitor=score or "train_loss", patience=self.n_iter_no_change,
            min_delta=self.tol, restore_best=score is not None)
        batch = self._batch_size(len(X))
        # scikit-learn's L2 term (alpha / 2) ||W||^2 per mini-batch of `batch` samples
        self.model_.optimizer.weight_decay = self.alpha / batch
        X, kwargs = self._inputs(X)
        history = self.model_.fit(
            X, T, epochs=epochs, batch_size=batch, validation_data=val, early_stopping=stop,
            metrics=("r2",) if score == "val_r2" else (), shuffle=bool(self.shuffle),
            progress=False, monitor_training=True,
            callbacks=[_Verbose(stop, score)] if self.verbose else [],
            **kwargs)
        self.n_iter_ = len(history)  # of this call, as scikit-learn counts
        self.t_ += len(history) * len(X)
        self.loss_curve_ += [float(v) for v in history["train_loss"]]
        self.loss_ = self.loss_curve_[-1]
        if score is None:
            self.best_loss_ = min(self.loss_curve_)
        else:
            self.validation_scores_ = [*(self.validation_scores_ or []),
                                       *(_score(e, score) for e in history.epochs)]
            self.best_validation_score_ = max(self.validation_scores_)
        if not incremental and not history.stopped_early:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=3)

    def fit(self, X, y):
        """Build a fresh network (``warm_start``: keep the fitted one, with a fresh
        optimizer) and train it for up to ``max_iter`` epochs.

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
            a single class, an option out of range (naming it), or, with ``warm_start``,
            targets of other classes or outputs than the fitted network's.

        Warns
        -----
        ConvergenceWarning
            When ``max_iter`` epochs ran without the stopping rule stopping them.
        """
        self._check_params()
        warm = bool(self.warm_start) and hasattr(self, "model_")
        previous = (getattr(self, "classes_", None), getattr(self, "n_outputs_", None))
        X, y = self._validate(X, y, reset=not warm)
        T = self._targets(y, fitting=True)
        self.n_outputs_ = self._n_outputs(T)
        if warm:
            if previous[1] != self.n_outputs_ or (
                    previous[0] is not None and not np.array_equal(previous[0], self.classes_)):
                found = self.classes_.tolist() if self._is_classifier() else self.n_outputs_
                fitted = previous[0].tolist() if self._is_classifier() else previous[1]
                raise ValueError(f"warm_start: y has {found}, the fitted network was trained "
                                 f"on {fitted}")
            self.model_.optimizer = self._optimizer()
        else:
            self.model_ = self._build(X, T)
            self._start_curves()
        self._train(X, T, self.max_iter, incremental=False)
        return self

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on ``(X, y)``, building the network on the first call
        (``tol`` does not apply, as in scikit-learn).

        ``classes`` (classifiers): every label that will ever be seen, required on the
        first call (scikit-learn's convention).
        """
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        if self.early_stopping:
            raise ValueError(f"{type(self).__name__}: partial_fit does not support "
                             "early_stopping=True (scikit-learn's rule)")
        X, y = self._validate(X, y, reset=first)
        if first and self._is_classifier():
            if classes is None:
                raise ValueError("classes: required on the first call to partial_fit")
            self.classes_ = np.unique(classes)
        T = self._targets(y, fitting=first and not self._is_classifier())
        if first:
            self.n_outputs_ = self._n_outputs(T)
            self.model_ = self._build(X, T)
            self._start_curves()
        self._train(X, T, 1, incremental=True)
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


def _store(estimator, params: dict) -> None:
    """Keep the constructor's arguments as they are (scikit-learn's rule)."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


class _FeedforwardBuilder(_Estimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, init="he",
                 dtype="float64"):
        _store(self, locals())

    def _build(self, X, T):
        # scikit-learn's name for the sigmoid
        activation = "sigmoid" if self.activation == "logistic" else self.activation
        sizes = [X.shape[1], *self.hidden_layer_sizes, self._n_outputs(T)]
        return Network(sizes, activation=activation, init=self.init,
                       optimizer=self._optimizer(), seed=self.random_state, dtype=self.dtype,
                       **self._head)


class _RecurrentBuilder(_Estimator):
    _sequences = True

    def __init__(self, cell="lstm", *, n_hidden=32, num_layers=1, solver="adam",
                 alpha=0.0001, batch_size=16, learning_rate="constant",
                 learning_rate_init=0.005, max_iter=100, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype="float64"):
        _store(self, locals())

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


_TRAINING_DOC = """    solver : "adam", "sgd" or "rmsprop", default "adam"
        As in ``MLPClassifier``: ``"sgd"`` with ``momentum`` and ``nesterovs_momentum``;
        ``"rmsprop"`` is nablanet's own. ``"lbfgs"`` is refused (no L-BFGS).
    alpha : float, default 0.0001
        L2 penalty, scikit-learn's: ``(alpha / 2) ||W||^2`` per mini-batch, so the mean
        gradient gets ``(alpha / batch_size) W`` (weights only, not biases; on a last
        mini-batch smaller than ``batch_size`` scikit-learn divides by its size).
    batch_size : int or "auto", default {batch_size}
        ``"auto"``: ``min(200, n_samples)``; larger than the training set: clipped, with a
        warning.
    learning_rate : "constant"
        ``MLPClassifier``'s schedule; ``"invscaling"`` and ``"adaptive"`` are refused with
        ``solver="sgd"`` (and ignored otherwise, as there).
    learning_rate_init : float, default {learning_rate_init}
        The step size.
    max_iter : int, default {max_iter}
        The most epochs ``fit`` trains.
    shuffle : bool, default True
        Reshuffle the samples every epoch.
    random_state : int or None
        Seed of the initial weights, the shuffling and the validation split.
    tol : float, default 1e-4
        An epoch whose training loss (validation score with ``early_stopping``) does not
        beat the best so far by more than ``tol`` counts as no improvement ...
    n_iter_no_change : int, default 10
        ... and more than ``n_iter_no_change`` such epochs in a row stop ``fit``
        (``MLPClassifier``'s rule).
    verbose : bool, default False
        Print ``Iteration N, loss = ...`` after each epoch, as ``MLPClassifier`` does.
    warm_start : bool, default False
        ``fit`` keeps training the fitted network (with a fresh optimizer) instead of
        building a new one; ``loss_curve_`` and ``n_iter_`` continue.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
        ``solver="sgd"`` only.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified for the
        classifiers), stop on its score (accuracy, or R^2 for the regressors) by the
        ``tol`` rule and keep the best epoch's weights.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float, default 0.9, 0.999, 1e-8
        ``solver="adam"`` only.
    dtype : "float64" or "float32"
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    model_ : {model}
    n_features_in_ : int{n_features}
    n_outputs_ : int
    loss_curve_ : list of float
        The training loss of each epoch (``train_loss`` of the
        :class:`~nablanet.training.History` that ``fit`` returns; without the L2 term),
        continued by ``partial_fit`` and a ``warm_start`` fit.
    n_iter_ : int
        Epochs the last ``fit`` trained (it may stop before ``max_iter``; 1 after
        ``partial_fit``), as scikit-learn counts them.
    loss_ : float
        The last entry of ``loss_curve_``.
    best_loss_ : float or None
        The least of ``loss_curve_``; None with ``early_stopping``.
    validation_scores_ : list of float or None
        With ``early_stopping``: the validation score of each epoch.
    best_validation_score_ : float or None
        With ``early_stopping``: the best of them (the weights kept are that epoch's).
    t_ : int
        Training samples seen.
"""

_FEEDFORWARD_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Neurons per hidden layer.
    activation : str, default "relu"
        Hidden activation: ``relu``, ``tanh``, ``logistic`` (or ``sigmoid``) or
        ``identity``.
""" + _TRAINING_DOC.format(batch_size='"auto"', learning_rate_init=0.001, max_iter=200) + \
    """    init : str, default "he"
        Weight initialiser (:mod:`nablanet.init`).
""" + _ATTRIBUTES_DOC.format(model="nablanet.Network", n_features="")

_SEQUENCE_DOC = """
    Parameters
    ----------
    cell : "lstm", "gru" or "rnn", default "lstm"
    n_hidden : int, default 32
    num_layers : int, default 1
""" + _TRAINING_DOC.format(batch_size=16, learning_rate_init=0.005, max_iter=100) + \
    _ATTRIBUTES_DOC.format(
        model='nablanet.RNN, LSTM or GRU (``target="last"``)',
        n_features="\n        As scikit-learn counts it: ``X.shape[1]`` (the steps of a 3-D "
                   "``X``).")


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

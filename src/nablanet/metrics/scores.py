"""Classification and regression scores and confusion matrices (no rendering: see
:mod:`nablanet.metrics.report`).

Three evaluators, one per task, each returning a plain ``dict`` of Python numbers
(``int``, ``float``, ``None``, lists) that ``json.dumps`` accepts as it is:

``binary_classification_metrics(y_true, y_score, threshold)``
    counts (TP, FP, TN, FN), accuracy, precision, recall, F1, specificity, ROC AUC and
    average precision, for a model with one sigmoid-like output (the seed's
    ``BinaryClassificationEvaluator``, e.g. credit-card fraud detection).
``multiclass_metrics(y_true, y_pred, n_classes)``
    accuracy, macro F1, per-class precision / recall / F1 and the confusion matrix
    (e.g. MNIST digits).
``regression_metrics(y_true, y_pred, threshold)``
    MAE, RMSE, MAPE, R² and the share of predictions within a relative tolerance
    (the seed's ``RegressionEvaluator``).

Every dict carries a ``"task"`` key (``"binary"``, ``"multiclass"`` or ``"regression"``)
so that :func:`nablanet.metrics.report.format_report` can render any of them.

Definitions follow the seed README (``seeds/rnn-rust-readme.txt``, "Evaluation &
Metrics") and agree with ``sklearn.metrics`` with ``zero_division=0``: a ratio whose
denominator is zero is 0.0. A metric that is undefined for the data (ROC AUC with one
class only, MAPE with all targets zero) is ``None``, never NaN.

Sources: T. Fawcett, "An introduction to ROC analysis", *Pattern Recognition Letters*
27(8), 2006 (ROC, confusion matrix, rates); J. A. Hanley and B. J. McNeil, "The meaning
and use of the area under a ROC curve", *Radiology* 143, 1982 (AUC as the Mann-Whitney
statistic); C. D. Manning, P. Raghavan and H. Schütze, *Introduction to Information
Retrieval*, 2008, ch. 8 (precision, recall, F1, average precision).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = [
    "binary_classification_metrics",
    "confusion_matrix",
    "multiclass_metrics",
    "regression_metrics",
    "to_jsonable",
]


# --------------------------------------------------------------------------- validation


def _as_array(x: Any, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """Return ``x`` as a non-empty, NaN-free numeric array with ``ndim`` in ``ndims``."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected an array of real numbers, found dtype {arr.dtype}")
    if arr.ndim not in ndims:
        shapes = " or ".join({1: "(n,)", 2: "(n, k)"}[d] for d in ndims)
        raise ValueError(f"{name}: expected shape {shapes}, found shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, found shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            first = arr[bad].flat[0]
            raise ValueError(
                f"{name}: expected finite numbers, found {int(bad.sum())} non-finite "
                f"value(s), the first is {first}"
            )
    return arr


def _as_vector(x: Any, name: str) -> np.ndarray:
    """Validate ``x`` as shape ``(n,)`` or ``(n, 1)`` and return it flattened to ``(n,)``."""
    arr = _as_array(x, name, (1, 2))
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise ValueError(f"{name}: expected shape (n,) or (n, 1), found shape {arr.shape}")
        arr = arr[:, 0]
    return arr


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_b}: expected {len(a)} samples to match {name_a}, found {len(b)}")


def _check_threshold(threshold: Any, *, non_negative: bool) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"threshold: expected a real number, found {type(threshold).__name__}")
    value = float(threshold)
    if not math.isfinite(value) or (non_negative and value < 0):
        expected = "a finite number >= 0" if non_negative else "a finite number"
        raise ValueError(f"threshold: expected {expected}, found {threshold}")
    return value


def _as_labels(x: Any, name: str) -> np.ndarray:
    """Validate class labels (non-negative integers, possibly stored as floats)."""
    arr = _as_vector(x, name)
    if np.issubdtype(arr.dtype, np.floating):
        fractional = arr != np.round(arr)
        if fractional.any():
            raise ValueError(f"{name}: expected integer class labels, found {arr[fractional][0]}")
    if arr.min() < 0:
        raise ValueError(f"{name}: expected class labels >= 0, found {arr.min()}")
    return arr.astype(np.int64)


def _check_n_classes(n_classes: Any, y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """Return ``n_classes``, inferred as ``max label + 1`` when None, else validated."""
    if n_classes is None:
        return int(max(y_true.max(), y_pred.max())) + 1
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise TypeError(f"n_classes: expected an int, found {type(n_classes).__name__}")
    if n_classes < 1:
        raise ValueError(f"n_classes: expected an int >= 1, found {n_classes}")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.max() >= n_classes:
            raise ValueError(
                f"{name}: expected class labels in 0..{n_classes - 1} "
                f"(n_classes={n_classes}), found {labels.max()}"
            )
    return int(n_classes)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is 0 (``zero_division=0``)."""
    return float(numerator / denominator) if denominator else 0.0


# ------------------------------------------------------------------------ classification


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Count, for every pair of classes, how many samples of one were predicted as the other.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,) or (n, 1)
        True and predicted class labels in ``0 .. n_classes - 1``. Floats holding whole
        numbers (``3.0``) and booleans are accepted.
    n_classes : int, optional
        Number of classes; default ``max(y_true.max(), y_pred.max()) + 1``. Classes that
        never occur get a row and column of zeros.

    Returns
    -------
    numpy.ndarray of int64, shape (n_classes, n_classes)
        ``C[i, j]`` = number of samples with true class ``i`` predicted as class ``j``:
        rows are true classes, columns predicted ones (scikit-learn's convention). The
        diagonal holds the correct predictions. Computed in one ``np.bincount`` over
        ``n_classes * y_true + y_pred``.

    Raises
    ------
    ValueError
        If the arrays are empty, differ in length, have another shape, contain NaN,
        negative or fractional labels, or labels ``>= n_classes``.
    TypeError
        If an array is not numeric or ``n_classes`` is not an int.

    Notes
    -----
    Fawcett (2006), section 2: the confusion matrix ("contingency table") from which
    every rate below is computed.
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    _check_same_length(y_true, y_pred, "y_true", "y_pred")
    n_classes = _check_n_classes(n_classes, y_true, y_pred)
    counts = np.bincount(n_classes * y_true + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def _score_groups(positive: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative counts per distinct score, in ascending score order."""
    _, group = np.unique(y_score, return_inverse=True)
    n_groups = int(group.max()) + 1
    pos = np.bincount(group[positive], minlength=n_groups)
    neg = np.bincount(group[~positive], minlength=n_groups)
    return pos, neg


def _roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    # Mann-Whitney: P(score of a random positive > score of a random negative), ties 1/2.
    neg_below = np.cumsum(neg) - neg
    wins_twice = int(np.sum(pos * (2 * neg_below + neg)))
    return wins_twice / (2 * int(pos.sum()) * int(neg.sum()))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    # Walk the distinct thresholds from the highest score down: sum of P_k * (R_k - R_{k-1}).
    pos, neg = pos[::-1], neg[::-1]
    tps = np.cumsum(pos)
    precision = tps / (tps + np.cumsum(neg))
    return float(np.sum(pos * precision) / tps[-1])


def binary_classification_metrics(
    y_true: Any, y_score: Any, threshold: float = 0.5
) -> dict[str, Any]:
    r"""Evaluate a binary classifier from its real-valued scores.

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, 1)
        Targets in ``[0, 1]``: ints, bools or floats. Floats are rounded, targets
        ``>= 0.5`` are positive, so that a label ``0.9999`` left by min-max
        denormalisation counts as 1.
    y_score : array_like of float, shape (n,) or (n, 1)
        Scores or probabilities of the positive class (e.g. sigmoid outputs), any real
        scale; higher means more likely positive.
    threshold : float, default 0.5
        A sample is predicted positive when ``y_score >= threshold``. It only affects
        the counts and the rates computed from them, not ``roc_auc`` or ``pr_auc``.

    Returns
    -------
    dict
        ``task``
            ``"binary"``.
        ``n``, ``n_positive``, ``n_negative``, ``threshold``
            sample counts and the threshold used.
        ``tp``, ``fp``, ``tn``, ``fn`` : int
            true / false positives and negatives.
        ``accuracy`` : float
            :math:`(TP + TN) / n`.
        ``precision`` : float
            :math:`TP / (TP + FP)`.
        ``recall``, ``positive_class_accuracy`` : float
            :math:`TP / (TP + FN)`, the true positive rate (same value, both names).
        ``specificity``, ``negative_class_accuracy`` : float
            :math:`TN / (TN + FP)`, the true negative rate (same value, both names).
        ``f1`` : float
            :math:`2PR / (P + R) = 2TP / (2TP + FP + FN)`.
        ``roc_auc`` : float or None
            area under the ROC curve, computed by ranks as the Mann-Whitney statistic
            :math:`\frac{1}{n_+ n_-}\sum_{i \in +}\sum_{j \in -}
            ([s_i > s_j] + \tfrac12 [s_i = s_j])`, which equals the trapezoidal area under
            the ROC curve with tied scores joined by a diagonal segment, as in
            ``sklearn.metrics.roc_auc_score``. ``None`` when ``y_true`` holds one class
            only (``n_positive == 0`` or ``n_negative == 0``): the curve is undefined.
        ``pr_auc`` : float or None
            average precision :math:`\sum_k (R_k - R_{k-1}) P_k` over the distinct score
            thresholds in decreasing order, as in
            ``sklearn.metrics.average_precision_score`` (a step function, no
            interpolation). ``None`` when there are no positives (recall is 0/0);
            1.0 when every target is positive.

        A ratio with a zero denominator is 0.0 (scikit-learn's ``zero_division=0``).

    Raises
    ------
    ValueError
        If the arrays are empty, differ in length, have another shape, contain NaN or
        infinity, if ``y_true`` has a value outside ``[0, 1]`` (use
        :func:`multiclass_metrics` for more classes), or ``threshold`` is not finite.
    TypeError
        If an array is not numeric or ``threshold`` is not a real number.

    Notes
    -----
    Formulas: seed README ("Evaluation & Metrics": accuracy, precision, recall, F1,
    specificity); Fawcett (2006) for the ROC curve and its area; Hanley & McNeil (1982)
    for the rank form of the AUC; Manning et al. (2008), ch. 8, for average precision.
    """
    y_true = _as_vector(y_true, "y_true")
    y_score = _as_vector(y_score, "y_score")
    _check_same_length(y_true, y_score, "y_true", "y_score")
    threshold = _check_threshold(threshold, non_negative=False)
    outside = (y_true < 0) | (y_true > 1)
    if outside.any():
        raise ValueError(
            "y_true: expected binary targets in [0, 1] (0/1, floats >= 0.5 count as 1), "
            f"found {y_true[outside][0]}; use multiclass_metrics for more classes"
        )
    positive = y_true >= 0.5
    predicted = y_score >= threshold

    tp = int(np.count_nonzero(positive & predicted))
    fn = int(np.count_nonzero(positive & ~predicted))
    fp = int(np.count_nonzero(~positive & predicted))
    tn = int(np.count_nonzero(~positive & ~predicted))
    n_positive, n_negative = tp + fn, tn + fp
    recall = _ratio(tp, n_positive)
    specificity = _ratio(tn, n_negative)

    pos, neg = _score_groups(positive, y_score)
    return {
        "task": "binary",
        "n": len(y_true),
        "n_positive": n_positive,
        "n_negative": n_negative,
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "accuracy": (tp + tn) / len(y_true),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "specificity": specificity,
        "positive_class_accuracy": recall,
        "negative_class_accuracy": specificity,
        "roc_auc": _roc_auc(pos, neg) if n_positive and n_negative else None,
        "pr_auc": _average_precision(pos, neg) if n_positive else None,
    }


def _as_class_labels(x: Any, name: str) -> np.ndarray:
    """Labels from ``(n,)`` / ``(n, 1)`` labels or ``(n, k)`` scores / one-hot rows."""
    arr = _as_array(x, name, (1, 2))
    if arr.ndim == 2 and arr.shape[1] > 1:
        return np.argmax(arr, axis=1)
    return _as_labels(arr, name)


def multiclass_metrics(y_true: Any, y_pred: Any, n_classes: int | None = None) -> dict[str, Any]:
    r"""Evaluate a classifier over ``n_classes`` classes from its predicted labels.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,), (n, 1) or (n, k)
        Class labels in ``0 .. n_classes - 1`` (ints, or floats holding whole numbers),
        or, with ``k > 1`` columns, one row of scores, probabilities or a one-hot vector
        per sample, reduced to its ``argmax`` (so network outputs and one-hot targets
        can be passed as they are).
    n_classes : int, optional
        Number of classes. Default: the number of columns of a 2-D input, else
        ``max label + 1``.

    Returns
    -------
    dict
        ``task``
            ``"multiclass"``.
        ``n``, ``n_classes`` : int
            sample and class counts.
        ``accuracy`` : float
            share of samples with ``y_pred == y_true`` (trace of the confusion matrix
            over ``n``).
        ``per_class_precision``, ``per_class_recall``, ``per_class_f1`` : list of float
            for each class ``c`` (one-vs-rest): :math:`P_c = C_{cc} / \sum_i C_{ic}`,
            :math:`R_c = C_{cc} / \sum_j C_{cj}`,
            :math:`F1_c = 2 C_{cc} / (\sum_i C_{ic} + \sum_j C_{cj})`, 0.0 when the
            denominator is zero.
        ``support`` : list of int
            number of true samples of each class.
        ``macro_f1`` : float
            unweighted mean of ``per_class_f1`` over all ``n_classes`` classes, classes
            absent from both arrays included (with F1 = 0), as
            ``sklearn.metrics.f1_score(average="macro", labels=range(n_classes),
            zero_division=0)``.
        ``confusion_matrix`` : list of list of int
            :func:`confusion_matrix` as nested lists (rows true, columns predicted).

    Raises
    ------
    ValueError
        If the arrays are empty, differ in length, contain NaN, negative or fractional
        labels, labels ``>= n_classes``, or a 2-D input's column count differs from
        ``n_classes``.
    TypeError
        If an array is not numeric or ``n_classes`` is not an int.

    Notes
    -----
    Manning et al. (2008), ch. 13.6, for macro-averaging; Fawcett (2006), section 9,
    for the one-vs-rest view of a multi-class confusion matrix.
    """
    for name, x in (("y_true", y_true), ("y_pred", y_pred)):
        width = np.shape(x)[1] if np.ndim(x) == 2 else 1
        if width > 1:
            if n_classes is None:
                n_classes = width
            elif width != n_classes:
                raise ValueError(f"{name}: expected {n_classes} columns (n_classes), found {width}")
    y_true = _as_class_labels(y_true, "y_true")
    y_pred = _as_class_labels(y_pred, "y_pred")
    cm = confusion_matrix(y_true, y_pred, n_classes)
    correct = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    f1 = [_ratio(2 * c, p + a) for c, p, a in zip(correct, predicted, actual, strict=True)]
    return {
        "task": "multiclass",
        "n": len(y_true),
        "n_classes": len(cm),
        "accuracy": int(correct.sum()) / len(y_true),
        "macro_f1": float(np.mean(f1)),
        "per_class_precision": [_ratio(c, p) for c, p in zip(correct, predicted, strict=True)],
        "per_class_recall": [_ratio(c, a) for c, a in zip(correct, actual, strict=True)],
        "per_class_f1": f1,
        "support": actual.tolist(),
        "confusion_matrix": cm.tolist(),
    }


# ---------------------------------------------------------------------------- regression


def regression_metrics(y_true: Any, y_pred: Any, threshold: float = 0.1) -> dict[str, Any]:
    r"""Evaluate real-valued predictions against targets.

    Parameters
    ----------
    y_true, y_pred : array_like of float, shape (n,) or (n, k)
        Targets and predictions, one row per sample, ``k`` outputs; a 1-D array is
        one output, so ``(n,)`` and ``(n, 1)`` may be mixed.
    threshold : float, default 0.1
        Relative tolerance of ``within_threshold`` (0.1 = within ±10 % of the target).

    Returns
    -------
    dict
        With errors :math:`e = \hat y - y` taken element-wise:

        ``task``
            ``"regression"``.
        ``n``, ``n_outputs`` : int
            samples (rows) and outputs (columns).
        ``threshold`` : float
            the relative tolerance used.
        ``mae`` : float
            :math:`\operatorname{mean} |e|` over all elements.
        ``rmse`` : float
            :math:`\sqrt{\operatorname{mean}(e^2)}` per output, averaged over outputs
            (``sklearn.metrics.root_mean_squared_error``'s ``"uniform_average"``).
        ``mape`` : float or None
            :math:`\operatorname{mean} |e| / |y|` over the elements with ``y != 0``, as a
            fraction (0.05 = 5 %). Zero targets are left out rather than divided by
            machine epsilon as scikit-learn does; ``None`` if every target is 0.
        ``mape_excluded`` : int
            number of zero targets left out of ``mape``.
        ``r2`` : float or None
            coefficient of determination :math:`1 - SS_{res} / SS_{tot}` per output,
            averaged over outputs, as ``sklearn.metrics.r2_score`` (a constant target
            column scores 1.0 if predicted exactly, else 0.0). ``None`` when ``n < 2``.
        ``within_threshold`` : float
            share of elements with :math:`|e| \le threshold \cdot |y|`, or
            :math:`|e| \le threshold` where ``y == 0`` (a relative tolerance has no
            width at zero).

    Raises
    ------
    ValueError
        If the arrays are empty, have more than 2 dimensions, differ in shape, contain
        NaN or infinity, or ``threshold`` is negative or not finite.
    TypeError
        If an array is not numeric or ``threshold`` is not a real number.

    Notes
    -----
    Formulas: seed README ("Evaluation & Metrics": MAE, RMSE, MAPE, R², accuracy within
    threshold).
    """
    y_true = _as_array(y_true, "y_true", (1, 2)).astype(np.float64)
    y_pred = _as_array(y_pred, "y_pred", (1, 2)).astype(np.float64)
    y_true = y_true.reshape(len(y_true), -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_pred: expected shape {y_true.shape} to match y_true, found {y_pred.shape}"
        )
    threshold = _check_threshold(threshold, non_negative=True)
    n, n_outputs = y_true.shape

    err = y_pred - y_true
    abs_err = np.abs(err)
    abs_true = np.abs(y_true)
    nonzero = y_true != 0
    tolerance = np.where(nonzero, threshold * abs_true, threshold)

    ss_res = np.sum(err**2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    # A constant target column (ss_tot == 0) scores 1.0 if predicted exactly, else 0.0.
    varies = ss_tot != 0
    r2 = np.where(varies, 1 - ss_res / np.where(varies, ss_tot, 1), ss_res == 0)
    return {
        "task": "regression",
        "n": n,
        "n_outputs": n_outputs,
        "threshold": threshold,
        "mae": float(abs_err.mean()),
        "rmse": float(np.sqrt(ss_res / n).mean()),
        "mape": float(np.mean(abs_err[nonzero] / abs_true[nonzero])) if nonzero.any() else None,
        "mape_excluded": int(y_true.size - np.count_nonzero(nonzero)),
        "r2": float(r2.mean()) if n >= 2 else None,
        "within_threshold": float(np.mean(abs_err <= tolerance)),
    }


def to_jsonable(metrics: Any) -> Any:
    """Convert a metrics dict (or any nesting of dicts and sequences) to plain Python.

    NumPy scalars and arrays become ``int``, ``float``, ``bool`` and lists; tuples become
    lists; NaN and infinities become ``None`` (JSON has no such numbers); dict keys
    become ``str``. The result can be passed to ``json.dumps`` with its defaults.

    Parameters
    ----------
    metrics : dict, list, tuple, numpy.ndarray or scalar

    Returns
    -------
    The converted value, of the same structure.
    """
    if isinstance(metrics, dict):
        return {str(key): to_jsonable(value) for key, value in metrics.items()}
    if isinstance(metrics, list | tuple | np.ndarray):
        return [to_jsonable(value) for value in metrics]
    if isinstance(metrics, np.generic):
        metrics = metrics.item()
    if isinstance(metrics, float) and not math.isfinite(metrics):
        return None
    return metrics

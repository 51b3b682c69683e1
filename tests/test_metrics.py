"""Tests for nablanet.metrics: every metric checked against scikit-learn."""

import json
import math
import re

import numpy as np
import pytest

skm = pytest.importorskip("sklearn.metrics")

from nablanet.metrics import (  # noqa: E402
    binary_classification_metrics,
    confusion_matrix,
    format_report,
    multiclass_metrics,
    regression_metrics,
    report_text,
    to_jsonable,
)


def rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------- confusion matrix


@pytest.mark.parametrize("n_classes", [None, 7])
def test_confusion_matrix_matches_sklearn(n_classes):
    g = rng(1)
    y_true = g.integers(0, 5, 500)
    y_pred = g.integers(0, 5, 500)
    k = n_classes or 5
    got = confusion_matrix(y_true, y_pred, n_classes)
    expected = skm.confusion_matrix(y_true, y_pred, labels=range(k))
    assert got.dtype == np.int64
    assert got.shape == (k, k)
    np.testing.assert_array_equal(got, expected)


def test_confusion_matrix_accepts_float_labels_and_columns():
    y_true = np.array([[0.0], [1.0], [2.0], [2.0]])
    y_pred = [0, 2, 2, 1]
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred), [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    )


# ------------------------------------------------------------------ binary classification


def _check_binary_against_sklearn(y_true, y_score, threshold):
    m = binary_classification_metrics(y_true, y_score, threshold)
    truth = (np.asarray(y_true) >= 0.5).astype(int)
    pred = (np.asarray(y_score) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(truth, pred, labels=[0, 1]).ravel()
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (tp, fp, tn, fn)
    assert all(type(m[k]) is int for k in ("tp", "fp", "tn", "fn", "n"))
    assert m["n"] == len(truth)
    assert m["threshold"] == threshold
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(truth, pred, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(truth, pred, zero_division=0))
    assert m["f1"] == pytest.approx(skm.f1_score(truth, pred, zero_division=0))
    specificity = skm.recall_score(truth, pred, pos_label=0, zero_division=0)
    assert m["specificity"] == pytest.approx(specificity)
    assert m["positive_class_accuracy"] == m["recall"]
    assert m["negative_class_accuracy"] == m["specificity"]
    if 0 < truth.sum() < len(truth):
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, y_score), abs=1e-12)
        ap = skm.average_precision_score(truth, y_score)
        assert m["pr_auc"] == pytest.approx(ap, abs=1e-12)
    return m


def test_binary_random_scores():
    g = rng(2)
    y_true = g.integers(0, 2, 1000)
    y_score = np.clip(0.3 * y_true + 0.7 * g.random(1000), 0, 1)
    m = _check_binary_against_sklearn(y_true, y_score, 0.5)
    assert 0.5 < m["roc_auc"] < 1


def test_binary_tied_scores():
    g = rng(3)
    y_true = g.integers(0, 2, 2000)
    y_score = np.round(0.2 * y_true + 0.8 * g.random(2000), 1)  # 11 distinct scores
    assert len(np.unique(y_score)) <= 11
    _check_binary_against_sklearn(y_true, y_score, 0.5)


def test_binary_all_scores_tied_gives_auc_one_half():
    y_true = [0, 1, 0, 1, 1]
    m = _check_binary_against_sklearn(y_true, np.full(5, 0.7), 0.5)
    assert m["roc_auc"] == 0.5


def test_binary_heavy_imbalance():
    # 0.17% positives, as in the credit-card fraud data set.
    g = rng(4)
    n = 20_000
    y_true = np.zeros(n)
    y_true[g.choice(n, size=34, replace=False)] = 1.0
    y_score = np.clip(g.normal(0.2, 0.15, n) + 0.4 * y_true, 0, 1)
    m = _check_binary_against_sklearn(y_true, y_score, 0.5)
    assert m["n_positive"] == 34
    assert m["n_negative"] == n - 34


def test_binary_other_threshold_and_logit_scores():
    g = rng(5)
    y_true = g.integers(0, 2, 500)
    logits = g.normal(size=500) + y_true
    _check_binary_against_sklearn(y_true, logits, 0.3)
    _check_binary_against_sklearn(y_true, logits, -1.25)


def test_binary_threshold_does_not_change_auc():
    g = rng(6)
    y_true = g.integers(0, 2, 300)
    y_score = g.random(300)
    a = binary_classification_metrics(y_true, y_score, 0.2)
    b = binary_classification_metrics(y_true, y_score, 0.8)
    assert (a["roc_auc"], a["pr_auc"]) == (b["roc_auc"], b["pr_auc"])
    assert a["tp"] >= b["tp"]


def test_binary_denormalised_float_targets_are_rounded():
    y_true = np.array([0.9999, 1e-5, 1.0, 0.0, 0.5000001, 0.4999])
    y_score = np.array([0.9, 0.1, 0.2, 0.6, 0.7, 0.3])
    m = binary_classification_metrics(y_true, y_score)
    assert (m["n_positive"], m["n_negative"]) == (3, 3)
    np.testing.assert_equal(m, binary_classification_metrics([1, 0, 1, 0, 1, 0], y_score))
    _check_binary_against_sklearn(y_true, y_score, 0.5)


def test_binary_accepts_bool_and_column_vectors():
    y_true = np.array([True, False, True, False])
    y_score = np.array([[0.8], [0.4], [0.3], [0.1]])
    m = binary_classification_metrics(y_true, y_score)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 0, 2, 1)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, y_score.ravel()))


def test_binary_zero_division_is_zero():
    # No predicted positives: precision is 0/0; no true positives: F1 is 0.
    m = _check_binary_against_sklearn([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], 0.9)
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert m["specificity"] == 1.0


def test_binary_only_negatives():
    m = _check_binary_against_sklearn([0, 0, 0, 0], [0.1, 0.6, 0.3, 0.2], 0.5)
    assert m["roc_auc"] is None
    assert m["pr_auc"] is None
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert m["specificity"] == 0.75


def test_binary_only_positives():
    y_score = [0.1, 0.6, 0.3, 0.9]
    m = _check_binary_against_sklearn([1, 1, 1, 1], y_score, 0.5)
    assert m["roc_auc"] is None
    assert m["pr_auc"] == 1.0 == skm.average_precision_score([1, 1, 1, 1], y_score)
    assert m["specificity"] == 0.0
    assert m["recall"] == 0.5


# ------------------------------------------------------------------------------ multiclass


def _check_multiclass_against_sklearn(y_true, y_pred, n_classes):
    m = multiclass_metrics(y_true, y_pred, n_classes)
    labels = list(range(n_classes))
    assert m["n"] == len(y_true)
    assert m["n_classes"] == n_classes
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    macro = skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(macro)
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    np.testing.assert_allclose(m["per_class_precision"], p)
    np.testing.assert_allclose(m["per_class_recall"], r)
    np.testing.assert_allclose(m["per_class_f1"], f)
    assert m["support"] == s.tolist()
    expected_cm = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert m["confusion_matrix"] == expected_cm
    return m


def test_multiclass_random_labels():
    g = rng(7)
    y_true = g.integers(0, 6, 1000)
    y_pred = np.where(g.random(1000) < 0.6, y_true, g.integers(0, 6, 1000))
    _check_multiclass_against_sklearn(y_true, y_pred, 6)


def test_multiclass_absent_and_never_predicted_classes():
    g = rng(8)
    y_true = g.integers(0, 4, 300)
    y_pred = g.integers(1, 5, 300)  # class 0 never predicted, class 4 never true
    m = _check_multiclass_against_sklearn(y_true, y_pred, 7)  # 5, 6 absent from both
    assert m["per_class_precision"][0] == 0.0
    assert m["per_class_f1"][5:] == [0.0, 0.0]
    assert multiclass_metrics(y_true, y_pred)["n_classes"] == 5


def test_multiclass_accepts_scores_and_one_hot_rows():
    g = rng(9)
    y_true = g.integers(0, 10, 200)
    scores = g.random((200, 10))
    one_hot = np.eye(10)[y_true]
    m = multiclass_metrics(one_hot, scores)
    assert m == multiclass_metrics(y_true, scores.argmax(axis=1), 10)
    assert m["n_classes"] == 10
    assert multiclass_metrics(y_true, scores, n_classes=10) == m


# ------------------------------------------------------------------------------ regression


def _check_regression_against_sklearn(y_true, y_pred):
    m = regression_metrics(y_true, y_pred)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y_true, y_pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y_true, y_pred))
    return m


def test_regression_one_output():
    g = rng(10)
    y_true = g.normal(3.0, 2.0, 500)
    y_pred = y_true + g.normal(0, 0.5, 500)
    m = _check_regression_against_sklearn(y_true, y_pred)
    mape = skm.mean_absolute_percentage_error(y_true, y_pred)
    assert m["mape"] == pytest.approx(mape)
    assert m["mape_excluded"] == 0
    assert (m["n"], m["n_outputs"], m["threshold"]) == (500, 1, 0.1)


def test_regression_multi_output_uniform_average():
    g = rng(11)
    y_true = g.normal(size=(400, 3)) * [1.0, 10.0, 100.0]
    y_pred = y_true + g.normal(size=(400, 3)) * [0.5, 1.0, 80.0]
    m = _check_regression_against_sklearn(y_true, y_pred)
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y_true, y_pred))
    assert (m["n"], m["n_outputs"]) == (400, 3)


def test_regression_column_and_flat_shapes_agree():
    g = rng(12)
    y_true = g.normal(size=50)
    y_pred = y_true + 0.1
    assert regression_metrics(y_true, y_pred[:, None]) == regression_metrics(y_true, y_pred)


def test_regression_zero_targets_left_out_of_mape():
    g = rng(13)
    y_true = g.normal(size=100)
    y_true[[3, 17, 42]] = 0.0
    y_pred = y_true + g.normal(0, 0.2, 100)
    m = _check_regression_against_sklearn(y_true, y_pred)
    keep = y_true != 0
    expected = skm.mean_absolute_percentage_error(y_true[keep], y_pred[keep])
    assert m["mape"] == pytest.approx(expected)
    assert m["mape_excluded"] == 3


def test_regression_all_zero_targets():
    m = regression_metrics(np.zeros(4), [0.0, 0.05, -0.2, 0.0])
    assert m["mape"] is None
    assert m["mape_excluded"] == 4
    assert m["within_threshold"] == 0.75  # absolute tolerance 0.1 at y == 0
    assert m["r2"] == skm.r2_score(np.zeros(4), [0.0, 0.05, -0.2, 0.0]) == 0.0


def test_regression_constant_target_predicted_exactly():
    assert regression_metrics([2.0, 2.0], [2.0, 2.0])["r2"] == 1.0
    assert skm.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0


def test_regression_single_sample_has_no_r2():
    m = regression_metrics([1.0], [1.5])
    assert m["r2"] is None
    assert m["mae"] == 0.5


def test_regression_within_threshold_is_relative():
    y_true = np.array([10.0, 10.0, -10.0, 100.0, 0.0, 0.0])
    y_pred = np.array([10.5, 12.0, -10.9, 89.0, 0.05, 0.5])
    # |err| / |y| = 0.05, 0.2, 0.09, 0.11; at y == 0 the tolerance is absolute: 0.05 ok, 0.5 not
    assert regression_metrics(y_true, y_pred)["within_threshold"] == pytest.approx(3 / 6)
    assert regression_metrics(y_true, y_pred, threshold=0.25)["within_threshold"] == 5 / 6


# ---------------------------------------------------------------------------- error paths


BAD_INPUTS = [
    # confusion_matrix
    (confusion_matrix, ([0, 1, 2], [0, 1]), {}, ValueError, r"y_pred: expected 3 samples"),
    (confusion_matrix, ([], []), {}, ValueError, r"y_true: expected a non-empty array"),
    (confusion_matrix, ([0, -1], [0, 1]), {}, ValueError, r"y_true: expected class labels >= 0"),
    (confusion_matrix, ([0, 1], [0, 1.5]), {}, ValueError, r"y_pred: expected integer class"),
    (confusion_matrix, ([0, 1], [0, np.nan]), {}, ValueError, r"y_pred: expected finite"),
    (confusion_matrix, ([0, 3], [0, 1]), {"n_classes": 3}, ValueError, r"y_true: .* 0\.\.2"),
    (confusion_matrix, ([0, 1], [0, 1]), {"n_classes": 0}, ValueError, r"n_classes: .*>= 1"),
    (confusion_matrix, ([0, 1], [0, 1]), {"n_classes": 2.0}, TypeError, r"n_classes: .*int"),
    (confusion_matrix, ([[0, 1]], [0]), {}, ValueError, r"y_true: expected shape \(n,\)"),
    (confusion_matrix, (["a", "b"], [0, 1]), {}, TypeError, r"y_true: .*real numbers"),
    # binary_classification_metrics
    (binary_classification_metrics, ([0, 1], [0.5]), {}, ValueError, r"y_score: expected 2"),
    (binary_classification_metrics, ([], []), {}, ValueError, r"y_true: expected a non-empty"),
    (
        binary_classification_metrics,
        ([0, 1], [0.2, np.nan]),
        {},
        ValueError,
        r"y_score: expected finite numbers, found 1 non-finite value\(s\), the first is nan",
    ),
    (binary_classification_metrics, ([0, 1], [0.2, np.inf]), {}, ValueError, r"y_score: .*inf"),
    (binary_classification_metrics, ([0, np.nan], [0.2, 0.3]), {}, ValueError, r"y_true: .*nan"),
    (
        binary_classification_metrics,
        ([0, 1, 2], [0.1, 0.2, 0.3]),
        {},
        ValueError,
        r"y_true: expected binary targets in \[0, 1\].*found 2",
    ),
    (binary_classification_metrics, ([0, -0.5], [0.1, 0.2]), {}, ValueError, r"y_true: .*-0\.5"),
    (
        binary_classification_metrics,
        ([0, 1], [[0.1, 0.9], [0.8, 0.2]]),
        {},
        ValueError,
        r"y_score: expected shape \(n,\) or \(n, 1\), found shape \(2, 2\)",
    ),
    (
        binary_classification_metrics,
        ([0, 1], [0.1, 0.9]),
        {"threshold": np.nan},
        ValueError,
        r"threshold: expected a finite number",
    ),
    (
        binary_classification_metrics,
        ([0, 1], [0.1, 0.9]),
        {"threshold": "0.5"},
        TypeError,
        r"threshold: expected a real number, found str",
    ),
    # multiclass_metrics
    (multiclass_metrics, ([0, 1, 2], [0, 1]), {}, ValueError, r"y_pred: expected 3 samples"),
    (multiclass_metrics, ([], []), {}, ValueError, r"y_true: expected a non-empty"),
    (
        multiclass_metrics,
        ([0, 1], np.ones((2, 3))),
        {"n_classes": 4},
        ValueError,
        r"y_pred: expected 4 columns \(n_classes\), found 3",
    ),
    (multiclass_metrics, ([0, 5], [0, 1]), {"n_classes": 3}, ValueError, r"y_true: .*found 5"),
    (
        multiclass_metrics,
        ([0, 1], [[np.nan, 1.0], [0.0, 1.0]]),
        {},
        ValueError,
        r"y_pred: expected finite",
    ),
    # regression_metrics
    (
        regression_metrics,
        ([1.0, 2.0], [1.0]),
        {},
        ValueError,
        r"y_pred: expected shape \(2, 1\) to match y_true, found \(1, 1\)",
    ),
    (regression_metrics, (np.ones((4, 2)), np.ones((4, 3))), {}, ValueError, r"y_pred: .*\(4, 3\)"),
    (regression_metrics, ([], []), {}, ValueError, r"y_true: expected a non-empty"),
    (regression_metrics, ([1.0, np.nan], [1.0, 2.0]), {}, ValueError, r"y_true: expected finite"),
    (regression_metrics, ([1.0, 2.0], [np.inf, 2.0]), {}, ValueError, r"y_pred: expected finite"),
    (
        regression_metrics,
        (np.ones((2, 2, 2)), np.ones((2, 2, 2))),
        {},
        ValueError,
        r"y_true: expected shape \(n,\) or \(n, k\), found shape \(2, 2, 2\)",
    ),
    (
        regression_metrics,
        ([1.0], [1.0]),
        {"threshold": -0.1},
        ValueError,
        r"threshold: expected a finite number >= 0, found -0.1",
    ),
]


@pytest.mark.parametrize(
    ("func", "args", "kwargs", "error", "match"),
    BAD_INPUTS,
    ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(BAD_INPUTS)],
)
def test_bad_input_raises(func, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        func(*args, **kwargs)


def test_format_report_rejects_unknown_dict():
    with pytest.raises(ValueError, match=r"metrics: expected a dict with 'task'"):
        format_report({"accuracy": 0.5}, "x")


# -------------------------------------------------------------------------- reports, json


def _all_three():
    g = rng(14)
    y = g.integers(0, 2, 300)
    binary = binary_classification_metrics(y, np.clip(0.3 * y + 0.7 * g.random(300), 0, 1))
    multi = multiclass_metrics(g.integers(0, 3, 100), g.integers(0, 3, 100))
    y_reg = g.normal(size=(60, 2))
    y_reg[0, 0] = 0.0
    regression = regression_metrics(y_reg, y_reg + g.normal(0, 0.1, (60, 2)))
    return binary, multi, regression


def test_report_text_binary():
    binary, _, _ = _all_three()
    text = report_text(binary, "Test evaluation")
    assert "Test evaluation" in text
    for key in ("tp", "fp", "tn", "fn"):
        assert str(binary[key]) in text
    assert f"True Positives: {binary['tp']}" in text
    assert f"False Negatives: {binary['fn']}" in text
    for key in ("accuracy", "precision", "recall", "f1", "specificity"):
        assert f"{100 * binary[key]:.2f}%" in text
    assert f"{binary['roc_auc']:.4f}" in text
    assert f"{binary['pr_auc']:.4f}" in text
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_report_text_one_class_binary():
    text = report_text(binary_classification_metrics([0, 0], [0.1, 0.9]), "t")
    assert "n/a (one class in y_true)" in text


def test_report_text_multiclass():
    _, multi, _ = _all_three()
    text = report_text(multi, "Digits")
    assert f"{100 * multi['accuracy']:.2f}%" in text
    assert f"{100 * multi['macro_f1']:.2f}%" in text
    for label, row in enumerate(multi["confusion_matrix"]):
        assert re.search(r"\s+".join(map(str, [label, *row])) + r"\s+│", text)
    assert f"{100 * multi['per_class_f1'][2]:.2f}%" in text


def test_report_text_regression():
    _, _, regression = _all_three()
    text = report_text(regression, "Temperature")
    assert f"{regression['mae']:.6g}" in text
    assert f"{regression['rmse']:.6g}" in text
    assert f"{regression['r2']:.4f}" in text
    assert f"{100 * regression['mape']:.2f}%" in text
    assert "1 zero targets excluded" in text
    assert "Within ±10%" in text
    assert f"{100 * regression['within_threshold']:.2f}%" in text


def test_format_report_returns_rich_table():
    from rich.table import Table

    for metrics in _all_three():
        assert isinstance(format_report(metrics, "t"), Table)


def test_metrics_dicts_are_json_serialisable():
    for metrics in _all_three():
        assert json.loads(json.dumps(metrics)) == metrics
        assert json.loads(json.dumps(to_jsonable(metrics))) == metrics
        assert report_text(to_jsonable(metrics), "t") == report_text(metrics, "t")


def test_to_jsonable_converts_numpy_and_nan():
    raw = {
        "a": np.float32(0.5),
        "b": np.int64(3),
        "c": np.array([[1, 2], [3, 4]]),
        "d": (np.float64("nan"), math.inf, None),
        "e": np.bool_(True),
        1: {"nested": np.array([np.nan, 1.0])},
    }
    out = to_jsonable(raw)
    assert out == {
        "a": 0.5,
        "b": 3,
        "c": [[1, 2], [3, 4]],
        "d": [None, None, None],
        "e": True,
        "1": {"nested": [None, 1.0]},
    }
    assert type(out["b"]) is int and type(out["e"]) is bool
    json.dumps(out, allow_nan=False)

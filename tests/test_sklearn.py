"""The scikit-learn estimators: every check_estimator check, pipelines, grid search,
cross-validation, DataFrames, partial_fit, and a real-data result."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="pip install 'nablanet[sklearn]'")

from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from nablanet.sklearn import (
    NetworkClassifier,
    NetworkRegressor,
    SequenceClassifier,
    SequenceRegressor,
)

# Small settings that still pass the checks' accuracy and score thresholds.
ESTIMATORS = [
    NetworkClassifier((32,), batch_size=32, max_iter=60, random_state=0),
    NetworkRegressor((32,), batch_size=32, max_iter=100, random_state=0),
    SequenceClassifier("gru", n_hidden=8, max_iter=20, random_state=0),
    SequenceRegressor("gru", n_hidden=16, max_iter=60, random_state=0),
]


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_check_estimator_passes_every_check(estimator):
    results = check_estimator(estimator, on_fail=None)
    bad = [(r["check_name"], str(r["exception"])[:200]) for r in results
           if r["status"] == "failed"]
    assert bad == []
    # checks may skip only where scikit-learn itself skips them for this environment:
    # array-API inputs without SCIPY_ARRAY_API (nablanet is NumPy only), DataFrame inputs
    # without pandas; see docs/guide/stack.md
    skipped = {r["check_name"]: str(r["exception"]) for r in results
               if r["status"] == "skipped"}
    assert all(re.search("SCIPY_ARRAY_API|pandas", why) for why in skipped.values()), skipped
    if importlib.util.find_spec("pandas") is not None:
        assert set(skipped) <= {"check_array_api_input"}, skipped


def _blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) + 5.0 * np.eye(3, 4)[y]
    return X * 50 + 100, np.array(["a", "b", "c"])[y]  # badly scaled features, string labels


def test_pipeline_with_a_scaler_learns_string_labels():
    X, y = _blobs()
    pipe = make_pipeline(StandardScaler(), NetworkClassifier((16,), batch_size=32, max_iter=30,
                                                             random_state=0))
    pipe.fit(X[:200], y[:200])
    assert set(pipe.classes_) == {"a", "b", "c"}
    assert pipe.score(X[200:], y[200:]) > 0.9
    assert pipe.predict_proba(X[200:]).shape == (100, 3)


def test_grid_search_runs_in_two_processes():
    X, y = _blobs()
    pipe = make_pipeline(StandardScaler(),
                         NetworkClassifier(batch_size=32, max_iter=10, random_state=0))
    grid = GridSearchCV(pipe, {"networkclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "networkclassifier__learning_rate_init": [0.001, 0.01]},
                        cv=3, n_jobs=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_score_ > 0.8


def test_cross_val_score_regressor():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (240, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    reg = NetworkRegressor((32,), batch_size=32, max_iter=150, random_state=0)
    scores = cross_val_score(reg, X, y, cv=3)
    assert scores.min() > 0.8


def test_same_seed_same_predictions():
    X, y = _blobs()
    a = NetworkClassifier((8,), max_iter=5, random_state=3).fit(X, y).predict_proba(X)
    b = NetworkClassifier((8,), max_iter=5, random_state=3).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


def test_partial_fit_keeps_training_the_same_network():
    X, y = _blobs()
    X = StandardScaler().fit_transform(X)
    clf = NetworkClassifier((16,), batch_size=32, learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes: required"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:150], y[:150], classes=["a", "b", "c"])
    model = clf.model_
    first = clf.score(X, y)
    for _ in range(10):
        clf.partial_fit(X[150:], y[150:])
    assert clf.model_ is model
    assert clf.score(X, y) > max(first, 0.9)


@pytest.mark.parametrize("frame", ["pandas", "polars"])
def test_dataframes_are_accepted(frame):
    lib = pytest.importorskip(frame)
    X, y = _blobs(120)
    cols = {f"f{i}": X[:, i] for i in range(4)}
    df = lib.DataFrame(cols)
    labels = lib.Series("y", y) if frame == "polars" else lib.Series(y)
    clf = make_pipeline(StandardScaler(), NetworkClassifier((8,), max_iter=20, random_state=0))
    clf.fit(df, labels)
    arrays = make_pipeline(StandardScaler(), NetworkClassifier((8,), max_iter=20, random_state=0))
    assert np.array_equal(clf.predict(df), arrays.fit(X, y).predict(X))


def test_sequence_classifier_on_japanese_vowels(japanese_vowels):
    from nablanet.datasets.sequences import pad, read_sequence_csv
    from nablanet.preprocessing import MinMaxScaler

    train, test = (read_sequence_csv(p) for p in japanese_vowels)
    scaler = MinMaxScaler().fit(train)
    n_steps = max(max(len(f) for f in d.features) for d in (train, test))
    X, mask = pad(scaler.transform(train).features, n_steps=n_steps)
    Xt, mask_t = pad(scaler.transform(test).features, n_steps=n_steps)
    X[~mask], Xt[~mask_t] = np.nan, np.nan  # NaN marks the padding
    y, yt = pad(train.labels)[0][:, 0, 0], pad(test.labels)[0][:, 0, 0]
    clf = SequenceClassifier("gru", n_hidden=32, max_iter=30, batch_size=8, random_state=1)
    assert clf.fit(X, y).score(Xt, yt) >= 0.85


def test_errors_name_the_problem():
    X, y = _blobs(30)
    with pytest.raises(ValueError, match="at least 2 classes"):
        NetworkClassifier(max_iter=1).fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="cell: expected one of"):
        SequenceClassifier("transformer", max_iter=1).fit(X[:, :, None], y)
    seq = np.ones((30, 4, 2))
    seq[0, 1, :] = np.nan  # a gap before a valid step
    with pytest.raises(ValueError, match="NaN marks padding"):
        SequenceClassifier("rnn", max_iter=1).fit(seq, y)
    clf = NetworkClassifier((4,), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        clf.predict(X[:, :3])

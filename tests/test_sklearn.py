"""The scikit-learn estimators: every check_estimator check, pipelines, grid search,
cross-validation, DataFrames, partial_fit, a real-data result, and MLPClassifier's options
and attributes, held against MLPClassifier's own behaviour."""

from __future__ import annotations

import importlib.util
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="pip install 'nablanet[sklearn]'")

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from nablanet import Network
from nablanet.optimizers import Adam
from nablanet.sklearn import (
    NetworkClassifier,
    NetworkRegressor,
    SequenceClassifier,
    SequenceRegressor,
)

# fits shorter than convergence warn as MLPClassifier's do; the tests that mean it ask for it
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

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


ALL = (NetworkClassifier, NetworkRegressor, SequenceClassifier, SequenceRegressor)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_a_wrong_keyword_names_the_estimator(cls):
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\(\) got an unexpected keyword "
                                        r"argument 'verbos': did you mean 'verbose'\?"):
        cls(verbos=1)
    with pytest.raises(TypeError, match=r"'max_fun': it belongs to solver='lbfgs'"):
        cls(max_fun=100)
    with pytest.raises(TypeError, match=r"'power_t': it belongs to learning_rate='invscaling'"):
        cls(power_t=0.5)
    with pytest.raises(TypeError, match=r"'epochs': the number of epochs is max_iter"):
        cls(epochs=3)
    positional = 2 if cls in (NetworkClassifier, NetworkRegressor) else 1  # as MLPClassifier
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\(\) takes at most {positional} "
                                        "positional"):
        cls(*[None] * (positional + 1))
    with pytest.raises(TypeError, match="unexpected keyword argument 'verbos'"):
        MLPClassifier(verbos=1)  # the same kind of error as scikit-learn's


def test_every_option_mlpclassifier_shares_with_the_estimators_is_taken():
    mlp = set(MLPClassifier().get_params()) - {"power_t", "max_fun"}
    for cls in ALL:
        assert mlp - {"hidden_layer_sizes", "activation"} <= set(cls().get_params()), cls
    assert mlp <= set(NetworkClassifier().get_params())
    mine, theirs = NetworkClassifier().get_params(), MLPClassifier().get_params()
    assert {k: mine[k] for k in mlp} == {k: theirs[k] for k in mlp}  # the same defaults
    assert MLPRegressor().get_params().keys() - {"power_t", "max_fun", "loss"} <= \
        NetworkRegressor().get_params().keys()
    with pytest.raises(TypeError, match="'loss': the loss is the squared error"):
        NetworkRegressor(loss="poisson")


@pytest.mark.parametrize(("option", "value", "match"), [
    ("max_iter", 0, "max_iter: expected an integer >= 1, got 0"),
    ("n_iter_no_change", 0, "n_iter_no_change: expected an integer >= 1"),
    ("batch_size", 0, "batch_size: expected 'auto' or an integer >= 1"),
    ("learning_rate", 0.01, "learning_rate: expected one of 'constant'.*learning_rate_init"),
    ("learning_rate_init", 0.0, "learning_rate_init: expected a number > 0"),
    ("alpha", -1.0, "alpha: expected a number >= 0"),
    ("tol", -1e-4, "tol: expected a number >= 0"),
    ("validation_fraction", 1.0, r"validation_fraction: expected a number in \(0, 1\)"),
    ("momentum", 1.5, r"momentum: expected a number in \[0, 1\)"),
    ("beta_2", 1.0, r"beta_2: expected a number in \[0, 1\)"),
    ("epsilon", 0.0, "epsilon: expected a number > 0"),
    ("solver", "lbfgs", "solver 'lbfgs' .* not available: nablanet trains by mini-batch"),
    ("solver", "newton", "solver: expected 'adam', 'sgd' or 'rmsprop'"),
])
def test_options_out_of_range_are_refused_by_name(option, value, match):
    X, y = _blobs(30)
    with pytest.raises(ValueError, match=f"^NetworkClassifier: {match}"):
        NetworkClassifier((4,), **{option: value}).fit(X, y)
    with pytest.raises(ValueError, match=f"^SequenceRegressor: {match}"):
        SequenceRegressor(n_hidden=2, **{option: value}).partial_fit(X[:, :, None], X[:, 0])


def test_rate_schedules_refused_with_sgd_and_ignored_with_adam_as_in_scikit_learn():
    X, y = _blobs(30)
    with pytest.raises(ValueError, match=r"learning_rate 'adaptive' .* use 'constant'"):
        NetworkClassifier((4,), solver="sgd", learning_rate="adaptive").fit(X, y)
    a = NetworkClassifier((4,), learning_rate="adaptive", max_iter=2, random_state=0)
    b = NetworkClassifier((4,), max_iter=2, random_state=0)
    assert a.fit(X, y).loss_curve_ == b.fit(X, y).loss_curve_


def _plateau(cls, **kw):
    """A fit whose loss cannot move: a step size of 1e-12."""
    X, y = _blobs(120)
    return cls((8,), learning_rate_init=1e-12, max_iter=100, random_state=0, **kw).fit(X, y)


@pytest.mark.parametrize("patience", [2, 5])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_plateau_stops_fit_where_mlpclassifier_stops(patience, early_stopping):
    for cls in (NetworkClassifier, MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # stopped, so no warning
            est = _plateau(cls, n_iter_no_change=patience, early_stopping=early_stopping)
        # the first epoch sets the best, the next patience + 1 do not beat it by tol
        assert est.n_iter_ == patience + 2, cls
        assert len(est.loss_curve_) == est.n_iter_
        if early_stopping:
            assert est.best_loss_ is None
            assert len(est.validation_scores_) == est.n_iter_
            assert est.best_validation_score_ == max(est.validation_scores_)
        else:
            assert est.best_loss_ == min(est.loss_curve_)
            assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_max_iter_without_convergence_warns_as_mlpclassifier_does():
    X, y = _blobs(60)
    for cls in (NetworkClassifier, MLPClassifier):
        with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
            est = cls((8,), max_iter=3, random_state=0).fit(X, y)
        assert est.n_iter_ == 3 and len(est.loss_curve_) == 3


def test_early_stopping_keeps_the_best_epoch_of_a_stratified_holdout():
    X, y = _blobs(300)
    X = StandardScaler().fit_transform(X) + np.random.default_rng(5).normal(0, 0.8, X.shape)
    clf = NetworkClassifier((32,), early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=3, batch_size=16, learning_rate_init=0.01,
                            max_iter=500, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < 500 and len(clf.validation_scores_) == clf.n_iter_
    # the validation split is scikit-learn's stratified one, and the weights kept are
    # those of the best validation score
    X_train, X_val, _, y_val = train_test_split(X, y, test_size=0.2, random_state=4,
                                                stratify=y)
    assert clf.t_ == clf.n_iter_ * len(X_train)
    assert clf.score(X_val, y_val) == clf.best_validation_score_ == \
        max(clf.validation_scores_)
    assert clf.best_validation_score_ > clf.validation_scores_[-1] or \
        clf.validation_scores_.count(clf.best_validation_score_) > 1
    reg = NetworkRegressor((16,), early_stopping=True, n_iter_no_change=3, batch_size=16,
                           max_iter=300, random_state=0).fit(X, X[:, 0] - X[:, 1])
    X_train, X_val, _, t_val = train_test_split(X, X[:, 0] - X[:, 1], test_size=0.1,
                                                random_state=0)
    assert reg.score(X_val, t_val) == pytest.approx(reg.best_validation_score_, abs=1e-12)


def test_early_stopping_on_a_constant_validation_target_scores_r2_as_scikit_learn():
    X = np.random.default_rng(0).normal(size=(60, 3))
    for cls in (NetworkRegressor, MLPRegressor):  # R^2 of a constant target: 0
        reg = cls(hidden_layer_sizes=(4,), early_stopping=True, n_iter_no_change=2, max_iter=20,
                  random_state=0).fit(X, np.ones(60))
        assert reg.validation_scores_ == [0.0] * reg.n_iter_ and reg.n_iter_ == 4, cls


def test_early_stopping_on_padded_sequences():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6, 2))
    y = (X[:, 0, 0] > 0).astype(int)
    X[::3, 4:] = np.nan  # shorter sequences
    clf = SequenceClassifier("gru", n_hidden=4, early_stopping=True, n_iter_no_change=2,
                             max_iter=50, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ and clf.best_loss_ is None


def _masked(text: str) -> list[str]:
    return re.sub(r"\d+", "#", text).splitlines()


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_mlpclassifiers_lines(capsys, early_stopping):
    lines = []
    for cls in (NetworkClassifier, MLPClassifier):
        _plateau(cls, verbose=True, n_iter_no_change=2, early_stopping=early_stopping)
        lines.append(_masked(capsys.readouterr().out))
    assert lines[0] == lines[1]
    assert lines[0][0] == "Iteration #, loss = #.#"
    what = "Validation score" if early_stopping else "Training loss"
    assert lines[0][-1] == f"{what} did not improve more than tol=#.# for # " \
                           "consecutive epochs. Stopping."
    assert len(lines[0]) == (2 if early_stopping else 1) * 4 + 1


def test_loss_curve_is_the_training_loss_of_the_network_fit_trains():
    """The options arrive in Network.fit as scikit-learn means them: alpha per mini-batch,
    batch_size, learning_rate_init, Adam's betas and epsilon, shuffle, random_state."""
    X, y = _blobs(100)
    X = StandardScaler().fit_transform(X)
    clf = NetworkClassifier((8,), alpha=0.5, batch_size=20, learning_rate_init=0.01,
                            beta_1=0.8, beta_2=0.99, epsilon=1e-6, max_iter=4,
                            random_state=0).fit(X, y)
    net = Network([4, 8, 3], activation="relu", init="he", output_activation="softmax",
                  loss="cross_entropy", seed=0,
                  optimizer=Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.5 / 20))
    history = net.fit(X, np.searchsorted(clf.classes_, y), epochs=4, batch_size=20,
                      progress=False)
    assert clf.n_iter_ == len(clf.loss_curve_) == 4
    assert clf.loss_curve_ == history["train_loss"]
    assert clf.loss_ == history["train_loss"][-1]
    for mine, direct in zip(clf.model_.params(), net.params(), strict=True):
        assert np.array_equal(mine, direct)


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_an_sgd_epoch_equals_mlpclassifiers_weight_for_weight(momentum, nesterov):
    """solver="sgd" with momentum, alpha and batch_size: from the same initial weights,
    one epoch without shuffling gives MLPClassifier's weights."""
    X, y = _blobs(96)  # batches of 16: the L2 term differs on a smaller last batch
    X = StandardScaler().fit_transform(X)
    options = {"solver": "sgd", "alpha": 0.3, "batch_size": 16, "learning_rate_init": 0.05,
               "momentum": momentum, "nesterovs_momentum": nesterov, "shuffle": False,
               "max_iter": 1}
    clf = NetworkClassifier((5,), random_state=0, **options)
    start = Network([4, 5, 3], activation="relu", init="he", seed=0)  # clf's first weights
    mlp = MLPClassifier((5,), warm_start=True, random_state=0, **options).fit(X, y)
    mlp.coefs_ = [w.copy() for w in start.weights]
    mlp.intercepts_ = [b.copy() for b in start.biases]
    mlp.fit(X, y)  # warm start: one more epoch from those weights, with a fresh optimizer
    clf.fit(X, y)
    for mine, theirs in zip([*clf.model_.weights, *clf.model_.biases],
                            [*mlp.coefs_, *mlp.intercepts_], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)


def test_warm_start_and_partial_fit_continue_the_curves_as_mlpclassifier_does():
    X, y = _blobs(60)
    for cls in (NetworkClassifier, MLPClassifier):
        est = cls((8,), warm_start=True, max_iter=3, random_state=0).fit(X, y)
        first = list(est.loss_curve_)
        est.fit(X, y)  # n_iter_ counts the last call's epochs, loss_curve_ continues
        assert est.n_iter_ == 3 and est.loss_curve_[:3] == first, cls
        assert len(est.loss_curve_) == 6 and est.t_ == 6 * len(X)
        est.partial_fit(X, y)
        assert est.n_iter_ == 1 and len(est.loss_curve_) == 7
        assert est.best_loss_ == min(est.loss_curve_)
        est.set_params(warm_start=False).fit(X, y)
        assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
            est.set_params(early_stopping=True).partial_fit(X, y)
    clf = NetworkClassifier((8,), warm_start=True, max_iter=2, random_state=0).fit(X, y)
    model = clf.model_
    clf.fit(X, y)
    assert clf.model_ is model
    with pytest.raises(ValueError, match=r"warm_start: y has \['a', 'b'\], the fitted "
                                         r"network was trained on \['a', 'b', 'c'\]"):
        clf.fit(X[y != "c"], y[y != "c"])


def test_batch_size_auto_and_clipping_as_in_scikit_learn():
    X, y = _blobs(300)
    a = NetworkClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    b = NetworkClassifier((4,), batch_size=200, max_iter=2, random_state=0).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_  # "auto": min(200, n_samples)
    with pytest.warns(UserWarning, match="batch_size 500 is larger than the 300 training "
                                         "samples: clipped to 300"):
        c = NetworkClassifier((4,), batch_size=500, max_iter=2, random_state=0).fit(X, y)
    d = NetworkClassifier((4,), batch_size=300, max_iter=2, random_state=0).fit(X, y)
    assert c.loss_curve_ == d.loss_curve_


def test_logistic_is_scikit_learns_name_for_the_sigmoid():
    X, y = _blobs(60)
    a = NetworkClassifier((4,), "logistic", max_iter=2, random_state=0).fit(X, y)
    b = NetworkClassifier((4,), "sigmoid", max_iter=2, random_state=0).fit(X, y)
    assert a.model_.activations[0].name == "sigmoid"
    assert a.loss_curve_ == b.loss_curve_

"""Scoring a growing sequence: ``RecurrentNetwork.initial_state`` and ``step`` give, step
after step, what ``predict_proba`` gives on every prefix; the state saves with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from nablanet.models import GRU, LSTM, RNN

HEADS = {"softmax": "cross_entropy", "sigmoid": "mse", "identity": "mse"}


def _model(cls, num_layers, target, head="softmax", n_outputs=3, **kwargs):
    return cls(4, 5, n_outputs, num_layers=num_layers, output_activation=head,
               loss=HEADS[head], target=target, seed=7, **kwargs)


@pytest.mark.parametrize("target", ["every", "last"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_step_equals_predict_proba_on_every_prefix(cls, num_layers, target):
    model = _model(cls, num_layers, target)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 9, 4))
    state = model.initial_state(6)
    for t in range(X.shape[1]):
        proba, state = model.step(X[:, t], state)
        prefix = model.predict_proba(X[:, :t + 1])
        expected = prefix[:, -1] if target == "every" else prefix
        assert proba.shape == (6, 3) and proba.dtype == np.float64
        np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("head", ["sigmoid", "identity"])
def test_step_for_binary_and_regression_heads(head):
    model = _model(RNN, 1, "every", head=head, n_outputs=2, activation="relu")
    X = np.random.default_rng(2).standard_normal((3, 5, 4))
    state = model.initial_state(3)
    for t in range(5):
        proba, state = model.step(X[:, t], state)
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, -1], rtol=0, atol=1e-12)


def test_sequences_of_other_lengths_scored_together():
    """Each sequence stopped at its own length: the padded batch's output at its last
    step is the state after its own last step."""
    model = _model(GRU, 2, "last")
    rng = np.random.default_rng(3)
    lengths = np.array([2, 5, 3])
    X = rng.standard_normal((3, 5, 4))
    mask = np.arange(5) < lengths[:, None]
    state, last = model.initial_state(3), np.empty((3, 3))
    for t in range(5):
        proba, state = model.step(X[:, t], state)
        last[lengths - 1 == t] = proba[lengths - 1 == t]
    np.testing.assert_allclose(last, model.predict_proba(X, mask), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_the_state_saves_and_loads_with_numpy(cls, tmp_path):
    model = _model(cls, 2, "every")
    X = np.random.default_rng(4).standard_normal((2, 6, 4))
    state = model.initial_state(2)
    assert sorted(state) == (["c0", "c1", "h0", "h1"] if cls is LSTM else ["h0", "h1"])
    for t in range(3):
        _, state = model.step(X[:, t], state)
    np.savez(tmp_path / "state.npz", **state)
    with np.load(tmp_path / "state.npz") as f:
        loaded = dict(f)
    for t in range(3, 6):
        proba, loaded = model.step(X[:, t], loaded)
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, -1], rtol=0, atol=1e-12)


def test_step_leaves_the_given_state_and_later_forwards_alone():
    model = _model(LSTM, 1, "every")
    X = np.random.default_rng(5).standard_normal((2, 4, 4))
    before = model.predict_proba(X[:, :1])
    state = model.initial_state(2)
    _, after = model.step(X[:, 0], state)
    _, again = model.step(X[:, 1], after)
    assert all((v == 0).all() for v in state.values())
    assert not any(np.shares_memory(after[k], again[k]) for k in after)
    # a forward of one step from the zero state, after the step buffers held a state
    np.testing.assert_array_equal(model.predict_proba(X[:, :1]), before)


def test_step_in_float32():
    model = _model(GRU, 1, "last", dtype=np.float32)
    X = np.random.default_rng(6).standard_normal((2, 4, 4)).astype(np.float32)
    state = model.initial_state(2)
    for t in range(4):
        proba, state = model.step(X[:, t], state)
    assert proba.dtype == np.float32 and state["h0"].dtype == np.float32
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("x", "state", "fragment"), [
    (np.zeros((2, 3)), None, "x_t: expected real numbers of shape (n, 4)"),
    (np.full((2, 4), np.nan), None, "x_t: contains NaN"),
    (np.zeros((2, 4)), {"h0": np.zeros((2, 5))}, "state: expected the keys ['h0', 'h1']"),
    (np.zeros((2, 4)), {"h0": np.zeros((2, 5)), "h1": np.zeros((3, 5))},
     "state['h1']: expected shape (2, 5)"),
])
def test_step_errors_name_the_argument(x, state, fragment):
    model = _model(RNN, 2, "every")
    with pytest.raises(ValueError) as info:
        model.step(x, model.initial_state(2) if state is None else state)
    assert fragment in str(info.value)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_initial_state_needs_a_positive_count(n):
    with pytest.raises(ValueError, match="initial_state: n: expected an integer >= 1"):
        _model(RNN, 1, "every").initial_state(n)

"""BPTT against finite differences, and batched BPTT against per-sequence BPTT."""

import numpy as np
import pytest

from nablanet.models import GRU, LSTM, RNN

CASES = [
    (RNN, {"activation": "tanh"}),
    (RNN, {"activation": "relu"}),
    (RNN, {"activation": "sigmoid"}),
    (LSTM, {}),
    (GRU, {}),
]
OUTPUTS = [
    ("identity", "mse"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
]


def _data(rng, n=4, T=5, F=3, L=2, target="every", ragged=True):
    X = rng.standard_normal((n, T, F))
    lengths = rng.integers(2, T + 1, n) if ragged else np.full(n, T)
    lengths[0] = T
    mask = np.arange(T) < lengths[:, None]
    shape = (n, T, L) if target == "every" else (n, L)
    Y = rng.random(shape)
    return X, Y, mask


def _finite_differences(model, X, Y, mask, eps=1e-6):
    grads = []
    for p in model.params():
        g = np.empty_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = model.loss_value(X, Y, mask)
            p[i] = old - eps
            down = model.loss_value(X, Y, mask)
            p[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _softmax_targets(Y):
    return Y / Y.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize(("cls", "opts"), CASES, ids=lambda c: getattr(c, "__name__", str(c)))
@pytest.mark.parametrize("target", ["every", "last"])
@pytest.mark.parametrize("layers", [1, 2])
def test_bptt_matches_finite_differences(cls, opts, target, layers):
    rng = np.random.default_rng(7)
    X, Y, mask = _data(rng, target=target)
    model = cls(3, 4, 2, num_layers=layers, target=target, seed=1, **opts)
    for p in model.params():  # non-zero biases so every term of the gradient is exercised
        p += 0.1 * rng.standard_normal(p.shape)
    analytic = model.gradients(X, Y, mask)
    numeric = _finite_differences(model, X, Y, mask)
    for name, a, n in zip(model.tensors(), analytic, numeric, strict=True):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(("output", "loss"), OUTPUTS)
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_output_layers_and_losses_gradients(cls, output, loss):
    rng = np.random.default_rng(3)
    X, Y, mask = _data(rng, n=3, T=4, L=3)
    if output == "softmax":
        Y = _softmax_targets(Y)
    model = cls(3, 3, 3, output_activation=output, loss=loss, seed=2)
    analytic = model.gradients(X, Y, mask)
    numeric = _finite_differences(model, X, Y, mask)
    for name, a, n in zip(model.tensors(), analytic, numeric, strict=True):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("target", ["every", "last"])
def test_batch_gradient_is_sum_of_per_sequence_gradients(cls, target):
    rng = np.random.default_rng(11)
    n = 6
    X, Y, mask = _data(rng, n=n, T=7, target=target)
    model = cls(3, 5, 2, target=target, seed=4, num_layers=2)
    batch = model.gradients(X, Y, mask)
    total = [np.zeros_like(g) for g in batch]
    for i in range(n):
        length = mask[i].sum()  # each sequence alone, unpadded
        for t, g in zip(total, model.gradients(X[i:i + 1, :length], Y[i:i + 1, :length]
                                               if target == "every" else Y[i:i + 1]),
                        strict=True):
            t += g
    for b, t in zip(batch, total, strict=True):
        np.testing.assert_allclose(b * n, t, rtol=1e-10, atol=1e-12)


def test_padding_does_not_change_outputs():
    rng = np.random.default_rng(5)
    X, _, mask = _data(rng, n=5, T=6)
    model = LSTM(3, 4, 2, seed=0)
    padded = model.predict_proba(X, mask)
    for i in range(5):
        length = mask[i].sum()
        alone = model.predict_proba(X[i:i + 1, :length])
        np.testing.assert_allclose(padded[i, :length], alone[0], rtol=1e-12)
        assert np.all(padded[i, length:] == 0.0)

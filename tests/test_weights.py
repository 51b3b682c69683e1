"""Sample and class weights in the loss and its gradient; extra metrics in fit."""

from __future__ import annotations

import numpy as np
import pytest
from tests.layers.gradcheck import numeric_grad

from nablanet import GRU, SGD, Network


def _data(n=12, seed=0, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, rng.integers(0, k, n)


def _net(k=3, out="softmax", loss="cross_entropy"):
    return Network([4, 5, k], activation="tanh", output_activation=out, loss=loss,
                   init="glorot", seed=2)


def _finite_differences(model, f):
    return [numeric_grad(f, p) for p in model.params()]


@pytest.mark.parametrize("weights", [
    {"sample_weight": np.linspace(0.0, 2.0, 12)},
    {"class_weight": {0: 0.5, 2: 3.0}},
    {"class_weight": "balanced", "sample_weight": np.arange(12) % 3 + 0.5},
])
def test_weighted_gradients_match_finite_differences(weights):
    X, y = _data()
    net = _net()
    grads = net.gradients(X, y, **weights)
    numeric = _finite_differences(net, lambda: net.loss_value(X, y, **weights))
    for g, n in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-8)
    plain = net.gradients(X, y)
    assert not np.allclose(grads[0], plain[0])  # the weights changed the gradient


def test_per_step_weights_of_a_recurrent_model_match_finite_differences():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 4, 2))
    Y = rng.integers(0, 2, (5, 4))
    mask = np.arange(4) < np.array([4, 2, 3, 1, 4])[:, None]
    model = GRU(2, 3, 2, target="every", output_activation="softmax",
                loss="cross_entropy", seed=0)
    for sw in (rng.uniform(0, 2, 5), rng.uniform(0, 2, (5, 4))):
        grads = model.gradients(X, Y, mask, sample_weight=sw, class_weight="balanced")
        numeric = _finite_differences(
            model, lambda sw=sw: model.loss_value(X, Y, mask, sample_weight=sw,
                                                  class_weight="balanced"))
        for g, n in zip(grads, numeric, strict=True):
            np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-8)


def test_balanced_is_scikit_learns_rule():
    sklearn_utils = pytest.importorskip("sklearn.utils.class_weight")
    X, y = _data(40)
    y[:20] = 1  # unbalanced
    net = _net()
    rows = net._loss_weights(net._prepare(X, y, None, "X", "y"), None, "balanced")
    expected = sklearn_utils.compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(rows, expected[y])


def test_weighted_cross_entropy_and_its_gradient_equal_pytorchs():
    torch = pytest.importorskip("torch")
    X, y = _data(16)
    net = _net()
    cw = {0: 0.3, 1: 2.0, 2: 1.1}
    sw = np.linspace(0.5, 1.5, 16)
    params = [torch.tensor(p, requires_grad=True) for p in net.params()]
    W1, b1, W2, b2 = params
    z = torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2
    per_row = torch.nn.functional.cross_entropy(
        z, torch.tensor(y), weight=torch.tensor([cw[0], cw[1], cw[2]], dtype=torch.float64),
        reduction="none")
    loss = (per_row * torch.tensor(sw)).sum() / len(X)
    loss.backward()
    assert net.loss_value(X, y, sample_weight=sw, class_weight=cw) == pytest.approx(
        loss.item(), rel=1e-12)
    for ours, theirs in zip(net.gradients(X, y, sample_weight=sw, class_weight=cw), params,
                            strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_weighted_binary_cross_entropy_equals_pytorchs():
    torch = pytest.importorskip("torch")
    X, y = _data(16, k=2)
    net = _net(k=1, out="sigmoid", loss="binary_cross_entropy")
    sw = np.linspace(0.5, 1.5, 16)
    params = [torch.tensor(p, requires_grad=True) for p in net.params()]
    W1, b1, W2, b2 = params
    z = torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.tensor(y, dtype=torch.float64)[:, None], weight=torch.tensor(sw)[:, None],
        reduction="sum") / len(X)
    loss.backward()
    assert net.loss_value(X, y, sample_weight=sw) == pytest.approx(loss.item(), rel=1e-12)
    for ours, theirs in zip(net.gradients(X, y, sample_weight=sw), params, strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_fit_trains_on_the_weighted_objective():
    """Plain SGD is linear in the gradient: weights of 2 at rate 0.1 are rate 0.2."""
    X, y = _data(30)
    a, b = _net(), _net()
    a.optimizer, b.optimizer = SGD(0.1), SGD(0.2)
    kw = dict(epochs=3, batch_size=5, progress=False)
    a.fit(X, y, sample_weight=np.full(30, 2.0), **kw)
    b.fit(X, y, **kw)
    for p, q in zip(a.params(), b.params(), strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-12)
    c = _net()
    c.optimizer = SGD(0.2)
    c.fit(X, y, class_weight={0: 0.0, 1: 0.0, 2: 0.0}, **kw)  # nothing to learn
    for p, q in zip(c.params(), _net().params(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_weight_errors_name_the_argument():
    X, y = _data()
    net = _net()
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(12,\)"):
        net.fit(X, y, sample_weight=np.ones(5), progress=False)
    with pytest.raises(ValueError, match="sample_weight: expected finite numbers >= 0"):
        net.fit(X, y, sample_weight=-np.ones(12), progress=False)
    with pytest.raises(ValueError, match=r"class_weight: expected class labels 0\.\.2"):
        net.fit(X, y, class_weight={5: 1.0}, progress=False)
    with pytest.raises(ValueError, match=r"class_weight\[1\]: expected a number >= 0"):
        net.fit(X, y, class_weight={1: -1.0}, progress=False)
    with pytest.raises(ValueError, match="expected a dict or 'balanced'"):
        net.fit(X, y, class_weight="even", progress=False)
    with pytest.raises(ValueError, match="class_weight: needs a classifier"):
        _net(k=2, out="identity", loss="quadratic").fit(
            X, np.ones((12, 2)), class_weight="balanced", progress=False)


def test_extra_metrics_are_logged_each_evaluation():
    from nablanet.metrics import multiclass_metrics

    X, y = _data(40)
    Xv, yv = _data(20, seed=1)
    net = _net()
    history = net.fit(X, y, epochs=2, batch_size=8, validation_data=(Xv, yv),
                      progress=False, metrics=["macro_f1", "accuracy"],
                      monitor_training="full")  # training metrics of the final weights
    assert history["val_macro_f1"][-1] == multiclass_metrics(yv, net.predict(Xv),
                                                             n_classes=3)["macro_f1"]
    assert history["train_macro_f1"][-1] == multiclass_metrics(y, net.predict(X),
                                                               n_classes=3)["macro_f1"]
    with pytest.raises(ValueError, match="'auc' is not a metric of this model; available"):
        net.fit(X, y, epochs=1, progress=False, metrics=["auc"])


def test_recurrent_models_take_weights_metrics_and_callbacks():
    from nablanet.metrics import multiclass_metrics
    from nablanet.training import Callback

    class Count(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, logs):
            self.epochs.append(epoch)

    rng = np.random.default_rng(6)
    X = rng.standard_normal((16, 4, 2))
    Y = (X[:, :, 0] > 0).astype(np.int64)
    model = GRU(2, 4, 2, target="every", output_activation="softmax", loss="cross_entropy",
                seed=0)
    count = Count()
    history = model.fit(X, Y, epochs=2, batch_size=4, progress=False, callbacks=[count],
                        metrics=["macro_f1"], class_weight="balanced",
                        sample_weight=rng.uniform(0.5, 1.5, 16))
    assert count.epochs == [1, 2]
    expected = multiclass_metrics(Y.ravel(), model.predict(X).ravel(), n_classes=2)
    assert history["train_macro_f1"][-1] == expected["macro_f1"]

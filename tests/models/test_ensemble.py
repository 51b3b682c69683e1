import numpy as np
import pytest

from nablanet.book.network3 import FullyConnectedLayer, Network, SoftmaxLayer, load_data_shared
from nablanet.models import Ensemble


class Fixed:
    def __init__(self, p):
        self.p = np.asarray(p, dtype=float)

    def predict_proba(self, X):
        return self.p


def test_vote_and_average_as_written_by_hand():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(5, 30))  # 5 members, 30 examples, 4 classes
    members = [Fixed(p) for p in probs]
    mean = probs.mean(axis=0)
    np.testing.assert_array_equal(Ensemble(members).predict(None), mean.argmax(axis=1))
    np.testing.assert_allclose(Ensemble(members).predict_proba(None), mean)
    voted = Ensemble(members, method="vote").predict(None)
    for i in range(30):
        counts = np.bincount(probs[:, i].argmax(axis=1), minlength=4)
        best = np.flatnonzero(counts == counts.max())
        assert voted[i] == best[mean[i, best].argmax()]
    labels = rng.integers(0, 4, 30)
    assert Ensemble(members, method="vote").accuracy(None, labels) == np.mean(voted == labels)


def test_ensemble_of_book_networks_on_real_digits(mnist_10k_dir):
    (X, y), (Xv, yv), _ = load_data_shared(mnist_10k_dir)
    X, y = X[:1500], y[:1500]
    nets = []
    for seed in range(3):
        net = Network([FullyConnectedLayer(784, 30), SoftmaxLayer(30, 10)], 10, seed=seed)
        net.SGD((X, y), 2, 10, 0.5, (Xv[:10], yv[:10]))
        nets.append(net)
    accuracies = [net.accuracy((Xv, yv)) for net in nets]
    assert min(accuracies) > 0.7
    ensemble = Ensemble(nets)
    mean = np.mean([net.predict_proba(Xv) for net in nets], axis=0)
    np.testing.assert_array_equal(ensemble.predict(Xv), mean.argmax(axis=1))
    assert ensemble.accuracy(Xv, yv) >= min(accuracies)


def test_ensemble_errors_are_named():
    with pytest.raises(ValueError, match="at least 2 trained models, got 1"):
        Ensemble([Fixed([[1.0]])])
    with pytest.raises(TypeError, match=r"models\[1\]: expected a classifier with predict_proba"):
        Ensemble([Fixed([[1.0]]), object()])
    with pytest.raises(ValueError, match="method: expected one of average, vote"):
        Ensemble([Fixed([[1.0]])] * 2, method="max")
    with pytest.raises(ValueError, match="probabilities of one shape"):
        Ensemble([Fixed([[1.0, 0.0]]), Fixed([[1.0, 0.0, 0.0]])]).predict(None)
    with pytest.raises(ValueError, match="y: expected 1 labels"):
        Ensemble([Fixed([[1.0, 0.0]])] * 2).accuracy(None, [0, 1])

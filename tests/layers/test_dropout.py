import numpy as np
import pytest
from tests.layers.gradcheck import FixedDraws, check_layer

from nablanet.layers import Dropout
from nablanet.registry import get


def test_dropout_gradients_with_a_fixed_mask():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 3, 2))
    layer = Dropout(0.4)
    layer.rng = FixedDraws(rng.random(X.shape))
    check_layer(layer, X, training=True)
    assert 0 < (layer.mask == 0).sum() < X.size


def test_dropout_masks_and_scales_in_training_only():
    X = np.ones((2000, 10))
    layer = Dropout(0.25, seed=3)
    Y = layer.forward(X, training=True)
    assert set(np.unique(Y)) == {0.0, 1 / 0.75}
    assert abs((Y == 0).mean() - 0.25) < 0.01  # 20,000 draws: 4 standard deviations
    assert layer.forward(X, training=False) is X
    dY = np.ones_like(X)
    assert layer.backward(dY) is dY  # inference: identity


def test_dropout_same_seed_same_masks():
    X = np.ones((5, 7))
    a, b = Dropout(0.5, seed=11), Dropout(0.5, seed=11)
    for _ in range(3):
        np.testing.assert_array_equal(a.forward(X, True), b.forward(X, True))


def test_dropout_matches_torch_with_the_same_mask():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 5, 4))
    Xt = torch.tensor(X, requires_grad=True)
    torch.manual_seed(0)
    Yt = torch.nn.functional.dropout(Xt, p=0.3, training=True)
    keep = (Yt != 0).numpy()  # X has no zeros, so this is torch's mask
    layer = Dropout(0.3)
    layer.rng = FixedDraws(keep.astype(np.float64))  # u = 1 keeps, u = 0 drops
    Y = layer.forward(X, training=True)
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=0, atol=1e-10)
    R = rng.standard_normal(X.shape)
    Yt.backward(torch.from_numpy(R))
    np.testing.assert_allclose(layer.backward(R.copy()), Xt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.5", True, float("nan")])
def test_dropout_refuses_a_bad_rate(rate):
    with pytest.raises(ValueError, match="Dropout rate: expected a number in"):
        Dropout(rate)


def test_dropout_config_round_trips():
    layer = Dropout(0.5, dtype=np.float32)
    assert get("layer", "Dropout").from_config(layer.get_config()).get_config() == \
        layer.get_config()

import numpy as np
import pytest

from nablanet.datasets.augment import expand_by_shifts


def book_expand(X, y):
    """``expand_mnist.py``'s loop (Nielsen), Python 3, without its shuffle."""
    pairs = []
    for x, label in zip(X, y, strict=True):
        pairs.append((x, label))
        image = np.reshape(x, (-1, 28))
        for d, axis, index_position, index in [(1, 0, "first", 0), (-1, 0, "first", 27),
                                               (1, 1, "last", 0), (-1, 1, "last", 27)]:
            new_img = np.roll(image, d, axis)
            if index_position == "first":
                new_img[index, :] = np.zeros(28)
            else:
                new_img[:, index] = np.zeros(28)
            pairs.append((np.reshape(new_img, 784), label))
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def test_expansion_is_the_books_on_real_digits(mnist_10k_dir):
    from nablanet.datasets.mnist import load_images

    data = load_images(mnist_10k_dir)
    X, y = data.X_train[:50], data.y_train[:50]
    X5, y5 = expand_by_shifts(X, y)
    Xb, yb = book_expand(X, y)
    np.testing.assert_array_equal(X5, Xb)
    np.testing.assert_array_equal(y5, yb)
    assert X5.dtype == X.dtype and X5.shape == (250, 784)


def test_expansion_of_image_axes_and_shuffle():
    rng = np.random.default_rng(0)
    X = rng.random((6, 1, 5, 4))
    y = np.arange(6)
    X5, y5 = expand_by_shifts(X, y)
    assert X5.shape == (30, 1, 5, 4)
    np.testing.assert_array_equal(X5[3, 0, :, 1:], X[0, 0, :, :-1])  # moved right
    np.testing.assert_array_equal(X5[3, 0, :, 0], 0)
    Xs, ys = expand_by_shifts(X, y, seed=1)
    order = np.lexsort((Xs.reshape(30, -1)[:, 0], ys))
    assert sorted(ys.tolist()) == sorted(y5.tolist())
    assert {tuple(r) for r in Xs.reshape(30, -1)[order]} == {tuple(r) for r in X5.reshape(30, -1)}


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.zeros((2, 784)), np.zeros(3), "as many labels as images"),
    (np.zeros((2, 780)), np.zeros(2), r"rows of 28 \* 28 = 784 pixels"),
    (np.zeros(3), np.zeros(3), "expected images"),
])
def test_expansion_names_bad_input(X, y, message):
    with pytest.raises(ValueError, match=message):
        expand_by_shifts(X, y)

"""Checks on outside data (nablanet.validation): images to predict on, class labels."""

import numpy as np
import pytest

from nablanet.validation import as_images, check_finite, first_index


def test_first_index():
    bad = np.zeros((3, 4), bool)
    bad[2, 1] = bad[2, 3] = True
    assert first_index(bad) == (2, 1)


def test_check_finite_names_count_and_first_index():
    X = np.zeros((2, 5))
    X[1, 3], X[1, 4] = np.nan, -np.inf
    with pytest.raises(ValueError, match=r"^img\.npy: 2 non-finite .* index \(1, 3\) is nan"):
        check_finite(X, "img.npy")
    check_finite(np.arange(3), "ints")  # integers are always finite
    with pytest.raises(ValueError, match="1 non-finite"):
        check_finite(np.array([1 + 0j, complex(0, np.inf)]), "c")


def test_as_images_integers_scaled_by_255():
    X = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = as_images(X, "X")
    np.testing.assert_array_equal(out, [[0.0, 1.0, 0.2, 0.4]])
    assert out.dtype == np.float64 and out.flags.c_contiguous
    assert as_images(X.astype(np.int64), "X", dtype=np.float32).dtype == np.float32


def test_as_images_floats_kept():
    X = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    out = as_images(X, "X", n_pixels=3)
    np.testing.assert_array_equal(out, X)
    out[0, 0] = 9  # a copy, not a view
    assert X[0, 0] == 0


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[0, 256]]), r"integers 0\.\.255, found 0\.\.256; the first outside is 256 at "
         r"index \(0, 1\)"),
        (np.array([[-1, 3]], np.int8), r"found -1\.\.3; the first outside is -1 at index \(0, 0\)"),
        (np.array([[0.5, 1.5]]), r"floats in \[0, 1\] .* the first outside is 1\.5 at "
         r"index \(0, 1\)"),
        (np.array([[0.5, -0.01]]), r"the first outside is -0\.01"),
        (np.array([[0.5, np.nan, np.inf]]), r"2 non-finite values .* index \(0, 1\) is nan"),
        (np.zeros((0, 784)), r"no images: the array of shape \(0, 784\) is empty"),
        (np.zeros((3, 0)), "is empty"),
        (np.zeros(784), r"expected images of shape \(n, pixels\) .* found shape \(784,\)"),
        (np.float64(0.5), r"found shape \(\)"),
    ],
)
def test_as_images_refuses(X, message):
    with pytest.raises(ValueError, match=r"^in\.npy: .*" + message):
        as_images(X, "in.npy")


@pytest.mark.parametrize(
    ("X", "kind"),
    [
        (np.zeros((2, 3), complex), "complex dtype complex128"),
        (np.zeros((2, 3), bool), "non-numeric dtype bool"),
        (np.array([["a"]]), "non-numeric dtype <U1"),
        (np.array([[None]]), "non-numeric dtype object"),
    ],
)
def test_as_images_refuses_kinds(X, kind):
    with pytest.raises(TypeError, match=f"^X: expected integer pixel values .*found {kind}"):
        as_images(X, "X")


def test_as_images_pixel_count():
    with pytest.raises(ValueError, match=r"expected 784 pixels per image .* found images of "
                                         r"shape \(28, 27\) \(756 pixels\)"):
        as_images(np.zeros((2, 28, 27)), "X", n_pixels=784)

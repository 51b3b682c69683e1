"""Checks on data that comes from outside: written once, shared by the API and the CLI.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of array) whose
message starts with ``name`` (an argument name, or the file the data was read from) and
says what was expected and what was found.

Images for prediction follow one documented rule (:func:`as_images`):

* integer arrays hold pixel intensities 0..255 and are divided by 255;
* float arrays must already be scaled to [0, 1];
* anything else (complex, boolean, strings, objects), non-finite values, values outside
  those ranges and empty arrays are refused.

This module is a leaf: it imports nothing from nablanet.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_CLASSES", "all_finite", "as_examples", "as_images", "check_finite",
           "declared_array", "first_index"]

#: Most classes a label column may ask for, the bound to give the reader of class labels
#: (``max_classes=``) before a model is sized from them: a label of 1e9 would otherwise
#: ask for a 1e9-wide output layer and one-hot targets.
MAX_CLASSES = 65536


def first_index(bad: np.ndarray) -> tuple[int, ...]:
    """The index (a tuple, one entry per dimension) of the first True of boolean ``bad``.

    ``bad`` must hold at least one True.
    """
    flat = int(np.flatnonzero(bad.reshape(-1))[0])
    return tuple(int(i) for i in np.unravel_index(flat, bad.shape))


def all_finite(array: np.ndarray) -> bool:
    """Whether every value of ``array`` is finite (integer arrays always are).

    One sum over the array, without the boolean array of ``np.isfinite``: a NaN or an
    infinity makes the sum NaN or infinite, so a finite sum proves every value finite;
    only a non-finite sum (which finite values can also reach, by overflow) is checked
    value by value."""
    if array.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(array.sum()):
            return True
    return bool(np.isfinite(array).all())


def check_finite(array: np.ndarray, name: str) -> None:
    """Refuse NaN and infinite values.

    Parameters
    ----------
    array : numpy.ndarray
        Any shape, a float or complex dtype (integer arrays are always finite).
    name : str
        Starts the message: the argument's or the file's name.

    Raises
    ------
    ValueError
        ``"<name>: 3 non-finite values (NaN or inf), the first at index (0, 5) is nan"``.
    """
    if all_finite(array):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        where = first_index(bad)
        raise ValueError(
            f"{name}: {int(bad.sum())} non-finite values (NaN or inf), the first at index "
            f"{where} is {array[where]}"
        )


def declared_array(name: str, shape: tuple, dtype: np.dtype,
                   declared: str) -> tuple[np.ndarray, memoryview]:
    """An empty native-byte-order array of the ``shape`` and ``dtype`` a file's header
    declares, and a writable view of its bytes for the reader to fill (the caller has
    bounded the size first).

    Raises
    ------
    ValueError
        Starting with ``name`` and quoting ``declared`` (the header's words), when the
        dimensions overflow (an empty array whose other dimensions are huge).
    """
    try:
        array = np.empty(shape, dtype=dtype.newbyteorder("="))
    except ValueError as err:
        raise ValueError(f"{name}: bad dimensions: {declared}: {err}") from None
    flat = array.reshape(-1).view(np.uint8)
    return array, memoryview(flat)  # type: ignore[arg-type]  # NumPy's stubs lack __buffer__


def as_images(X, name: str, *, n_pixels: int | None = None, dtype=np.float64) -> np.ndarray:
    """Images to predict on, checked and scaled: ``(n, pixels)`` in [0, 1].

    Parameters
    ----------
    X : array_like
        ``(n, pixels)`` or ``(n, rows, columns)`` (any number of trailing dimensions),
        ``n >= 1``. Integer dtypes hold intensities 0..255 and are divided by 255; float
        dtypes must be finite and in [0, 1].
    name : str
        Starts every message: the argument's or the file's name.
    n_pixels : int, optional
        Pixels per image the model expects (its input size); checked when given.
    dtype : {numpy.float64, numpy.float32}
        dtype of the result.

    Returns
    -------
    numpy.ndarray
        ``(n, pixels)`` of ``dtype``, a new C-contiguous array with values in [0, 1].

    Raises
    ------
    TypeError
        If ``X`` is not a real numeric array (complex, boolean, strings, objects).
    ValueError
        If ``X`` has fewer than 2 dimensions or no values, holds NaN or inf (count and
        first index), integers outside 0..255 or floats outside [0, 1] (the range found
        and the first index outside), or has another number of pixels than ``n_pixels``.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        kind = "complex" if X.dtype.kind == "c" else "non-numeric"
        raise TypeError(
            f"{name}: expected integer pixel values 0..255 or floats in [0, 1], "
            f"found {kind} dtype {X.dtype}"
        )
    if X.ndim < 2:
        raise ValueError(
            f"{name}: expected images of shape (n, pixels) or (n, rows, columns), "
            f"found shape {X.shape}"
        )
    if X.size == 0:
        raise ValueError(f"{name}: no images: the array of shape {X.shape} is empty")
    if n_pixels is not None and X[0].size != n_pixels:
        raise ValueError(
            f"{name}: expected {n_pixels} pixels per image (the model's inputs), found images "
            f"of shape {X.shape[1:]} ({X[0].size} pixels)"
        )
    check_finite(X, name)
    top = 255 if X.dtype.kind in "iu" else 1
    bad = (X < 0) | (X > top)
    if bad.any():
        where = first_index(bad)
        rule = "integers 0..255" if top == 255 else "floats in [0, 1] (divide 0..255 by 255)"
        raise ValueError(
            f"{name}: expected pixel values as {rule}, found {X.min()}..{X.max()}; "
            f"the first outside is {X[where]} at index {where}"
        )
    images = X.reshape(len(X), -1).astype(dtype)
    if top == 255:
        images /= 255
    return images


def as_examples(data, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``(X, y)`` from the book's data forms, converted once at the edge.

    Parameters
    ----------
    data : iterable of ``(x, y)`` tuples, or a tuple ``(X, y)`` of arrays
        The book's list (or Python 3 ``zip``) of ``(x, y)``: ``x`` a column ``(k, 1)``
        or a vector ``(k,)``, ``y`` a one-hot column ``(10, 1)`` or an integer label;
        or arrays ``X (n, k)`` and ``y (n,)`` / ``(n, n_out)`` as the book's
        ``mnist_loader.load_data`` gives them (returned as they are).
    name : str
        The argument's name, for error messages.

    Returns
    -------
    X : ndarray ``(n, k)``
    y : ndarray ``(n,)`` of labels or ``(n, n_out)`` of targets

    Raises
    ------
    ValueError
        If ``data`` is empty, or its ``x`` (or ``y``) do not all have the same size.
    """
    # X an array, or an array-like with a shape (a nablanet.datasets.pixels.Pixels)
    if isinstance(data, tuple) and len(data) == 2 and hasattr(data[0], "__array__") \
            and hasattr(data[0], "shape") \
            and isinstance(data[1], np.ndarray) and data[0].ndim == 2 and data[1].ndim >= 1 \
            and len(data[0]) == len(data[1]) and data[0].shape[1] != 1:
        return data
    pairs = list(data)
    if not pairs:
        raise ValueError(f"{name}: expected at least one (x, y) example, got none")
    try:
        X = np.stack([np.reshape(x, -1) for x, _ in pairs])
        ys = [y for _, y in pairs]
        y = np.asarray(ys) if np.ndim(ys[0]) == 0 else np.stack([np.reshape(v, -1) for v in ys])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: expected (x, y) tuples with x of one size and y of one size ({exc})"
        ) from None
    return X, y

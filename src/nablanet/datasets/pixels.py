"""Images held as their bytes: uint8 pixels 0..255 that stand for the floats
``pixel / 255`` in [0, 1], converted a few rows at a time where they are used.

Fashion-MNIST's 70,000 images are 55 MB as bytes and 440 MB as float64. A
:class:`Pixels` keeps the bytes; a model trained on it (:meth:`nablanet.Sequential.fit`)
converts each mini-batch (or a chunk of mini-batches for a compiled kernel) and each
evaluation chunk to its dtype, with the very operations of converting the whole array
first (``astype(dtype)``, then ``/= 255``), so that training gives the same weights bit
for bit. Anything else sees the float array: ``numpy.asarray(pixels)`` converts it all.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Pixels", "to_float"]


def to_float(raw: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = raw / 255`` computed as ``raw.astype(out.dtype) / 255`` is (the
    rule of :func:`nablanet.validation.as_images`), in place; returns ``out``."""
    out[...] = raw
    out /= 255
    return out


class Pixels:
    """uint8 images seen as floats ``pixel / 255`` of ``dtype``.

    Parameters
    ----------
    data : numpy.ndarray of uint8, ``(n, ...)``
        The pixels, one row per image (kept, not copied).
    dtype : {numpy.float64, numpy.float32}
        The dtype of the values they stand for.

    Attributes
    ----------
    data : numpy.ndarray
        The uint8 pixels.
    shape, ndim, dtype, nbytes
        Those of the float array (``nbytes`` its size as floats; ``data.nbytes`` the
        memory held).

    Raises
    ------
    TypeError
        If ``data`` is not a uint8 array of at least one dimension.
    ValueError
        If ``dtype`` is not float32 or float64.

    Examples
    --------
    >>> p = Pixels(np.array([[0, 51, 255]], dtype=np.uint8))
    >>> np.asarray(p)
    array([[0. , 0.2, 1. ]])
    """

    def __init__(self, data: np.ndarray, dtype=np.float64):
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim < 1:
            raise TypeError(f"data: expected a uint8 array, got {type(data).__name__} "
                            f"{getattr(data, 'dtype', '')}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
        self.data, self.dtype = data, dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def nbytes(self) -> int:
        return self.data.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Pixels(shape={self.shape}, dtype={self.dtype.name})"

    def __getitem__(self, key):
        """Rows selected (a slice, an index array, a mask) stay :class:`Pixels`;
        anything smaller (one image, one pixel) is converted."""
        raw = self.data[key]
        if raw.ndim == self.data.ndim:
            return Pixels(raw, self.dtype)
        return to_float(raw, np.empty(raw.shape, self.dtype))

    def __array__(self, dtype=None, copy=None):
        out = to_float(self.data, np.empty(self.data.shape, self.dtype))
        return out if dtype is None else out.astype(dtype, copy=False)

    def astype(self, dtype) -> Pixels:
        """The same pixels standing for values of another float dtype (no copy)."""
        return Pixels(self.data, dtype)

    def reshape(self, *shape) -> Pixels:
        """The pixels reshaped (a view), e.g. ``(n, 784)`` to ``(n, 1, 28, 28)``."""
        return Pixels(self.data.reshape(*shape), self.dtype)

    def take(self, indices, axis: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """The rows ``indices`` as floats, into ``out`` (of ``dtype``) when given: what
        ``numpy.ndarray.take`` gives for the float array."""
        raw = self.data.take(indices, axis=axis)
        return to_float(raw, np.empty(raw.shape, self.dtype) if out is None else out)

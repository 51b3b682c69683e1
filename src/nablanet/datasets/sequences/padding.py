"""Padding: :func:`pad` stacks variable-length sequences into one zero-padded batch
``(n, T, k)`` with a boolean mask ``(n, T)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

#: sequences stacked at a time (the copy of their steps is the transient memory)
_CHUNK = 4096


def pad(
    arrays: Sequence[np.ndarray], *, n_steps: int | None = None, dtype: DTypeLike = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length sequences into one zero-padded batch with a mask.

    Parameters
    ----------
    arrays : sequence of numpy.ndarray
        ``n`` arrays of shape ``(T_i, k)`` (same ``k``).
    n_steps : int, optional
        Number of steps T of the batch; default ``max(T_i)``. Must be at least every
        ``T_i``.
    dtype : numpy dtype
        dtype of the padded batch (float64 by default).

    Returns
    -------
    padded : numpy.ndarray, shape ``(n, T, k)``, ``dtype``
        ``padded[i, :T_i] = arrays[i]`` (left-aligned: valid steps first); zeros after.
    mask : numpy.ndarray, shape ``(n, T)``, bool
        True on the valid steps ``t < T_i``.

    Raises
    ------
    ValueError
        If ``arrays`` is empty, an array is not 2-D, the widths ``k`` differ, or a
        sequence is longer than ``n_steps``.
    """
    if len(arrays) == 0:
        raise ValueError("pad: arrays is empty, expected at least one (T_i, k) array")
    shapes = [np.shape(a) for a in arrays]
    for i, shape in enumerate(shapes):
        if len(shape) != 2 or shape[1] != shapes[0][1]:
            raise ValueError(
                f"pad: arrays[{i}] has shape {shape}; expected (T_i, {shapes[0][-1]}) "
                f"like arrays[0] {shapes[0]}"
            )
    lengths = np.array([s[0] for s in shapes], dtype=np.int64)
    longest = int(lengths.max())
    if n_steps is None:
        n_steps = longest
    elif n_steps < longest:
        i = int(lengths.argmax())
        raise ValueError(f"pad: n_steps={n_steps} but arrays[{i}] has {longest} steps")
    mask = np.arange(n_steps) < lengths[:, None]
    padded = np.zeros((len(arrays), n_steps, shapes[0][1]), dtype=dtype)
    for a in range(0, len(arrays), _CHUNK):  # in chunks: a copy of the data is not held
        padded[a:a + _CHUNK][mask[a:a + _CHUNK]] = np.concatenate(arrays[a:a + _CHUNK])
    return padded, mask

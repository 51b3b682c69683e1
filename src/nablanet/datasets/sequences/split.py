"""Splitting sequences (never steps) at random into a training and a test set:
:func:`train_test_split`."""

from __future__ import annotations

import numpy as np

from nablanet.datasets.sequences.data import SequenceData


def train_test_split(
    data: SequenceData, train_ratio: float = 0.8, *, seed: int = 1
) -> tuple[SequenceData, SequenceData]:
    """Split sequences (never steps) at random into a training and a test set.

    Parameters
    ----------
    data : SequenceData
        At least two sequences.
    train_ratio : float
        Fraction of sequences for training, ``0 < train_ratio < 1``; the count is
        ``round(train_ratio * n)``.
    seed : int, default 1
        Seed of the ``numpy.random.Generator`` that draws the permutation: the same
        seed gives the same split (1: the default of the command line's ``--seed``).

    Returns
    -------
    train, test : SequenceData
        Disjoint subsets covering ``data``; each keeps the original order of its
        sequences. Arrays are shared with ``data``.

    Raises
    ------
    ValueError
        If ``train_ratio`` is not in ``(0, 1)`` or either part would be empty.
    """
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be between 0 and 1 (exclusive), found {train_ratio}")
    n = len(data)
    n_train = round(train_ratio * n)
    if not 0 < n_train < n:
        raise ValueError(
            f"train_ratio={train_ratio} splits {n} sequence(s) into {n_train} for training "
            f"and {n - n_train} for testing; both parts must be non-empty"
        )
    order = np.random.default_rng(seed).permutation(n)
    return data.subset(np.sort(order[:n_train])), data.subset(np.sort(order[n_train:]))

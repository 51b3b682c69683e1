"""The container of a sequence data set: :class:`SequenceData`, variable-length
sequences with per-step features, labels, step indices and source lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class SequenceData:
    """A set of variable-length sequences with per-step features and labels.

    Parameters
    ----------
    names : list of str
        One identifier per sequence.
    features : list of numpy.ndarray
        Sequence ``i`` has features of shape ``(T_i, F)``, float64.
    labels : list of numpy.ndarray
        Sequence ``i`` has labels (targets) of shape ``(T_i, L)``, float64, one row per
        step.
    feature_names, label_names : list of str
        Column names of the features (``x1..xF``) and labels (``y1..yL``).
    source : pathlib.Path, str or None
        File the data was read from, if any (or the ``source`` given to
        :func:`read_sequence_frame`).
    times : list of numpy.ndarray, optional
        The ``t`` value of each step, int64 ``(T_i,)``, sorted; default ``0..T_i-1``.
    lines : list of numpy.ndarray, optional
        The 1-based line of ``source`` that holds each step, int64 ``(T_i,)``; set by
        :func:`read_sequence_csv`, used to name the line in later checks; default None.

    Raises
    ------
    ValueError
        If ``names``, ``features`` and ``labels`` differ in length.

    Notes
    -----
    Arrays may be views into one shared block (as returned by :func:`read_sequence_csv`)
    and :meth:`subset` shares them too; treat them as read-only.
    """

    names: list[str]
    features: list[np.ndarray]
    labels: list[np.ndarray]
    feature_names: list[str]
    label_names: list[str]
    source: Path | str | None = field(default=None)
    times: list[np.ndarray] = field(default_factory=list)
    lines: list[np.ndarray] | None = field(default=None)

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.features) == len(self.labels):
            raise ValueError(
                f"SequenceData: names, features and labels must have one entry per "
                f"sequence; found {len(self.names)}, {len(self.features)} and "
                f"{len(self.labels)}"
            )
        if not self.times:
            self.times = [np.arange(len(f), dtype=np.int64) for f in self.features]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_features(self) -> int:
        """Number of input features F per step."""
        return len(self.feature_names)

    @property
    def n_labels(self) -> int:
        """Number of labels (targets) L per step."""
        return len(self.label_names)

    @property
    def lengths(self) -> np.ndarray:
        """Number of steps of each sequence, shape ``(n_sequences,)``, int64."""
        return np.array([len(f) for f in self.features], dtype=np.int64)

    def subset(self, indices: Sequence[int] | np.ndarray) -> SequenceData:
        """Select sequences by position.

        Parameters
        ----------
        indices : sequence of int or numpy.ndarray of int, shape ``(k,)``
            Positions of the sequences to keep, in the order wanted.

        Returns
        -------
        SequenceData
            ``k`` sequences; their arrays are shared with ``self``, not copied.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return SequenceData(
            names=[self.names[i] for i in idx],
            features=[self.features[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            feature_names=list(self.feature_names),
            label_names=list(self.label_names),
            source=self.source,
            times=[self.times[i] for i in idx],
            lines=None if self.lines is None else [self.lines[i] for i in idx],
        )

"""Class labels of a multiclass task: :func:`class_indices` reads both layouts (one
column of class indices, or the seed's one-hot columns) into one column of indices."""

from __future__ import annotations

import numpy as np

from nablanet.datasets.sequences.data import SequenceData


def class_indices(
    data: SequenceData, *, target: str = "every", max_classes: int | None = None
) -> tuple[SequenceData, int]:
    """Multiclass labels as one column of class indices, from either label layout.

    Two layouts are accepted: one label column ``y1`` holding the class index
    ``0..K-1`` of each step (nablanet's), or K columns ``y1..yK`` one-hot (the Rust
    seed's L-output layout: 1 in the column of the class, 0 elsewhere).

    Parameters
    ----------
    data : SequenceData
        Sequences with one label column or K >= 2 one-hot label columns.
    target : {"every", "last"}
        ``"last"``: the model learns one class per sequence, so every step of a
        sequence must carry the same class.
    max_classes : int, optional
        Largest number of classes accepted (e.g. the outputs of a trained model); an
        index at or above it is an error. Default: no bound.

    Returns
    -------
    indexed : SequenceData
        ``data`` with labels ``(T_i, 1)`` float64 holding the class index of each step,
        ``label_names == ["class"]``; features, times and lines are shared.
    n_classes : int
        K: the number of one-hot columns, or the largest index plus one.

    Raises
    ------
    ValueError
        If a label is not a non-negative integer, a one-hot row does not hold exactly
        one 1 and zeros, an index reaches ``max_classes``, a class changes within a
        sequence with ``target="last"``, or ``target`` is unknown. The message names
        the file and line of the step (``data.lines``), or the sequence and its ``t``.
    """
    if target not in ("every", "last"):
        raise ValueError(f"class_indices: target must be 'every' or 'last', found {target!r}")
    lengths = data.lengths
    labels = np.concatenate(data.labels) if len(data) else np.empty((0, data.n_labels))
    if data.n_labels == 1:
        column = labels[:, 0]
        bad = (column < 0) | (column != np.floor(column))
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"{_step_location(data, row)}, column {data.label_names[0]}: expected a class "
                f"index 0, 1, 2, ..., found {column[row]:g}"
            )
        n_classes = int(column.max()) + 1 if column.size else 0
    else:
        one_hot = np.isin(labels, (0.0, 1.0)).all(axis=1) & (labels.sum(axis=1) == 1)
        if not one_hot.all():
            row = int(np.argmin(one_hot))
            raise ValueError(
                f"{_step_location(data, row)}: expected one-hot labels "
                f"{data.label_names[0]}..{data.label_names[-1]} (one 1, the rest 0), "
                f"found {', '.join(f'{v:g}' for v in labels[row])}"
            )
        column, n_classes = labels.argmax(axis=1).astype(np.float64), data.n_labels
    if max_classes is not None and n_classes > max_classes:
        over = column >= max_classes
        where = _step_location(data, int(np.argmax(over))) if over.any() else data.source
        raise ValueError(
            f"{where}: {n_classes} classes found, at most {max_classes} expected "
            f"(class indices 0..{max_classes - 1})"
        )
    if target == "last" and column.size:
        starts = np.cumsum(lengths) - lengths
        changes = np.flatnonzero(np.diff(column) != 0) + 1
        changes = changes[~np.isin(changes, starts)]
        if changes.size:
            row = int(changes[0])
            raise ValueError(
                f"{_step_location(data, row)}: the class changes within a sequence (from "
                f"{int(column[row - 1])} to {int(column[row])}); target='last' needs one "
                f"class per sequence"
            )
    indexed = SequenceData(
        names=list(data.names),
        features=data.features,
        labels=np.split(column[:, None], np.cumsum(lengths)[:-1]) if len(data) else [],
        feature_names=list(data.feature_names),
        label_names=["class"],
        source=data.source,
        times=data.times,
        lines=data.lines,
    )
    return indexed, n_classes


def _step_location(data: SequenceData, row: int) -> str:
    """Where step ``row`` (counted over all sequences) comes from: file and line if known."""
    sequence = int(np.searchsorted(np.cumsum(data.lengths), row, side="right"))
    step = row - int(data.lengths[:sequence].sum())
    if data.lines is not None and data.source is not None:
        return f"{data.source}: line {data.lines[sequence][step]}"
    return f"sequence {data.names[sequence]!r}, step t={data.times[sequence][step]}"

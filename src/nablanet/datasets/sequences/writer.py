"""Writing sequences: :func:`write_sequence_csv`, the sequence CSV file that
:func:`~nablanet.datasets.sequences.read_sequence_csv` reads back exactly."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from nablanet.atomic import atomic_output
from nablanet.datasets.sequences.data import SequenceData

logger = logging.getLogger(__name__)


def write_sequence_csv(data: SequenceData, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as a sequence CSV file ``name,t,x1..xF,y1..yL``, atomically.

    Steps carry their ``times`` as ``t``. Floats are written in their shortest
    round-trip form (:func:`repr`), so :func:`read_sequence_csv` gives back the same
    values exactly; names are quoted where they hold a comma or a quote.

    Parameters
    ----------
    data : SequenceData
        The sequences to write; their feature and label names are not used: the
        columns are always named ``x1..xF`` and ``y1..yL``.
    path : str or path-like
        Destination; its directory must exist. The file is written under a temporary
        name in the same directory and renamed, so it is never left half written.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    header = ["name", "t"]
    header += [f"x{k}" for k in range(1, data.n_features + 1)]
    header += [f"y{k}" for k in range(1, data.n_labels + 1)]
    with atomic_output(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for name, times, features, labels in zip(
            data.names, data.times, data.features, data.labels, strict=True
        ):
            steps = np.column_stack([features, labels]).tolist()
            writer.writerows([name, t, *row] for t, row in zip(times.tolist(), steps, strict=True))
    logger.info("wrote %d sequences to %s", len(data), path)
    return path

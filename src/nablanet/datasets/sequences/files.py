"""Sequence files of either format: :func:`read_sequence_file` reads a CSV file or a
Parquet file (``.parquet``) with the CSV's columns, by the one parser of
:mod:`~nablanet.datasets.sequences.reader`.

Parquet needs pyarrow, the ``parquet`` extra (``pip install 'nablanet[parquet]'``),
imported only when a Parquet file is read.
"""

from __future__ import annotations

import os
from pathlib import Path

from nablanet.datasets.sequences.data import SequenceData
from nablanet.datasets.sequences.reader import read_sequence_csv, read_sequence_frame

PARQUET_SUFFIX = ".parquet"


def read_sequence_file(path: str | os.PathLike[str]) -> SequenceData:
    """Read a sequence file: Parquet if its name ends in ``.parquet``, else CSV.

    Parameters
    ----------
    path : str or path-like
        A CSV file (see :func:`~nablanet.datasets.sequences.read_sequence_csv`) or a
        Parquet file with the same columns (see :func:`read_sequence_parquet`).

    Returns
    -------
    SequenceData
        As :func:`~nablanet.datasets.sequences.read_sequence_csv`.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As the reader of the format.
    """
    if Path(path).suffix.lower() == PARQUET_SUFFIX:
        return read_sequence_parquet(path)
    return read_sequence_csv(path)


def read_sequence_parquet(path: str | os.PathLike[str]) -> SequenceData:
    """Read a Parquet file in the long format (``name, t, x1..xF`` and optionally
    ``y1..yL``, one row per step) into a :class:`SequenceData`.

    The table is read by :func:`~nablanet.datasets.sequences.read_sequence_frame`, so
    values are exact and the checks and messages are those of
    :func:`~nablanet.datasets.sequences.read_sequence_csv`; a message names the file
    and the row as the CSV line it would be (the header is line 1, the first row line
    2).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImportError
        If pyarrow is not installed (with the install command).
    ValueError
        If the file is not Parquet (naming it), or as
        :func:`~nablanet.datasets.sequences.read_sequence_csv`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sequence Parquet file not found: {path}")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"{path}: reading Parquet needs pyarrow: "
                          f"pip install 'nablanet[parquet]'") from None
    try:
        table = pq.read_table(path)
    except pa.ArrowException as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    return read_sequence_frame(table, source=str(path))

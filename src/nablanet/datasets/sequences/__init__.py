"""Sequence CSV files: reading, writing, class labels, splitting and padding.

The file format is the one of the Rust RNN in ``seeds/rnn-rust-readme.txt``: one row
per time step, grouped into sequences by an identifier and ordered by a step index::

    name,t,x1,x2,...,xF,y1,...,yL
    seq_0001,0,0.12,3.4,...,0
    seq_0001,1,0.15,3.1,...,0
    seq_0002,0,...

* ``name`` identifies the sequence (any string); ``t`` is the integer step index.
  Rows of one sequence need not be contiguous nor sorted: they are grouped by
  ``name`` (sequences in order of first appearance) and sorted by ``t``.
* ``x<k>`` are the F input features and ``y<k>`` the L targets of each step, both
  numbered ``1..F`` / ``1..L`` and ordered by ``k`` whatever the column order. The
  ``y<k>`` columns may be left out (data to predict for: ``L = 0``).
* The file is UTF-8 (a byte-order mark is accepted). Lines end with LF, CRLF or a lone
  CR, for the header and the body alike. Blank lines at the end of the file are
  ignored; anywhere else they are an error.
* Header names and values may be quoted (``"a,b"``; a quote inside a quoted value is
  doubled, ``""``); a quoted value starts right after the comma and may not span lines.
  Surrounding spaces are ignored.
* Every value must be present and finite. ``t`` is an integer in the int64 range,
  written as one (``3``) or as an integral decimal (``3.0``, ``3e2``).

The seed names its columns ``"id","t","f1",...,"l1",...``; we use ``name``, ``x<k>``
and ``y<k>``, the names of the converted data sets in :mod:`nablanet.datasets.convert`.
Labels of a multiclass task come in two layouts, one column of class indices or the
seed's one-hot columns; :func:`class_indices` reads both.

The package holds one idea per module: :mod:`~nablanet.datasets.sequences.data` (the
:class:`SequenceData` container), :mod:`~nablanet.datasets.sequences.parsing` (CSV
text: lines, quotes, the header, fields and their diagnosis),
:mod:`~nablanet.datasets.sequences.reader` (sequences from a file, whole or in chunks, or
from a DataFrame),
:mod:`~nablanet.datasets.sequences.files` (CSV or Parquet by the file's name),
:mod:`~nablanet.datasets.sequences.writer`,
:mod:`~nablanet.datasets.sequences.labels` (the two class-label layouts),
:mod:`~nablanet.datasets.sequences.split` (train/test split by sequence) and
:mod:`~nablanet.datasets.sequences.padding` (a zero-padded batch with its mask).
"""

from nablanet.datasets.sequences.data import SequenceData
from nablanet.datasets.sequences.files import read_sequence_file, read_sequence_parquet
from nablanet.datasets.sequences.labels import class_indices
from nablanet.datasets.sequences.padding import pad
from nablanet.datasets.sequences.reader import (
    read_sequence_chunks,
    read_sequence_csv,
    read_sequence_frame,
)
from nablanet.datasets.sequences.split import train_test_split
from nablanet.datasets.sequences.writer import write_sequence_csv

__all__ = [
    "SequenceData",
    "class_indices",
    "pad",
    "read_sequence_chunks",
    "read_sequence_csv",
    "read_sequence_file",
    "read_sequence_frame",
    "read_sequence_parquet",
    "train_test_split",
    "write_sequence_csv",
]

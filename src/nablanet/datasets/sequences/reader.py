"""Reading sequences: a sequence CSV file (:func:`read_sequence_csv`), in chunks of
whole sequences (:func:`read_sequence_chunks`), or a long-format pandas/polars DataFrame
(:func:`read_sequence_frame`) into a :class:`SequenceData`, by one parser and its checks
(:mod:`nablanet.datasets.sequences.parsing`).

Parsing is done by NumPy: the file is split into lines by Python's universal-newline
rule, and the fields of every line, header and body, are split and converted by
:func:`numpy.loadtxt` (a C parser) in blocks of about 4 MiB. When a block fails a check,
that block alone is examined line by line, by the same rules, to name the first bad
line and column.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from nablanet.datasets.sequences.data import SequenceData
from nablanet.datasets.sequences.parsing import check_header, parse_block, read_blocks, split_fields

logger = logging.getLogger(__name__)

_HEADER_HINT = "expected a header 'name,t,x1,...' (then y1,... if labelled)"
#: parsed rows: names (str), t (int64), features and labels (float64), line numbers
_Rows = tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def read_sequence_csv(path: str | os.PathLike[str]) -> SequenceData:
    """Read a sequence CSV file (``name,t,x1..xF,y1..yL``, or ``name,t,x1..xF`` without
    labels) into a :class:`SequenceData`.

    Parameters
    ----------
    path : str or path-like
        The CSV file, UTF-8 (a byte-order mark is accepted); the format is described in
        :mod:`nablanet.datasets.sequences`.

    Returns
    -------
    SequenceData
        Sequences in order of first appearance of their ``name``; steps sorted by ``t``;
        features ``(T_i, F)`` and labels ``(T_i, L)`` as float64 (``L = 0`` and
        ``label_names == []`` for a file without ``y<k>`` columns); ``lines`` set.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, not UTF-8 or has no data rows; if the header lacks
        ``name``, ``t`` or an ``x<k>`` column, repeats a column, has an
        unknown column or a gap in the numbering of ``x<k>``/``y<k>``; if a line is blank
        (before the end of the file), leaves a quote open, has the wrong number of
        fields, an empty, non-numeric or non-finite value, or a ``t`` that is not an
        integer, lies outside the int64 range or repeats within a sequence. The message
        names the file, the 1-based line number (the header is line 1) and, for a value,
        the column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sequence CSV file not found: {path}")
    return _read(path, lambda: path.open(encoding="utf-8-sig"))


def read_sequence_frame(frame, *, source: str = "DataFrame") -> SequenceData:
    """Read a long-format pandas or polars ``DataFrame`` (or a pyarrow ``Table``) with the
    CSV's columns (``name, t, x1..xF``, then ``y1..yL`` if labelled; one row per step)
    into a :class:`SequenceData`.

    The frame is written as CSV text by its own library (floats in their shortest
    round-trip form, so values are exact) and read by the parser of
    :func:`read_sequence_csv`, so the checks and the messages are the same; a message
    names ``source`` and the row as the CSV line it would be (the header is line 1, the
    frame's first row line 2).

    Raises
    ------
    TypeError
        If ``frame`` is neither a pandas nor a polars ``DataFrame`` nor a pyarrow
        ``Table``.
    ValueError
        As :func:`read_sequence_csv`.
    """
    if hasattr(frame, "to_csv") and hasattr(frame, "columns"):        # pandas
        text = frame.to_csv(index=False, lineterminator="\n")
    elif hasattr(frame, "write_csv") and hasattr(frame, "columns"):   # polars
        text = frame.write_csv()
    elif hasattr(frame, "schema") and hasattr(frame, "column_names"):  # pyarrow
        import pyarrow.csv as pa_csv  # installed: frame is one of its tables

        buffer = io.BytesIO()
        pa_csv.write_csv(frame, buffer)
        text = buffer.getvalue().decode("utf-8")
    else:
        raise TypeError(f"frame: expected a pandas or polars DataFrame or a pyarrow "
                        f"Table, got {type(frame).__name__}")
    return _read(source, lambda: io.StringIO(text, newline=None))


def read_sequence_chunks(path: str | os.PathLike[str]) -> Iterator[SequenceData]:
    """Read a sequence CSV file in chunks of whole sequences, in bounded memory.

    The file is parsed by the parser of :func:`read_sequence_csv`, a block of about 4 MiB
    at a time; each chunk holds the sequences that ended within a block (a sequence
    longer than a block is carried over until it ends). So the memory taken does not
    grow with the file, except for 16 bytes per sequence read (a hash of its name and
    its first line, to find a name that comes back).

    Parameters
    ----------
    path : str or path-like
        The CSV file, in the format of :func:`read_sequence_csv`, with the rows of each
        sequence contiguous (one after the other; in any order of ``t``).

    Yields
    ------
    SequenceData
        The next sequences of the file, in file order, as :func:`read_sequence_csv`
        returns them (steps sorted by ``t``; ``lines`` set). Concatenated, the chunks
        hold the sequences :func:`read_sequence_csv` returns, in the same order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        As :func:`read_sequence_csv`; and if the rows of a sequence are not contiguous: a
        ``name`` appears again after another sequence started (naming both lines). An
        error in a later block is raised after the chunks before it were yielded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sequence CSV file not found: {path}")
    blocks = read_blocks(path, lambda: path.open(encoding="utf-8-sig"))
    header, feature_names, label_names = _header(path, blocks)
    finished = _FinishedNames(path)
    carry: _Rows | None = None  # the rows of the last sequence, which may go on
    for block in blocks:
        rows = parse_block(path, header, feature_names, label_names, *block)
        if carry is not None:
            rows = _join([carry, rows])
        names = np.array(rows[0], dtype=object)
        starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
        last = int(starts[-1])
        carry = _rows(rows, slice(last, None))
        if last:
            finished.add(names[starts[:-1]], rows[4][starts[:-1]])
            yield _assemble(path, header, feature_names, label_names,
                            _rows(rows, slice(0, last)))
    if carry is None:
        raise ValueError(f"{path}: no data rows after the header (line 1)")
    finished.add(np.array(carry[0][:1], dtype=object), carry[4][:1])
    yield _assemble(path, header, feature_names, label_names, carry)


class _FinishedNames:
    """The names of the sequences read so far from ``path``, as 64-bit hashes (Python's
    ``hash``) with the line each sequence started at: 16 bytes a sequence, checked a
    chunk at a time (vectorised). Hashes kept sorted, in a few arrays merged now and then."""

    def __init__(self, path) -> None:
        self.path = path
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, lines)

    def add(self, names: np.ndarray, lines: np.ndarray) -> None:
        """Record the sequences ``names`` (distinct consecutive runs) starting at ``lines``;
        raise ValueError if one was read before, or appears twice among them."""
        hashes = np.fromiter(map(hash, names), dtype=np.int64, count=len(names))
        order = np.argsort(hashes, kind="stable")
        hashes, lines, names = hashes[order], lines[order], names[order]
        found = []  # (line where a name comes back, name, line where it started)
        again = np.flatnonzero(hashes[1:] == hashes[:-1])
        if again.size:
            k = again[np.argmin(lines[again + 1])]
            found.append((lines[k + 1], names[k + 1], lines[k]))
        for seen, seen_lines in self.parts:
            at = np.minimum(np.searchsorted(seen, hashes), len(seen) - 1)
            hit = np.flatnonzero(seen[at] == hashes)
            if hit.size:
                k = hit[np.argmin(lines[hit])]
                found.append((lines[k], names[k], seen_lines[at[k]]))
        if found:
            line, name, first = min(found)
            raise ValueError(
                f"{self.path}: line {line}: sequence {name!r} appears again after other "
                f"sequences (it started at line {first}); to be read in chunks, the rows of "
                f"a sequence must be contiguous"
            )
        self.parts.append((hashes, lines))
        if len(self.parts) > 8:  # merge: the checks stay a few searches per chunk
            merged = np.concatenate([h for h, _ in self.parts])
            merged_lines = np.concatenate([n for _, n in self.parts])
            order = np.argsort(merged, kind="stable")
            self.parts = [(merged[order], merged_lines[order])]


def _read(path, open_text: Callable[[], TextIO]) -> SequenceData:
    """The parser of :func:`read_sequence_csv` on the text ``open_text()`` gives; ``path``
    names it in messages (a Path, or a description such as ``"DataFrame"``)."""
    start = time.perf_counter()
    blocks = read_blocks(path, open_text)
    header, feature_names, label_names = _header(path, blocks)
    store = _RowStore()
    for block in blocks:
        store.append(parse_block(path, header, feature_names, label_names, *block))
    if not store.n:
        raise ValueError(f"{path}: no data rows after the header (line 1)")
    data = _assemble(path, header, feature_names, label_names, store.rows())
    logger.info(
        "read %d sequences (%d steps, %d features, %d labels) from %s in %.3f s",
        len(data),
        sum(len(t) for t in data.times),
        len(feature_names),
        len(label_names),
        path,
        time.perf_counter() - start,
    )
    return data


def _header(path, blocks: Iterator[tuple[int, list[str]]]) -> tuple[list[str], list[str],
                                                                    list[str]]:
    """``(header, feature names, label names)`` from the first of ``blocks`` (line 1),
    checked by :func:`check_header`."""
    first = next(blocks, None)
    if first is None:
        raise ValueError(f"{path}: line 1: empty file, {_HEADER_HINT}")
    header = [name.strip() for name in split_fields(first[1][0])]
    return header, *check_header(path, header)


def _rows(rows: _Rows, part: slice) -> _Rows:
    """The rows ``part`` of ``rows``."""
    return rows[0][part], *(array[part] for array in rows[1:])  # type: ignore[return-value]


class _RowStore:
    """The parsed rows of a whole file, appended block by block into arrays that grow in
    place (``ndarray.resize``: ``realloc``, which moves pages rather than copying them
    for large arrays), so that the blocks are not all held until one final copy joins
    them: the memory taken is the data's, about once. A name that repeats the row
    before's is stored as that row's string, so the rows of a sequence share one."""

    def __init__(self) -> None:
        self.n = 0
        self.names: list[str] = []
        self.arrays: list[np.ndarray] = []  # t, features, labels, line numbers

    def append(self, rows: _Rows) -> None:
        names, *arrays = rows
        k = len(names)
        if not self.arrays:
            self.arrays = [np.empty((0, *a.shape[1:]), dtype=a.dtype) for a in arrays]
        if self.n + k > len(self.arrays[0]):
            capacity = max(self.n + k, len(self.arrays[0]) * 3 // 2)
            for a in self.arrays:
                a.resize((capacity, *a.shape[1:]), refcheck=False)  # no view of a is alive
        for store, a in zip(self.arrays, arrays, strict=True):
            store[self.n:self.n + k] = a
        previous = self.names[-1] if self.names else None
        for name in names:
            if name != previous:
                previous = name
            self.names.append(previous)
        self.n += k

    def rows(self) -> _Rows:
        """The rows appended, the arrays cut to their length (the store is then empty)."""
        for a in self.arrays:
            a.resize((self.n, *a.shape[1:]), refcheck=False)
        t, features, labels, numbers = self.arrays
        names, self.names, self.arrays = self.names, [], []
        return names, t, features, labels, numbers


def _join(parts: list[_Rows]) -> _Rows:
    """The rows of ``parts`` (from :func:`parse_block`) one after the other."""
    names = [name for part in parts for name in part[0]]
    t, features, labels, line_numbers = (
        np.concatenate([part[k] for part in parts]) for k in range(1, 5)
    )
    return names, t, features, labels, line_numbers


def _assemble(path, header: list[str], feature_names: list[str], label_names: list[str],
              rows: _Rows) -> SequenceData:
    """Group parsed ``rows`` into sequences by name (in order of first appearance), each
    sorted by ``t``; raise ValueError naming the line of a repeated step."""
    names, t, features, labels, line_numbers = rows

    # Sequence key: the row where its name first appears. Order rows by (key, t),
    # skipping the reordering when the file is already in that order.
    first_row: dict[str, int] = {}
    key = np.array([first_row.setdefault(name, row) for row, name in enumerate(names)])
    if not np.all((key[1:] > key[:-1]) | ((key[1:] == key[:-1]) & (t[1:] > t[:-1]))):
        order = np.lexsort((t, key))
        key, t, line_numbers = key[order], t[order], line_numbers[order]
        features, labels = features[order], labels[order]
        duplicate = np.flatnonzero((key[1:] == key[:-1]) & (t[1:] == t[:-1]))
        if duplicate.size:
            later = np.maximum(line_numbers[duplicate], line_numbers[duplicate + 1])
            row = duplicate[later.argmin()]
            raise ValueError(
                f"{path}: line {later.min()}, column {header.index('t') + 1} (t): duplicate "
                f"step t={t[row]} in sequence {names[key[row]]!r}"
            )
    starts = np.flatnonzero(np.diff(key, prepend=-1))
    return SequenceData(
        names=[names[k] for k in key[starts]],
        features=_split(features, starts),
        labels=_split(labels, starts),
        feature_names=feature_names,
        label_names=label_names,
        source=path,
        times=_split(t, starts),
        lines=_split(line_numbers, starts),
    )


def _split(block: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
    """Views of ``block``'s rows cut at ``starts`` (the first row of each piece, from 0)."""
    ends = [*starts[1:].tolist(), len(block)]
    return [block[a:b] for a, b in zip(starts.tolist(), ends, strict=True)]



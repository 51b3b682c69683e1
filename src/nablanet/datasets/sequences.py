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
  numbered ``1..F`` / ``1..L`` and ordered by ``k`` whatever the column order.
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

Parsing is done by NumPy: the file is split into lines by Python's universal-newline
rule, and the fields of every line, header and body, are split and converted by
:func:`numpy.loadtxt` (a C parser) in blocks of about 4 MiB. When a block fails a check,
that block alone is examined line by line, by the same rules, to name the first bad
line and column.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NoReturn, TextIO

import numpy as np
from numpy.typing import DTypeLike

from nablanet.atomic import atomic_output

logger = logging.getLogger(__name__)

__all__ = [
    "SequenceData",
    "class_indices",
    "pad",
    "read_sequence_csv",
    "read_sequence_frame",
    "train_test_split",
    "write_sequence_csv",
]

_NUMBERED = re.compile(r"([xy])([1-9][0-9]*)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT64 = np.iinfo(np.int64)
_QUOTE = '"'
# A line whose quotes are all closed, by numpy.loadtxt's rules: a quote opens a quoted
# value only as the first character of a field; inside, "" is a quote and " closes it
# (possessive, so "" is never read as a close and a literal quote). Other quotes are text.
_FIELD = r'(?:"(?:[^"]|"")*+"[^,]*|[^",][^,]*|)'
_QUOTING = re.compile(rf"{_FIELD}(?:,{_FIELD})*")
_CHUNK = 1 << 22  # characters read at a time: a block of ~7,000 lines of the fraud file
_HEADER_HINT = "expected a header 'name,t,x1,...,y1,...'"


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


# ---------------------------------------------------------------------------- reading


def read_sequence_csv(path: str | os.PathLike[str]) -> SequenceData:
    """Read a sequence CSV file (``name,t,x1..xF,y1..yL``) into a :class:`SequenceData`.

    Parameters
    ----------
    path : str or path-like
        The CSV file, UTF-8 (a byte-order mark is accepted); the format is described in
        :mod:`nablanet.datasets.sequences`.

    Returns
    -------
    SequenceData
        Sequences in order of first appearance of their ``name``; steps sorted by ``t``;
        features ``(T_i, F)`` and labels ``(T_i, L)`` as float64; ``lines`` set.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, not UTF-8 or has no data rows; if the header lacks
        ``name``, ``t``, an ``x<k>`` or a ``y<k>`` column, repeats a column, has an
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
    """Read a long-format pandas or polars ``DataFrame`` with the CSV's columns (``name,
    t, x1..xF, y1..yL``, one row per step) into a :class:`SequenceData`.

    The frame is written as CSV text by its own library and read by the parser of
    :func:`read_sequence_csv`, so the checks and the messages are the same; a message
    names ``source`` and the row as the CSV line it would be (the header is line 1, the
    frame's first row line 2).

    Raises
    ------
    TypeError
        If ``frame`` is neither a pandas nor a polars ``DataFrame``.
    ValueError
        As :func:`read_sequence_csv`.
    """
    if hasattr(frame, "to_csv") and hasattr(frame, "columns"):        # pandas
        text = frame.to_csv(index=False, lineterminator="\n")
    elif hasattr(frame, "write_csv") and hasattr(frame, "columns"):   # polars
        text = frame.write_csv()
    else:
        raise TypeError(f"frame: expected a pandas or polars DataFrame, got "
                        f"{type(frame).__name__}")
    return _read(source, lambda: io.StringIO(text, newline=None))


def _read(path, open_text: Callable[[], TextIO]) -> SequenceData:
    """The parser of :func:`read_sequence_csv` on the text ``open_text()`` gives; ``path``
    names it in messages (a Path, or a description such as ``"DataFrame"``)."""
    start = time.perf_counter()
    blocks = _blocks(path, open_text)
    first = next(blocks, None)
    if first is None:
        raise ValueError(f"{path}: line 1: empty file, {_HEADER_HINT}")
    header = [name.strip() for name in _fields(first[1][0])]
    feature_names, label_names = _check_header(path, header)
    parsed = [_parse_block(path, header, feature_names, label_names, *block) for block in blocks]
    if not parsed:
        raise ValueError(f"{path}: no data rows after the header (line 1)")
    names = [name for block in parsed for name in block[0]]
    t, features, labels, line_numbers = (
        np.concatenate([block[k] for block in parsed]) for k in range(1, 5)
    )

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
    data = SequenceData(
        names=[names[k] for k in key[starts]],
        features=_split(features, starts),
        labels=_split(labels, starts),
        feature_names=feature_names,
        label_names=label_names,
        source=path,
        times=_split(t, starts),
        lines=_split(line_numbers, starts),
    )
    logger.info(
        "read %d sequences (%d steps, %d features, %d labels) from %s in %.3f s",
        len(data),
        len(t),
        len(feature_names),
        len(label_names),
        path,
        time.perf_counter() - start,
    )
    return data


def _split(block: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
    """Views of ``block``'s rows cut at ``starts`` (the first row of each piece, from 0)."""
    ends = [*starts[1:].tolist(), len(block)]
    return [block[a:b] for a, b in zip(starts.tolist(), ends, strict=True)]


def _blocks(path, open_text: Callable[[], TextIO]) -> Iterator[tuple[int, list[str]]]:
    """Yield the lines of ``open_text()`` in blocks: ``(number of the first line, lines)``;
    ``path`` names them in messages.

    The first block is line 1 alone (the header); each next one holds the lines of
    about ``_CHUNK`` characters. Lines end at LF, CRLF or a lone CR (Python's universal
    newlines) and are yielded without their ending. Blank lines at the end of the file
    are dropped. Raises ValueError, naming the line, for a blank line followed by data,
    a line that leaves a quote open, or bytes that are not UTF-8.
    """
    try:
        with open_text() as f:  # universal newlines: endings read as \n
            number, chunks = 1, _line_chunks(f)
            for chunk, quoted in chunks:
                for lines in [chunk[:1], chunk[1:]] if number == 1 else [chunk]:
                    if not lines:
                        continue
                    if quoted:
                        _check_quotes(path, number, lines)
                    if "" in map(str.strip, lines):
                        blank = [line.strip() for line in lines].index("")
                        later = itertools.chain.from_iterable(more for more, _ in chunks)
                        rest = itertools.chain(lines[blank:], later)  # read lazily
                        if any(line.strip() for line in rest):
                            raise ValueError(
                                f"{path}: line {number + blank}: blank line (every line must "
                                f"hold one step)"
                            )
                        if blank:
                            yield number, lines[:blank]
                        return
                    yield number, lines
                    number += len(lines)
    except UnicodeDecodeError:
        _not_utf8(path)


def _line_chunks(f: TextIO) -> Iterator[tuple[list[str], bool]]:
    """Read ``f`` ``_CHUNK`` characters at a time; yield the complete lines of each read
    and whether they hold a quote character."""
    pending = ""
    while chunk := f.read(_CHUNK):
        text = pending + chunk
        lines = text.split("\n")
        pending = lines.pop()
        if lines:
            yield lines, _QUOTE in text
    if pending:
        yield [pending], _QUOTE in pending


def _check_quotes(path: Path, number: int, lines: list[str]) -> None:
    """Raise ValueError at the first of ``lines`` (numbered from ``number``) that leaves a
    quote open."""
    for offset, line in enumerate(lines):
        if _QUOTE in line and not _QUOTING.fullmatch(line):
            raise ValueError(
                f"{path}: line {number + offset}: a quote is opened and never closed (a "
                f"quoted value ends with a quote on the same line)"
            )


def _not_utf8(path: Path) -> NoReturn:
    """Raise ValueError naming the line and byte of the first non-UTF-8 byte of ``path``."""
    raw = path.read_bytes()
    body = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = body[: exc.start]
        line = 1 + len(re.findall(rb"\r\n|\r|\n", before))
        line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
        raise ValueError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{body[exc.start]:02x} at byte "
            f"{exc.start - line_start + 1} of the line); save the file as UTF-8"
        ) from None
    raise ValueError(f"{path}: not UTF-8 text; save the file as UTF-8")


def _loadtxt(lines: list[str], dtype: DTypeLike) -> np.ndarray:
    """The one parser of the format: :func:`numpy.loadtxt` on ``lines`` (one row each).

    Fields are separated by commas and may be quoted with ``"``; no comment character.
    """
    return np.loadtxt(lines, dtype=dtype, delimiter=",", quotechar=_QUOTE, comments=None, ndmin=1)


def _fields(text: str) -> list[str]:
    """Split one line into its fields (unquoted, spaces and NUL characters kept)."""
    return [str(value) for value in _loadtxt([text], object)]


def _check_header(path: Path, header: list[str]) -> tuple[list[str], list[str]]:
    """Validate the header; return feature and label column names ordered by number."""
    seen: set[str] = set()
    numbered: dict[str, list[tuple[int, str]]] = {"x": [], "y": []}
    for position, col in enumerate(header, start=1):
        if col in seen:
            raise ValueError(f"{path}: line 1, column {position}: duplicate column {col!r}")
        seen.add(col)
        match = _NUMBERED.fullmatch(col)
        if match:
            numbered[match[1]].append((int(match[2]), col))
        elif col not in ("name", "t"):
            raise ValueError(
                f"{path}: line 1, column {position}: unexpected column {col!r} "
                f"(expected name, t, x1..xF, y1..yL)"
            )
    missing = [c for c in ("name", "t") if c not in seen]
    missing += [f"{p}1" for p in ("x", "y") if not numbered[p]]
    if missing:
        raise ValueError(
            f"{path}: line 1: missing header column(s) {', '.join(missing)} "
            f"(found {', '.join(header)})"
        )
    names: list[list[str]] = []
    for prefix in ("x", "y"):
        ordered = sorted(numbered[prefix])
        for expected, (k, col) in enumerate(ordered, start=1):
            if k != expected:
                raise ValueError(
                    f"{path}: line 1: column {prefix}{expected} is missing "
                    f"(found {col} among {len(ordered)} {prefix} columns)"
                )
        names.append([col for _, col in ordered])
    return names[0], names[1]


def _parse_block(
    path: Path,
    header: list[str],
    feature_names: list[str],
    label_names: list[str],
    first: int,
    lines: list[str],
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse and check a block of body lines, the first of them numbered ``first``.

    Returns the stripped names, the steps ``t`` (int64), the features and the labels
    (float64, columns in the order of the names given) and the line numbers (int64).
    ``t`` is read as int64 by NumPy; only when that fails is it read as text and parsed
    by :func:`_step` (e.g. ``3.0``). Raises ValueError at the block's first bad line (see
    :func:`_diagnose`).
    """
    types = {"name": object, "t": np.int64}
    try:
        table = _loadtxt(lines, [(col, types.get(col, np.float64)) for col in header])
        steps = table["t"]
    except ValueError:
        types["t"] = object
        try:
            table = _loadtxt(lines, [(col, types.get(col, np.float64)) for col in header])
            steps = np.array([_step(value) for value in table["t"]], dtype=np.int64)
        except ValueError:
            _diagnose(path, header, first, lines)
    names = [value.strip() for value in table["name"]]
    features = np.column_stack([table[col] for col in feature_names])
    labels = np.column_stack([table[col] for col in label_names])
    finite = np.isfinite(features).all() and np.isfinite(labels).all()
    if len(table) != len(lines) or not all(names) or not finite:
        _diagnose(path, header, first, lines)
    numbers = np.arange(first, first + len(lines), dtype=np.int64)
    return names, steps, features, labels, numbers


def _step(raw: str) -> int:
    """Parse a step index ``t``: an integer, or an integral decimal, in the int64 range.

    Exact for every form (no detour through float): ``9007199254740993.0`` is that
    integer and ``1e-400`` is not an integer.
    """
    value = raw.strip()
    if not (_INTEGER.fullmatch(value) or _DECIMAL.fullmatch(value)):
        raise ValueError(f"step index t must be an integer, found {raw!r}")
    number = Decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"step index t must be an integer, found {raw!r}")
    if not _INT64.min <= number <= _INT64.max:
        raise ValueError(f"step index t={value} lies outside the int64 range")
    return int(number)


def _number(raw: str) -> float:
    """Parse one numeric value as :func:`_loadtxt` does; ValueError if it is not one."""
    try:
        parsed = _loadtxt([raw], np.float64)
    except ValueError:
        parsed = np.empty(0)
    if parsed.shape != (1,):
        raise ValueError(f"not a number: {raw!r}")
    if not np.isfinite(parsed[0]):
        raise ValueError(f"not a finite number: {raw!r}")
    return float(parsed[0])


def _diagnose(path: Path, header: list[str], first: int, lines: list[str]) -> NoReturn:
    """Examine ``lines`` (numbered from ``first``) one by one; raise ValueError at the first
    problem.

    Slow (a Python loop over fields): used only once the block is known to be bad.
    """
    for number, text in enumerate(lines, start=first):
        where = f"{path}: line {number}"
        fields = _fields(text)
        if len(fields) != len(header):
            raise ValueError(
                f"{where}: expected {len(header)} fields (as in the header), found {len(fields)}"
            )
        for position, (col, raw) in enumerate(zip(header, fields, strict=True), start=1):
            at = f"{where}, column {position} ({col})"
            if not raw.strip():
                raise ValueError(f"{at}: empty value")
            try:
                if col == "t":
                    _step(raw)
                elif col != "name":
                    _number(raw)
            except ValueError as exc:
                raise ValueError(f"{at}: {exc}") from None
    raise ValueError(
        f"{path}: lines {first}-{first + len(lines) - 1}: could not be parsed as "
        f"{len(header)} comma-separated fields"
    )


# ---------------------------------------------------------------------------- writing


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


# ---------------------------------------------------------------------------- class labels


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


# ---------------------------------------------------------------------------- splitting


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


# ---------------------------------------------------------------------------- padding


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
    padded[mask] = np.concatenate(arrays)
    return padded, mask

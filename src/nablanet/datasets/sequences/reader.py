"""Reading sequences: a sequence CSV file (:func:`read_sequence_csv`), in chunks of
whole sequences (:func:`read_sequence_chunks`), or a long-format pandas/polars DataFrame
(:func:`read_sequence_frame`) into a :class:`SequenceData`, by one parser and its checks.

Parsing is done by NumPy: the file is split into lines by Python's universal-newline
rule, and the fields of every line, header and body, are split and converted by
:func:`numpy.loadtxt` (a C parser) in blocks of about 4 MiB. When a block fails a check,
that block alone is examined line by line, by the same rules, to name the first bad
line and column.
"""

from __future__ import annotations

import codecs
import io
import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import NoReturn, TextIO

import numpy as np
from numpy.typing import DTypeLike

from nablanet.datasets.sequences.data import SequenceData

logger = logging.getLogger(__name__)

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
    blocks = _blocks(path, lambda: path.open(encoding="utf-8-sig"))
    header, feature_names, label_names = _header(path, blocks)
    finished = _FinishedNames(path)
    carry: _Rows | None = None  # the rows of the last sequence, which may go on
    for block in blocks:
        rows = _parse_block(path, header, feature_names, label_names, *block)
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
    blocks = _blocks(path, open_text)
    header, feature_names, label_names = _header(path, blocks)
    parsed = [_parse_block(path, header, feature_names, label_names, *block) for block in blocks]
    if not parsed:
        raise ValueError(f"{path}: no data rows after the header (line 1)")
    data = _assemble(path, header, feature_names, label_names, _join(parsed))
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
    checked by :func:`_check_header`."""
    first = next(blocks, None)
    if first is None:
        raise ValueError(f"{path}: line 1: empty file, {_HEADER_HINT}")
    header = [name.strip() for name in _fields(first[1][0])]
    return header, *_check_header(path, header)


def _rows(rows: _Rows, part: slice) -> _Rows:
    """The rows ``part`` of ``rows``."""
    return rows[0][part], *(array[part] for array in rows[1:])  # type: ignore[return-value]


def _join(parts: list[_Rows]) -> _Rows:
    """The rows of ``parts`` (from :func:`_parse_block`) one after the other."""
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
    missing += [] if numbered["x"] else ["x1"]  # label columns are optional (new data)
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
    labels = (np.column_stack([table[col] for col in label_names]) if label_names
              else np.empty((len(table), 0)))
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

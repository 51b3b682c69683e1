"""Parsing sequence CSV text: blocks of lines (:func:`read_blocks`, about ``_CHUNK``
characters at a time, quotes and UTF-8 checked), the header (:func:`check_header`), a
block's fields converted by :func:`numpy.loadtxt` (:func:`parse_block`), and, when a block
fails a check, the line-by-line diagnosis that names the first bad line and column.

The readers of :mod:`nablanet.datasets.sequences.reader` assemble what this module parses
into sequences.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import NoReturn, TextIO

import numpy as np
from numpy.typing import DTypeLike

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


def read_blocks(path, open_text: Callable[[], TextIO]) -> Iterator[tuple[int, list[str]]]:
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


def split_fields(text: str) -> list[str]:
    """Split one line into its fields (unquoted, spaces and NUL characters kept)."""
    return [str(value) for value in _loadtxt([text], object)]


def check_header(path: Path, header: list[str]) -> tuple[list[str], list[str]]:
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


def parse_block(
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
        fields = split_fields(text)
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

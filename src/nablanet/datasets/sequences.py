"""Sequence CSV files: reading, writing, min-max scaling, splitting and padding.

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
* Header names and values may be quoted. Every value must be present and finite.

The seed names its columns ``"id","t","f1",...,"l1",...``; we use ``name``, ``x<k>``
and ``y<k>``, the names of the converted data sets in :mod:`nablanet.datasets.convert`.

Parsing is done by polars with an explicit schema (no Python loop over rows). Only when
that fails, or a check on the parsed table fails, is the file read a second time with
the :mod:`csv` module to report the first problem with its line and column.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
import polars as pl

from nablanet.atomic import atomic_output

logger = logging.getLogger(__name__)

__all__ = [
    "MinMaxScaler",
    "SequenceData",
    "pad",
    "read_sequence_csv",
    "train_test_split",
    "write_sequence_csv",
]

_NUMBERED = re.compile(r"([xy])([1-9][0-9]*)")


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
    source : pathlib.Path or None
        File the data was read from, if any.
    times : list of numpy.ndarray, optional
        The ``t`` value of each step, int64 ``(T_i,)``, sorted; default ``0..T_i-1``.

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
    source: Path | None = field(default=None)
    times: list[np.ndarray] | None = field(default=None)

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.features) == len(self.labels):
            raise ValueError(
                f"SequenceData: names, features and labels must have one entry per "
                f"sequence; found {len(self.names)}, {len(self.features)} and "
                f"{len(self.labels)}"
            )
        if self.times is None:
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
        )


# ---------------------------------------------------------------------------- reading


def read_sequence_csv(path: str | os.PathLike) -> SequenceData:
    """Read a sequence CSV file (``name,t,x1..xF,y1..yL``) into a :class:`SequenceData`.

    Parameters
    ----------
    path : str or path-like
        The CSV file, UTF-8 (a byte-order mark is accepted).

    Returns
    -------
    SequenceData
        Sequences in order of first appearance of their ``name``; steps sorted by ``t``;
        features ``(T_i, F)`` and labels ``(T_i, L)`` as float64.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty or has no data rows; if the header lacks ``name``, ``t``,
        an ``x<k>`` or a ``y<k>`` column, repeats a column, has an unknown column or a
        gap in the numbering of ``x<k>``/``y<k>``; if a line has the wrong number of
        fields, an empty, non-numeric or non-finite value, or a ``t`` that is not an
        integer or repeats within a sequence. The message names the file, the 1-based
        line number (the header is line 1) and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sequence CSV file not found: {path}")
    start = time.perf_counter()
    header = _read_header(path)
    feature_names, label_names = _check_header(path, header)

    schema = {col: (pl.String if col == "name" else pl.Float64) for col in header}
    try:
        df = pl.read_csv(path, schema=schema, has_header=False, skip_rows=1)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        _diagnose(path, header, f"could not parse the file: {str(exc).splitlines()[0]}")
    if df.height == 0:
        raise ValueError(f"{path}: no data rows after the header (line 1)")

    # Nulls (empty or missing fields) read as NaN in the numeric arrays.
    names = df["name"].str.strip_chars()
    t = df["t"].to_numpy()
    features = df.select(feature_names).to_numpy()
    labels = df.select(label_names).to_numpy()
    finite = all(np.isfinite(a).all() for a in (t, features, labels))
    if names.null_count() or (names == "").any() or not finite or np.any(t != np.round(t)):
        _diagnose(path, header, "invalid value (missing, empty, non-finite or bad t)")

    # Sequence key: the row where its name first appears. Order rows by (key, t),
    # skipping the reordering when the file is already in that order.
    first = (
        pl.DataFrame({"name": names})
        .with_row_index("first")
        .select(pl.col("first").min().over("name"))["first"]
        .to_numpy()
    )
    if not np.all((first[1:] > first[:-1]) | ((first[1:] == first[:-1]) & (t[1:] > t[:-1]))):
        order = np.lexsort((t, first))
        first, t, features, labels = first[order], t[order], features[order], labels[order]
        same_seq = first[1:] == first[:-1]
        if np.any(same_seq & (t[1:] == t[:-1])):
            _diagnose(path, header, "duplicate step t within a sequence")
    starts = np.flatnonzero(np.diff(first, prepend=-1))
    data = SequenceData(
        names=names.gather(first[starts]).to_list(),
        features=np.split(np.ascontiguousarray(features, dtype=np.float64), starts[1:]),
        labels=np.split(np.ascontiguousarray(labels, dtype=np.float64), starts[1:]),
        feature_names=feature_names,
        label_names=label_names,
        source=path,
        times=np.split(t.astype(np.int64), starts[1:]),
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


def _read_header(path: Path) -> list[str]:
    """Return the stripped column names of line 1, or raise ValueError if empty."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise ValueError(f"{path}: line 1: empty file, expected a header 'name,t,x1,...,y1,...'")
    return [name.strip() for name in header]


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


def _diagnose(path: Path, header: list[str], reason: str) -> NoReturn:
    """Re-read ``path`` with the csv module and raise ValueError at its first problem.

    Slow (a Python loop over rows): used only once the fast path has found the file bad.
    If this pass finds nothing, the error gives the fast path's ``reason``.
    """
    n_columns = len(header)
    i_name, i_t = header.index("name"), header.index("t")
    steps_seen: dict[str, set[int]] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            if not row:
                raise ValueError(f"{where}: blank line (every line must hold one step)")
            if len(row) != n_columns:
                raise ValueError(
                    f"{where}: expected {n_columns} fields (as in the header), found {len(row)}"
                )
            for position, (col, raw) in enumerate(zip(header, row, strict=True), start=1):
                value = raw.strip()
                at = f"{where}, column {position} ({col})"
                if not value:
                    raise ValueError(f"{at}: empty value")
                if col == "name":
                    continue
                try:
                    number = float(value)
                except ValueError:
                    raise ValueError(f"{at}: not a number: {raw!r}") from None
                if not math.isfinite(number):
                    raise ValueError(f"{at}: not a finite number: {raw!r}")
                if col == "t" and not number.is_integer():
                    raise ValueError(f"{at}: step index t must be an integer, found {raw!r}")
            name, step = row[i_name].strip(), int(float(row[i_t]))
            steps = steps_seen.setdefault(name, set())
            if step in steps:
                raise ValueError(
                    f"{where}, column {i_t + 1} (t): duplicate step t={step} in sequence {name!r}"
                )
            steps.add(step)
    raise ValueError(f"{path}: {reason}")


# ---------------------------------------------------------------------------- writing


def write_sequence_csv(data: SequenceData, path: str | os.PathLike) -> Path:
    """Write ``data`` as a sequence CSV file ``name,t,x1..xF,y1..yL``, atomically.

    Steps carry their ``times`` as ``t``. Floats are written in their shortest
    round-trip form, so :func:`read_sequence_csv` gives back the same values exactly.

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
    lengths = data.lengths
    steps = np.concatenate(data.times) if len(data) else np.empty(0, dtype=np.int64)
    columns = {
        "name": pl.Series(data.names, dtype=pl.String).gather(
            np.repeat(np.arange(len(data)), lengths)
        ),
        "t": steps,
    }
    for prefix, arrays, width in (
        ("x", data.features, data.n_features),
        ("y", data.labels, data.n_labels),
    ):
        block = np.concatenate(arrays) if arrays else np.empty((0, width))
        columns.update({f"{prefix}{k + 1}": block[:, k] for k in range(width)})
    with atomic_output(path) as tmp:
        pl.DataFrame(columns).write_csv(tmp)
    logger.info("wrote %d sequences to %s", len(data), path)
    return path


# ---------------------------------------------------------------------------- scaling


class MinMaxScaler:
    """Min-max scaling of each feature and each label column to ``[0, 1]``.

    ``x' = (x - min) / (max - min)``, with ``min``/``max`` taken per column over every
    step of every sequence passed to :meth:`fit`. A constant column (``max == min``)
    maps to 0 instead of dividing by zero, and maps back to its constant.

    Fit on the training sequences only. The seed (``Dataset::normalize``) scales with
    the minimum and maximum of the whole file before splitting, which leaks the test
    sequences into training; here test values outside the training range simply map
    outside ``[0, 1]``.

    Attributes
    ----------
    feature_min, feature_max : numpy.ndarray, shape ``(F,)``, float64
    label_min, label_max : numpy.ndarray, shape ``(L,)``, float64
        Set by :meth:`fit` or :meth:`from_dict`; ``None`` before.
    """

    def __init__(self) -> None:
        self.feature_min: np.ndarray | None = None
        self.feature_max: np.ndarray | None = None
        self.label_min: np.ndarray | None = None
        self.label_max: np.ndarray | None = None

    def fit(self, data: SequenceData) -> MinMaxScaler:
        """Compute per-column minima and maxima over all steps of ``data``.

        Parameters
        ----------
        data : SequenceData
            The training sequences (at least one step).

        Returns
        -------
        MinMaxScaler
            ``self``.

        Raises
        ------
        ValueError
            If ``data`` holds no step.
        """
        if len(data) == 0 or data.lengths.sum() == 0:
            raise ValueError("MinMaxScaler.fit: data holds no sequence step to fit on")
        features = np.concatenate(data.features)
        labels = np.concatenate(data.labels)
        self.feature_min, self.feature_max = features.min(axis=0), features.max(axis=0)
        self.label_min, self.label_max = labels.min(axis=0), labels.max(axis=0)
        return self

    def transform(self, data: SequenceData) -> SequenceData:
        """Scale features and labels of ``data``.

        Parameters
        ----------
        data : SequenceData
            Sequences with the fitted number of features F and labels L.

        Returns
        -------
        SequenceData
            A new object with new float64 arrays; ``data`` is unchanged.

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        ValueError
            If F or L differ from the fitted ones.
        """
        self._check_fitted()
        scaled = []
        for arrays, lo, hi, what in (
            (data.features, self.feature_min, self.feature_max, "features"),
            (data.labels, self.label_min, self.label_max, "labels"),
        ):
            block = np.concatenate(arrays) if arrays else np.empty((0, lo.size))
            self._check_width(block, lo, what)
            scale = _inverse_range(lo, hi)
            scaled.append(_split((block - lo) * scale, data.lengths))
        return SequenceData(
            names=list(data.names),
            features=scaled[0],
            labels=scaled[1],
            feature_names=list(data.feature_names),
            label_names=list(data.label_names),
            source=data.source,
            times=data.times,
        )

    def inverse_transform_features(self, x: np.ndarray) -> np.ndarray:
        """Map scaled features back to the original units.

        Parameters
        ----------
        x : numpy.ndarray, shape ``(..., F)``
            Scaled features, e.g. one sequence ``(T, F)`` or a padded batch
            ``(n, T, F)``.

        Returns
        -------
        numpy.ndarray, shape ``(..., F)``, float64

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        ValueError
            If the last axis of ``x`` is not F.
        """
        self._check_fitted()
        return self._inverse(x, self.feature_min, self.feature_max, "features")

    def inverse_transform_labels(self, y: np.ndarray) -> np.ndarray:
        """Map scaled labels (e.g. predictions) back to the original units.

        Parameters
        ----------
        y : numpy.ndarray, shape ``(..., L)``
            Scaled labels or predictions, e.g. ``(n, L)``, ``(T, L)`` or ``(n, T, L)``.

        Returns
        -------
        numpy.ndarray, shape ``(..., L)``, float64

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        ValueError
            If the last axis of ``y`` is not L.
        """
        self._check_fitted()
        return self._inverse(y, self.label_min, self.label_max, "labels")

    def to_dict(self) -> dict[str, list[float]]:
        """Return the fitted parameters as plain lists (JSON-ready, to save with a model).

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        """
        self._check_fitted()
        return {
            "feature_min": self.feature_min.tolist(),
            "feature_max": self.feature_max.tolist(),
            "label_min": self.label_min.tolist(),
            "label_max": self.label_max.tolist(),
        }

    @classmethod
    def from_dict(cls, params: dict[str, list[float]]) -> MinMaxScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If a key is missing or the minima and maxima differ in length.
        """
        keys = ("feature_min", "feature_max", "label_min", "label_max")
        missing = [k for k in keys if k not in params]
        if missing:
            raise ValueError(f"MinMaxScaler.from_dict: missing key(s) {', '.join(missing)}")
        arrays = [np.asarray(params[k], dtype=np.float64).reshape(-1) for k in keys]
        if arrays[0].size != arrays[1].size or arrays[2].size != arrays[3].size:
            raise ValueError(
                "MinMaxScaler.from_dict: minima and maxima must have the same length; found "
                + ", ".join(f"{k}={a.size}" for k, a in zip(keys, arrays, strict=True))
            )
        scaler = cls()
        scaler.feature_min, scaler.feature_max, scaler.label_min, scaler.label_max = arrays
        return scaler

    def _check_fitted(self) -> None:
        if self.feature_min is None:
            raise RuntimeError("MinMaxScaler is not fitted: call fit() or from_dict() first")

    @staticmethod
    def _check_width(x: np.ndarray, lo: np.ndarray, what: str) -> None:
        if x.ndim == 0 or x.shape[-1] != lo.size:
            raise ValueError(
                f"MinMaxScaler: expected {what} with last axis {lo.size}, found shape {x.shape}"
            )

    def _inverse(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        self._check_width(x, lo, what)
        return x * (hi - lo) + lo


def _split(block: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Cut ``block`` (rows of consecutive sequences) into views of the given lengths."""
    return np.split(block, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _inverse_range(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``1 / (hi - lo)`` per column, 0 where the column is constant."""
    span = hi - lo
    return np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)


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
    arrays: Sequence[np.ndarray], *, n_steps: int | None = None, dtype=np.float64
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

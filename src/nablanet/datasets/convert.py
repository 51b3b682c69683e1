"""Convert public sequence data sets into the sequence CSV format (``name,t,x1..,y1..``).

Used by ``nablanet data convert``. The source data sets ship inside optional packages
(``pip install 'nablanet[data]'``), so no network access is needed:

* JapaneseVowels (UEA/UCR archive; Kudo, Toyama & Shimbo, 1999), the ``.ts`` files
  bundled in the ``aeon`` wheel under ``aeon/datasets/data/JapaneseVowels/``;
* El Niño monthly sea-surface temperatures 1950–2010, ``statsmodels.datasets.elnino``.

Each converter writes a training and a test file with
:func:`~nablanet.datasets.sequences.write_sequence_csv` (atomic: temporary name, then
rename) and returns their paths.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from nablanet.datasets.sequences import SequenceData, write_sequence_csv

logger = logging.getLogger(__name__)

__all__ = ["convert_elnino", "convert_japanese_vowels"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _require(module: str, package: str) -> Any:
    """Import ``module`` or raise ImportError telling how to install ``package``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this data set needs the optional package {package!r}: pip install 'nablanet[data]'"
        ) from exc


def convert_japanese_vowels(out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write JapaneseVowels as ``japanese_vowels_train.csv`` and ``japanese_vowels_test.csv``.

    Nine male speakers say the vowels /ae/; each utterance is a sequence of 7–29 frames
    of 12 LPC cepstrum coefficients, and the task is to name the speaker. The standard
    split has 270 training and 370 test utterances.

    Columns: ``x1..x12`` the coefficients of each frame; ``y1`` the speaker as a class
    index 0..8 (the archive's labels "1".."9" minus one), repeated at every step, so a
    many-to-one model reads it at the last step. Sequences are named ``train_0001``,
    ``test_0001``, ... in archive order.

    Parameters
    ----------
    out_dir : str or path-like
        Output directory, created if missing.

    Returns
    -------
    train_csv, test_csv : pathlib.Path

    Raises
    ------
    ImportError
        If ``aeon`` is not installed.
    FileNotFoundError
        If the installed ``aeon`` does not bundle the JapaneseVowels files.
    """
    datasets = _require("aeon.datasets", "aeon")
    source = Path(datasets.__file__).parent / "data" / "JapaneseVowels"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split in ("train", "test"):
        ts_file = source / f"JapaneseVowels_{split.upper()}.ts"
        if not ts_file.is_file():
            raise FileNotFoundError(f"JapaneseVowels file not found in the aeon package: {ts_file}")
        # Unequal lengths: a list of (n_channels, n_timepoints) arrays, string labels.
        series, classes = datasets.load_from_ts_file(str(ts_file))
        features = [np.ascontiguousarray(x.T, dtype=np.float64) for x in series]
        labels = [
            np.full((len(x), 1), int(c) - 1, dtype=np.float64)
            for x, c in zip(features, classes, strict=True)
        ]
        data = SequenceData(
            names=[f"{split}_{i:04d}" for i in range(1, len(features) + 1)],
            features=features,
            labels=labels,
            feature_names=[f"x{k}" for k in range(1, features[0].shape[1] + 1)],
            label_names=["y1"],
            source=ts_file,
        )
        written.append(write_sequence_csv(data, out_dir / f"japanese_vowels_{split}.csv"))
    return written[0], written[1]


def convert_elnino(
    out_dir: str | os.PathLike, *, window: int = 12, test_years: int = 10
) -> tuple[Path, Path]:
    """Write El Niño windows as ``elnino_train.csv`` and ``elnino_test.csv``.

    The monthly sea-surface temperatures (°C, Niño 1+2 region, 1950–2010) are read as one
    series of 732 months. Every run of ``window`` consecutive months is a sequence:
    ``x1`` at step ``t`` is the temperature of month ``s + t`` and ``y1`` the
    temperature of the next month ``s + t + 1`` (one-step-ahead forecasting, many to
    many; the last step's label is the month after the window, for many to one).
    Sequences are named by their first month, ``1950-01``.

    A window goes to the test file if its last target month falls in the final
    ``test_years`` years (the held-out years), and to the training file otherwise. So
    every target of every training window precedes the held-out years, while the
    earlier steps of a test window may read (and target) months before them, as a
    forecaster's recent history would.

    Parameters
    ----------
    out_dir : str or path-like
        Output directory, created if missing.
    window : int
        Steps per sequence, in months (at least 1).
    test_years : int
        Number of final years whose months are the test targets (at least 1).

    Returns
    -------
    train_csv, test_csv : pathlib.Path

    Raises
    ------
    ImportError
        If ``statsmodels`` is not installed.
    ValueError
        If ``window`` or ``test_years`` is below 1, or leaves the training or the test
        file empty.
    """
    elnino = _require("statsmodels.datasets.elnino", "statsmodels")
    table = elnino.load().data
    temperature = np.asarray(table[list(_MONTHS)], dtype=np.float64).reshape(-1)
    first_year = int(table["YEAR"].iloc[0])
    n_months = temperature.size
    test_start = n_months - 12 * test_years
    n_windows = n_months - window
    if window < 1 or test_years < 1 or window >= test_start:
        raise ValueError(
            f"convert_elnino: window={window} months and test_years={test_years} do not "
            f"leave both training and test windows in {n_months} months; expected "
            f"window >= 1, test_years >= 1 and window + 12 * test_years < {n_months}"
        )
    starts = np.arange(n_windows)
    steps = starts[:, None] + np.arange(window)
    names = [_month(first_year, s) for s in starts.tolist()]
    is_test = starts + window >= test_start
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, rows in (("train", ~is_test), ("test", is_test)):
        data = SequenceData(
            names=[n for n, keep in zip(names, rows, strict=True) if keep],
            features=list(temperature[steps[rows], None]),
            labels=list(temperature[steps[rows] + 1, None]),
            feature_names=["x1"],
            label_names=["y1"],
        )
        written.append(write_sequence_csv(data, out_dir / f"elnino_{split}.csv"))
    logger.info(
        "El Niño: %d training and %d test windows of %d months (test targets from %s)",
        int((~is_test).sum()),
        int(is_test.sum()),
        window,
        _month(first_year, test_start),
    )
    return written[0], written[1]


def _month(first_year: int, index: int) -> str:
    """Name month ``index`` (0 = January of ``first_year``) as ``YYYY-MM``."""
    return f"{first_year + index // 12}-{index % 12 + 1:02d}"

"""Preprocessing of sequence data: min-max scaling of features and labels.

:class:`MinMaxScaler` scales each feature and label column of a
:class:`~nablanet.datasets.sequences.SequenceData` to ``[0, 1]`` with bounds fitted on the
training sequences, and maps scaled values (e.g. predictions) back to the original units.
Its bounds travel inside a model as scaling layers (:meth:`MinMaxScaler.feature_layer`,
:meth:`MinMaxScaler.label_layer`; :mod:`nablanet.layers.scaling`), so that the model takes
raw features and gives outputs in the data's units.
"""

from __future__ import annotations

import warnings

import numpy as np

from nablanet.datasets.sequences import SequenceData
from nablanet.layers.scaling import MinMaxScaling

__all__ = ["MinMaxScaler"]


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
        feature_min, feature_max, label_min, label_max = self._fitted()
        scaled = []
        for arrays, lo, hi, what in (
            (data.features, feature_min, feature_max, "features"),
            (data.labels, label_min, label_max, "labels"),
        ):
            block = np.concatenate(arrays) if arrays else np.empty((0, lo.size))
            self._check_width(block, lo, what)
            block = block.astype(np.float64, copy=False)
            block -= lo  # in place: one copy of the data, (x - min) * scale as written
            block *= _inverse_range(lo, hi)
            scaled.append(_split(block, data.lengths))
        return SequenceData(
            names=list(data.names),
            features=scaled[0],
            labels=scaled[1],
            feature_names=list(data.feature_names),
            label_names=list(data.label_names),
            source=data.source,
            times=data.times,
            lines=data.lines,
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
        feature_min, feature_max, _, _ = self._fitted()
        return self._inverse(x, feature_min, feature_max, "features")

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
        _, _, label_min, label_max = self._fitted()
        return self._inverse(y, label_min, label_max, "labels")

    def feature_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(offset, scale)`` of the feature transform ``(x - offset) * scale``, each
        ``(F,)`` float64.

        Deprecated (a DeprecationWarning; removed in the next release): the scaling is
        a layer of the model now, :meth:`feature_layer` (its ``minimum`` and ``scale``).

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        """
        warnings.warn("MinMaxScaler.feature_affine() is deprecated: use feature_layer() "
                      "(a model's input_scaling; its minimum and scale)", DeprecationWarning,
                      stacklevel=2)
        layer = self.feature_layer()
        return layer.minimum, layer.scale

    def feature_layer(self) -> MinMaxScaling:
        """The feature scaling as a layer, a model's ``input_scaling`` (same arithmetic
        as :meth:`transform`).

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        """
        feature_min, feature_max, _, _ = self._fitted()
        return MinMaxScaling(feature_min, feature_max)

    def label_layer(self) -> MinMaxScaling:
        """The inverse label scaling as a layer, a regression model's ``output_scaling``
        (same arithmetic as :meth:`inverse_transform_labels`).

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        """
        _, _, label_min, label_max = self._fitted()
        return MinMaxScaling(label_min, label_max, inverse=True)

    def to_dict(self) -> dict[str, list[float]]:
        """Return the fitted parameters as plain lists (JSON-ready, to save with a model).

        Raises
        ------
        RuntimeError
            If the scaler is not fitted.
        """
        keys = ("feature_min", "feature_max", "label_min", "label_max")
        return {key: bound.tolist() for key, bound in zip(keys, self._fitted(), strict=True)}

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

    def _fitted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(feature_min, feature_max, label_min, label_max)``.

        Raises RuntimeError if the scaler is not fitted.
        """
        lo, hi, label_lo, label_hi = (
            self.feature_min,
            self.feature_max,
            self.label_min,
            self.label_max,
        )
        if lo is None or hi is None or label_lo is None or label_hi is None:
            raise RuntimeError("MinMaxScaler is not fitted: call fit() or from_dict() first")
        return lo, hi, label_lo, label_hi

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

"""Scoring new sequences with a model trained by ``nablanet rnn train``: the model (which
carries its min-max scaling, :mod:`nablanet.layers.scaling`) with what the command saved
beside it (the task, the decision threshold and the column names), and the rows ``rnn
predict`` writes, computed for any table of whole sequences.

:class:`SequenceScorer` is that scorer; :meth:`SequenceScorer.score` is the work of one
chunk of sequences, so a streamed or distributed driver calls it chunk by chunk and
writes each chunk's rows with :func:`write_rows`: the rows of the chunks, concatenated,
are the rows of the whole.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from nablanet.datasets.sequences import SequenceData, pad
from nablanet.models.recurrent import RecurrentNetwork
from nablanet.preprocessing import MinMaxScaler

__all__ = ["TASK_ACTIVATIONS", "SequenceScorer", "check_threshold", "upgrade_scaling",
           "write_rows"]

#: the tasks of ``rnn train`` and the output activation of each
TASK_ACTIVATIONS = {"binary": "sigmoid", "multiclass": "softmax", "regression": "identity"}

#: the fields ``rnn train`` saves in a model file's command-line section (earlier
#: releases saved a ``scaler`` too: see :func:`upgrade_scaling`)
RECORD_FIELDS = ("task", "threshold", "feature_names", "label_names")


def upgrade_scaling(model: RecurrentNetwork, record: dict) -> None:
    """Give ``model``, from a file of an earlier release, the min-max scaling that the
    file's command-line section holds (its ``scaler`` field; the model has no scaling
    layers): ``input_scaling`` for the features, for regression ``output_scaling``.
    Then ``model`` takes raw features and gives data units, as ``rnn predict`` did.

    Raises
    ------
    ValueError
        For a malformed ``scaler`` field, or one whose width differs from the model's.
    """
    if "scaler" not in record or model.input_scaling is not None:
        return
    scaler = MinMaxScaler.from_dict(record["scaler"])
    features, labels = scaler.feature_layer(), scaler.label_layer()
    if features.n_features != model.n_inputs:
        raise ValueError(f"{model.n_inputs} model inputs, {features.n_features} scaled "
                         f"features differ")
    model.input_scaling = features
    if record.get("task") == "regression":
        if labels.n_features != model.n_outputs:
            raise ValueError(f"{model.n_outputs} model outputs, {labels.n_features} scaled "
                             f"labels differ")
        model.output_scaling = labels


def check_threshold(task: str, threshold: float | None) -> float:
    """The decision threshold of ``task``: its default when None, else checked.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
    threshold : float or None
        binary: the output at or above which the label is 1, in ``[0, 1]`` (default
        0.5); regression: the relative tolerance of the "within threshold" metric,
        finite and ``>= 0`` (default 0.1); multiclass: none (the largest output wins).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Naming the task and the value: out of range, or given for multiclass.
    """
    if threshold is None:
        return 0.1 if task == "regression" else 0.5
    if task == "binary" and not 0 <= threshold <= 1:
        raise ValueError(f"--task binary: expected a decision threshold in [0, 1], got "
                         f"{threshold:g}")
    if task == "regression" and not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"--task regression: expected a relative tolerance >= 0, got "
                         f"{threshold:g}")
    if task == "multiclass":
        raise ValueError("--task multiclass has no threshold (the predicted class is the "
                         "largest output)")
    return float(threshold)


@dataclass
class SequenceScorer:
    """A recurrent model and what scoring raw sequences with it needs.

    Parameters
    ----------
    model : RecurrentNetwork
        The trained model.
    task : {"binary", "multiclass", "regression"}
        What the outputs mean (see :meth:`score`).
    threshold : float
        binary: the decision threshold on the score; regression: the relative tolerance
        of evaluation (not used for scoring); multiclass: 0.5, unused.
    feature_names : list of str
        The model's input columns ``x1..xF``, in order.
    label_names : list of str
        The label columns of the training data (``y1..yL``): the names of the
        regression outputs.

    Notes
    -----
    Plain data (arrays, lists, a model): picklable, so a distributed driver sends it to
    each worker once.
    """

    model: RecurrentNetwork
    task: str
    threshold: float
    feature_names: list[str]
    label_names: list[str]

    @classmethod
    def load(cls, path: str | os.PathLike[str], *,
             threshold: float | None = None) -> SequenceScorer:
        """The scorer of a model file saved by ``nablanet rnn train --model-out``.

        Parameters
        ----------
        path : str or path-like
        threshold : float, optional
            Replaces the saved threshold (checked by :func:`check_threshold`).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file holds no recurrent model, was not saved by ``rnn train`` (no
            command-line fields), or a field is malformed; the message names the file
            and the field. Also for a bad ``threshold``.

        Notes
        -----
        A file of an earlier release keeps the min-max scaler in its command-line
        section: the scorer's model gets it as scaling layers (:func:`upgrade_scaling`),
        so it scores as it did.
        """
        from nablanet.serialization import load, read_cli

        model = load(path, expect=RecurrentNetwork)
        record = read_cli(path)
        missing = [k for k in RECORD_FIELDS if k not in record]
        if missing:
            raise ValueError(f"{path}: not saved by 'nablanet rnn train' (no {missing})")
        task = record["task"]
        if task not in TASK_ACTIVATIONS:
            raise ValueError(f"{path}: field 'task': expected one of {list(TASK_ACTIVATIONS)}, "
                             f"found {task!r}")
        saved = record["threshold"]
        try:
            if not isinstance(saved, int | float) or isinstance(saved, bool):
                raise ValueError(f"expected a number, found {saved!r}")
            saved = check_threshold(task, None if task == "multiclass" else saved)
            upgrade_scaling(model, record)
            names = {k: record[k] for k in ("feature_names", "label_names")}
            for key, value in names.items():
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise ValueError(f"{key}: expected a list of column names, found {value!r}")
            if len(names["feature_names"]) != model.n_inputs:
                raise ValueError(f"{model.n_inputs} model inputs, "
                                 f"{len(names['feature_names'])} feature names differ")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: bad CLI field ({exc})") from None
        if threshold is not None:
            saved = check_threshold(task, threshold)
        return cls(model, task, saved, names["feature_names"], names["label_names"])

    @property
    def record(self) -> dict:
        """The command-line fields as ``rnn train`` saves them (JSON-ready)."""
        return {"task": self.task, "threshold": self.threshold,
                "feature_names": list(self.feature_names),
                "label_names": list(self.label_names)}

    def check_features(self, feature_names: list[str], source) -> None:
        """Check that data with columns ``feature_names`` holds the model's features.

        Raises
        ------
        ValueError
            Naming ``source`` and the missing and the extra feature columns.
        """
        if list(feature_names) == list(self.feature_names):
            return
        missing = [c for c in self.feature_names if c not in feature_names]
        extra = [c for c in feature_names if c not in self.feature_names]
        found = [f"missing {', '.join(missing)}" if missing else "",
                 f"extra {', '.join(extra)}" if extra else ""]
        raise ValueError(f"{source}: the model takes the feature columns "
                         f"{self._span(self.feature_names)}; "
                         f"{'; '.join(f for f in found if f)}")

    @staticmethod
    def _span(names: list[str]) -> str:
        return f"{names[0]}..{names[-1]}" if len(names) > 2 else ", ".join(names)

    def columns(self, *, proba: bool = False) -> list[str]:
        """The header of :meth:`score`'s rows: ``name, t`` and the predictions.

        binary: ``score, label``; multiclass: ``label`` (and ``p0..p{K-1}`` with
        ``proba``); regression: the label names ``y1..yL``.

        Raises
        ------
        ValueError
            If ``proba`` is asked of a regression model.
        """
        if self.task == "regression":
            if proba:
                raise ValueError("--proba: a regression model has no class probabilities "
                                 "(its outputs are values)")
            return ["name", "t", *self.label_names]
        if self.task == "binary":
            return ["name", "t", "score", "label"]
        extra = [f"p{k}" for k in range(self.model.n_outputs)] if proba else []
        return ["name", "t", "label", *extra]

    def score(self, data: SequenceData, *, proba: bool = False) -> dict[str, np.ndarray]:
        """The prediction rows for the sequences of ``data``.

        Parameters
        ----------
        data : SequenceData
            Whole sequences with the model's feature columns (any label columns, in
            either layout, or none: they are ignored), in the data's units (the model
            scales them).
        proba : bool
            multiclass: add the probability of each class.

        Returns
        -------
        dict of str to ndarray
            :meth:`columns` to 1-D arrays of one length, in ``data``'s order: one row per
            step (``target="every"``) or per sequence (``target="last"``, ``t`` is its
            last step's). ``name`` object, ``t`` int64; ``score`` (the sigmoid output),
            ``p<k>`` (the softmax outputs) and regression values (in the data's units)
            float64; ``label`` int64, the class (binary: ``score >= threshold``).

        Raises
        ------
        ValueError
            If ``data`` lacks one of the model's feature columns or has others, or as
            :meth:`columns`.
        """
        header = self.columns(proba=proba)
        self.check_features(data.feature_names, data.source)
        model = self.model
        names = np.asarray(data.names, dtype=object)
        if not len(data):
            kinds = {"name": object, "t": np.int64, "label": np.int64}
            return {c: np.empty(0, dtype=kinds.get(c, np.float64)) for c in header}
        X, mask = pad(data.features, dtype=np.float64)  # the model scales, then casts
        out = model.predict_proba(X, mask)
        if model.target == "every":
            rows = {"name": np.repeat(names, mask.sum(axis=1)), "t": np.concatenate(data.times)}
            out = out[mask]
        else:
            rows = {"name": names, "t": np.array([times[-1] for times in data.times])}
        out = out.astype(np.float64, copy=False)
        if self.task == "regression":  # the model's outputs are in the data's units
            rows.update({c: out[:, k] for k, c in enumerate(self.label_names)})
        elif self.task == "binary":
            rows.update(score=out[:, 0], label=(out[:, 0] >= self.threshold).astype(np.int64))
        else:
            rows["label"] = out.argmax(axis=1)
            if proba:
                rows.update({f"p{k}": out[:, k] for k in range(out.shape[1])})
        return {c: rows[c] for c in header}


def write_rows(columns: dict[str, np.ndarray], file: TextIO, *, header: bool) -> int:
    """Write the rows of :meth:`SequenceScorer.score` as CSV text.

    Floats are written in their shortest round-trip form (:func:`repr`), so reading the
    file gives back the same values; lines end with ``\\n``; names are quoted where they
    hold a comma or a quote.

    Parameters
    ----------
    columns : dict of str to ndarray
        Column name to 1-D array, all of one length.
    file : text file
        Open for writing (``newline=""`` for a real file).
    header : bool
        Write the column names first (for the first chunk of a file).

    Returns
    -------
    int
        The rows written (not counting the header).
    """
    writer = csv.writer(file, lineterminator="\n")
    if header:
        writer.writerow(columns)
    values = [c.tolist() for c in columns.values()]
    writer.writerows(zip(*values, strict=True))
    return len(values[0]) if values else 0

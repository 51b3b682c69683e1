"""Per-row loss weights of training: the rows' own (None, or 0/1 on the labelled steps
of sequences) times ``sample_weight`` times the class weight of each row's target
class (a dict, or scikit-learn's ``"balanced"``), as ``fit``, ``gradients`` and
``loss_value`` of :class:`nablanet.models.sequential.Sequential` weigh the loss.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["class_weights", "loss_weights"]


def loss_weights(model, data: tuple, sample_weight, class_weight) -> np.ndarray | None:
    """The per-row loss weights of training: the rows' own (``data[2]``: None, or 0/1
    labelled steps) times ``sample_weight`` times the class weights of each row's
    target class. The very ``data[2]`` when neither is given.

    Raises
    ------
    ValueError
        Naming ``sample_weight`` or ``class_weight``: wrong shape, negative or
        non-finite values, unknown classes, a model that is not a classifier.
    """
    X, T, W = data
    if sample_weight is None and class_weight is None:
        return W
    rows = np.ones(len(X), dtype=model.dtype) if W is None else W.copy()
    if sample_weight is not None:
        sw: np.ndarray = np.asarray(sample_weight, dtype=model.dtype)
        if sw.shape not in {rows.shape, rows.shape[:1]}:
            raise ValueError(f"sample_weight: expected shape {rows.shape[:1]}"
                             f"{f' or {rows.shape}' if rows.ndim > 1 else ''}, "
                             f"got {sw.shape}")
        if not (np.isfinite(sw).all() and (sw >= 0).all()):
            raise ValueError("sample_weight: expected finite numbers >= 0")
        rows *= sw.reshape(sw.shape + (1,) * (rows.ndim - sw.ndim))
    if class_weight is not None:
        rows *= class_weights(model, T, W, class_weight)
    return rows


def class_weights(model, T: np.ndarray, W, class_weight) -> np.ndarray:
    """Each row's class weight (shape ``T.shape[:-1]``)."""
    k, head = T.shape[-1], model.output_activation.name
    if head == "softmax" or (head == "sigmoid" and k > 1 and (T.sum(axis=-1) == 1).all()):
        labels = T.argmax(axis=-1)  # one-hot rows (the book's sigmoid network too)
    elif head == "sigmoid" and k == 1:
        labels = (T[..., 0] >= 0.5).astype(np.int64)
        k = 2
    else:
        raise ValueError("class_weight: needs a classifier (softmax outputs, one "
                         "sigmoid output, or sigmoid outputs with one-hot targets), "
                         f"got {head} outputs")
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight: expected a dict or 'balanced', got "
                             f"{class_weight!r}")
        counted = labels if W is None else labels[W > 0]
        counts = np.bincount(counted.ravel(), minlength=k)
        present = counts > 0  # scikit-learn: n_samples / (n_classes * bincount)
        table = np.zeros(k)
        table[present] = counted.size / (present.sum() * counts[present])
    elif isinstance(class_weight, dict):
        table = np.ones(k)
        for label, weight in class_weight.items():
            if not (isinstance(label, int | np.integer) and 0 <= label < k):
                raise ValueError(f"class_weight: expected class labels 0..{k - 1}, "
                                 f"got {label!r}")
            if not (isinstance(weight, int | float) and math.isfinite(weight)
                    and weight >= 0):
                raise ValueError(f"class_weight[{label}]: expected a number >= 0, got "
                                 f"{weight!r}")
            table[label] = weight
    else:
        raise ValueError(f"class_weight: expected a dict or 'balanced', got "
                         f"{type(class_weight).__name__}")
    return table.astype(model.dtype)[labels]

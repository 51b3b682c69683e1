"""A model's metrics by its output head: the loss (mean per labelled sample or step),
then ``accuracy`` and ``correct`` for a classifier head (softmax or sigmoid; decided by
the model's ``_decide``) or ``rmse`` otherwise, and the extra metrics of
:mod:`nablanet.metrics` that fit the head (checked by name before training); and the
epoch line that shows them.

The model is a :class:`nablanet.models.sequential.Sequential`; ``fit`` and
``evaluate`` log what :func:`metric_logs` returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nablanet import metrics

__all__ = ["check_metric_names", "extra_metrics", "metric_logs", "metrics_line"]

_CLASSIFIERS = ("softmax", "sigmoid")


def check_metric_names(model, names: Sequence[str]) -> tuple[str, ...]:
    """``names`` checked against the scalar metrics :mod:`nablanet.metrics` gives for
    this model's head.

    Raises
    ------
    ValueError
        Naming an unknown metric and listing the available ones.
    """
    names = tuple(names)
    if names:
        probe = extra_metrics(model, np.array([[0.0, 1.0], [1.0, 0.0]]),
                              np.array([[0.0, 1.0], [1.0, 0.0]]), 0.5)
        scalar = sorted(k for k, v in probe.items() if isinstance(v, float | int | None)
                        and k not in ("n", "n_classes", "n_outputs", "threshold"))
        for name in names:
            if name not in scalar:
                raise ValueError(f"metrics: {name!r} is not a metric of this model; "
                                 f"available: {scalar}")
    return names


def extra_metrics(model, a: np.ndarray, T: np.ndarray, threshold: float) -> dict:
    """:mod:`nablanet.metrics`' report on labelled rows ``a``, ``T`` ``(m, k)``."""
    a, T = a.reshape(-1, a.shape[-1]), T.reshape(-1, T.shape[-1])
    if model.output_activation.name == "softmax":
        return metrics.multiclass_metrics(T.argmax(axis=-1), a.argmax(axis=-1),
                                          n_classes=a.shape[-1])
    if model.output_activation.name == "sigmoid":
        if a.shape[-1] != 1:
            a, T = a[:, :1], T[:, :1]
        return metrics.binary_classification_metrics(T[:, 0] >= 0.5, a[:, 0], threshold)
    return metrics.regression_metrics(T, a)


def metric_logs(model, data: tuple, prefix: str, threshold: float,
                extra: tuple[str, ...] = (), z: np.ndarray | None = None) -> dict:
    """The logs of ``model`` on ``data = (X, T, W)`` (see the module's docstring), each
    name prefixed with ``prefix`` (``"train_"``, ``"val_"``, ``""``); ``extra`` names the extra
    metrics (see :func:`check_metric_names`). ``z``: the outputs ``(n, *output_shape)``
    to score (the training pass's, recorded by ``fit``) instead of a forward pass over
    ``X``."""
    X, T, W = data
    if z is None:
        z, a = model._outputs(X)
    else:
        a = model.output_activation.forward(z, np.empty_like(z))
    if W is None:
        loss, rows = model.loss.value(z, a, T), len(X)
    else:  # the labelled rows only
        labelled = W > 0
        loss, rows = model.loss.value(z, a, T, labelled), int(labelled.sum())
        a, T = a[labelled], T[labelled]
    logs = {f"{prefix}loss": loss / rows}
    if model.output_activation.name in _CLASSIFIERS:
        hit = model._decide(a, threshold) == model._decide(T, 0.5)
        logs[f"{prefix}accuracy"] = float(hit.mean())
        logs[f"{prefix}correct"] = int(hit.reshape(len(hit), -1).all(axis=1).sum())
    else:
        logs[f"{prefix}rmse"] = float(np.sqrt(np.mean((a - T) ** 2)))
    if extra:
        report = extra_metrics(model, a, T, threshold)
        logs.update({f"{prefix}{name}": report[name] for name in extra})
    return logs


def metrics_line(logs: dict, epochs: int | None = None) -> str:
    """The per-epoch log line of every model kind, each value named as its key in the
    history without the ``train_`` prefix: the epoch (1-based, of ``epochs``), the
    training data's loss and accuracy (%) or RMSE, the same on the validation data
    (``val_``), and the epoch's training time, e.g. ``Epoch 3/10: loss 0.1389 | accuracy
    80.12% | val_loss 0.1502 | val_accuracy 82.45% | 1.21 s``.
    """
    parts = []
    for prefix, shown in (("train_", ""), ("val_", "val_")):
        if f"{prefix}loss" in logs:
            parts.append(f"{shown}loss {logs[f'{prefix}loss']:.4g}")
        if f"{prefix}accuracy" in logs:
            parts.append(f"{shown}accuracy {100 * logs[f'{prefix}accuracy']:.2f}%")
        elif f"{prefix}rmse" in logs:
            parts.append(f"{shown}rmse {logs[f'{prefix}rmse']:.4g}")
    parts.append(f"{logs['seconds']:.2f} s")
    of = "" if epochs is None else f"/{epochs}"
    return f"Epoch {logs['epoch']}{of}: " + " | ".join(parts)

"""Learning curves and confusion matrices drawn to PNG files with matplotlib.

matplotlib is an optional extra (``pip install 'nablanet[plot]'``); it is imported only
when a plot is asked for, with the non-interactive Agg backend.
"""

from __future__ import annotations

import numpy as np

from nablanet.atomic import atomic_output
from nablanet.training import History

__all__ = ["draw_confusion_matrix", "plot_training", "require_matplotlib"]


def require_matplotlib():
    """Import matplotlib with the Agg backend and return ``pyplot``.

    Raises
    ------
    ImportError
        If matplotlib is not installed (with the command that installs it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'nablanet[plot]'") from None
    return plt


def plot_training(path, history: History, y_true=None, y_pred=None,
                  class_names=None) -> None:
    """Draw the per-epoch losses and accuracies (or RMSE) of ``history`` and, when
    ``y_true``/``y_pred`` (int class labels ``(n,)``) are given, the confusion matrix
    (see :func:`draw_confusion_matrix`; ``class_names`` label its classes).

    The PNG is written to a temporary name and renamed.

    Raises
    ------
    ImportError
        If matplotlib is not installed (with the command that installs it).
    """
    plt = require_matplotlib()
    from nablanet.metrics import confusion_matrix

    epochs = history["epoch"]  # 1-based
    panels = [("loss", "loss")]
    second = "accuracy" if any(k.endswith("_accuracy") for k in history.epochs[0]) else "rmse"
    panels.append((second, second))
    with_cm = y_true is not None and y_pred is not None
    fig, axes = plt.subplots(1, len(panels) + with_cm, figsize=(5 * (len(panels) + with_cm), 4))
    for ax, (metric, label) in zip(axes, panels, strict=False):
        for prefix, name in (("train", "train"), ("val", "validation / test")):
            values = history[f"{prefix}_{metric}"]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        if len(epochs) <= 20:
            ax.set_xticks(epochs)  # whole epochs, not 0.98 ... 1.02
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if with_cm:
        n_classes = len(class_names) if class_names is not None else None
        draw_confusion_matrix(axes[-1], confusion_matrix(np.asarray(y_true),
                                                         np.asarray(y_pred), n_classes),
                              class_names)
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)


def draw_confusion_matrix(ax, cm: np.ndarray, class_names=None) -> None:
    """Draw the confusion matrix ``cm`` (``(K, K)`` counts, rows true classes) on the
    matplotlib axes ``ax``, with its count in every cell and every class labelled on
    both axes: by ``class_names`` (``K`` strings) when given, else by index.

    Raises
    ------
    ValueError
        If ``class_names`` does not have one name per class.
    """
    k = len(cm)
    names = [str(c) for c in range(k)] if class_names is None else list(class_names)
    if len(names) != k:
        raise ValueError(f"class_names: expected {k} names, found {len(names)}")
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(k), names, rotation=90 if class_names is not None else 0,
                  fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("test confusion matrix")

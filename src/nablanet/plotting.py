"""Pictures of training drawn to PNG files with matplotlib: learning curves and the
confusion matrix (:func:`plot_training`), the first layer's weights as images
(:func:`plot_weights`), misclassified examples with their true and predicted labels
(:func:`plot_misclassified`) and each layer's speed of learning
(:func:`plot_gradient_norms`, from :class:`nablanet.callbacks.GradientNorms`).

matplotlib is an optional extra (``pip install 'nablanet[plot]'``); it is imported only
when a plot is asked for, with the non-interactive Agg backend. Every PNG is written to
a temporary name and renamed.
"""

from __future__ import annotations

import math

import numpy as np

from nablanet.atomic import atomic_output
from nablanet.training import History

__all__ = [
    "draw_confusion_matrix",
    "plot_gradient_norms",
    "plot_misclassified",
    "plot_training",
    "plot_weights",
    "require_matplotlib",
]


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
        raise ImportError("plotting (--plot-out, --weights-plot-out, --misclassified-plot-out) "
                          "needs matplotlib: pip install 'nablanet[plot]'") from None
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
    _save(plt, fig, path)


def _save(plt, fig, path) -> None:
    """Lay ``fig`` out, write it to ``path`` as PNG (temporary name, then renamed), close it."""
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


def plot_weights(path, model, *, image_shape=None, max_tiles: int = 100) -> None:
    """Draw the first layer's weights as a grid of images, one per unit (or filter).

    For a dense first layer with weights ``W (n_in, n_out)``, tile ``j`` is the column
    ``W[:, j]`` (the weights into hidden unit ``j``) shaped as an input image: the
    pattern that excites the unit most. For a convolutional first layer ``W (F, C, kh,
    kw)``, one ``kh x kw`` tile per filter and input channel. Each tile has its own grey
    scale (most negative black, most positive white); the grid is as square as it can be.

    Parameters
    ----------
    path : path-like
        The PNG file.
    model : Sequential or Network
        A model whose first layer with weights (a ``W`` parameter) is a ``Dense`` or
        ``Conv2D`` layer.
    image_shape : tuple ``(height, width)``, optional
        The input image's shape, for a dense first layer; default: square, when
        ``n_in`` is a square number (784 gives 28 x 28).
    max_tiles : int, default 100
        Draw at most this many units (the first ones).

    Raises
    ------
    ValueError
        If the model has no layer with weights ``W``, or ``image_shape`` is not given
        and cannot be guessed, or does not hold ``n_in`` pixels.
    ImportError
        If matplotlib is not installed.
    """
    layer = next((la for la in model.layers if "W" in getattr(la, "param_names", ())), None)
    if layer is None:
        raise ValueError("model: expected a layer with weights W, found none")
    W = np.asarray(layer.W)
    if W.ndim == 4:  # Conv2D (F, C, kh, kw): one tile per filter and channel
        tiles = W.reshape(-1, *W.shape[2:])
    else:
        n_in = W.shape[0]
        if image_shape is None:
            side = math.isqrt(n_in)
            if side * side != n_in:
                raise ValueError(f"image_shape: {n_in} inputs are not a square image; "
                                 "give (height, width)")
            image_shape = (side, side)
        if math.prod(image_shape) != n_in:
            raise ValueError(f"image_shape: expected {n_in} pixels, got {tuple(image_shape)}")
        tiles = W.T.reshape(-1, *image_shape)
    kind = "filters" if W.ndim == 4 else "units"
    _image_grid(path, tiles[:max_tiles], None,
                f"first-layer weights:\n{min(len(tiles), max_tiles)} of {len(tiles)} {kind}",
                scale=1.0)


def plot_misclassified(path, X, y_true, y_pred, *, image_shape=None, class_names=None,
                       max_images: int = 36) -> None:
    """Draw the first misclassified images as a grid, each titled ``true -> predicted``.

    Parameters
    ----------
    path : path-like
        The PNG file.
    X : array ``(n, h, w)``, ``(n, 1, h, w)`` or ``(n, h * w)``
        The images (any real dtype; each drawn on its own grey scale, 0 black).
    y_true, y_pred : int arrays ``(n,)``
        True and predicted class labels.
    image_shape : tuple ``(height, width)``, optional
        For flat rows; default square, when the row length is a square number.
    class_names : sequence of str, optional
        Names of the classes by label (Fashion-MNIST's); default the labels themselves.
    max_images : int, default 36
        Draw at most this many (the first in ``X``'s order).

    When every image is classified correctly, the figure says so.

    Raises
    ------
    ValueError
        If the lengths of ``X``, ``y_true`` and ``y_pred`` differ, a label has no name
        in ``class_names``, or the images' shape cannot be made out.
    ImportError
        If matplotlib is not installed.
    """
    X, y_true, y_pred = np.asarray(X), np.asarray(y_true), np.asarray(y_pred)
    if not len(X) == len(y_true) == len(y_pred):
        raise ValueError(f"X, y_true, y_pred: expected the same length, got {len(X)}, "
                         f"{len(y_true)}, {len(y_pred)}")
    wrong = np.flatnonzero(y_true != y_pred)
    images = _as_images(X[wrong[:max_images]], image_shape)
    names = None if class_names is None else list(class_names)
    if names is not None and len(wrong) and max(y_true.max(), y_pred.max()) >= len(names):
        raise ValueError(f"class_names: {len(names)} names, but a label is "
                         f"{max(y_true.max(), y_pred.max())}")

    def name(k) -> str:
        return str(k) if names is None else names[k]

    titles = [f"{name(y_true[i])} \u2192 {name(y_pred[i])}" for i in wrong[:max_images]]
    _image_grid(path, images, titles, f"misclassified (true \u2192 predicted):\n"
                f"{len(images)} shown of {len(wrong)} / {len(X)}",
                scale=1.0 if names is None else 1.5)


def plot_gradient_norms(path, norms, *, labels=None, which: str = "biases",
                        hidden_only: bool = False) -> None:
    """Draw each layer's speed of learning per epoch: the curves of Nielsen's chapter 5
    ("The vanishing gradient problem"), on a log scale.

    Parameters
    ----------
    path : path-like
        The PNG file.
    norms : GradientNorms or list of list of float
        A :class:`nablanet.callbacks.GradientNorms` after ``fit`` (its ``history`` or
        ``weight_history`` per ``which``, and its ``labels``), or one list per epoch of
        one norm per layer.
    labels : sequence of str, optional
        One per layer; default the callback's (``hidden layer 1``, ..., ``output
        layer``), else ``layer 1``, ...
    which : {"biases", "weights"}, default "biases"
        With a callback: ``||dC/db||`` (the book's measure) or ``||dC/dW||``.
    hidden_only : bool, default False
        Leave the last layer (the output layer) out, as the book's figures do.

    Raises
    ------
    ValueError
        For an unknown ``which``, no epochs, epochs with different numbers of layers,
        or ``labels`` not one per layer.
    ImportError
        If matplotlib is not installed.
    """
    if which not in ("biases", "weights"):
        raise ValueError(f"which: expected 'biases' or 'weights', got {which!r}")
    history = norms
    if hasattr(norms, "history"):
        history = norms.history if which == "biases" else norms.weight_history
        labels = norms.labels if labels is None else labels
    try:
        values = np.asarray(history, dtype=np.float64)
    except ValueError:  # ragged: epochs with different numbers of layers
        values = np.zeros(0)
    if values.ndim != 2 or not values.size:
        raise ValueError("norms: expected one list of per-layer norms per epoch (at least "
                         f"one epoch, the same layers each), got shape {values.shape}")
    labels = [f"layer {j}" for j in range(1, values.shape[1] + 1)] if labels is None \
        else list(labels)
    if len(labels) != values.shape[1]:
        raise ValueError(f"labels: expected {values.shape[1]} (one per layer), got "
                         f"{len(labels)}")
    if hidden_only:
        values, labels = values[:, :-1], labels[:-1]
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(values) + 1)
    for column, label in zip(values.T, labels, strict=True):
        ax.plot(epochs, column, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    symbol = "b" if which == "biases" else "W"
    ax.set_ylabel(f"||dC/d{symbol}||, mean over mini-batches")
    ax.set_title("speed of learning per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(plt, fig, path)


def _as_images(X: np.ndarray, image_shape) -> np.ndarray:
    """``X`` as ``(n, h, w)``: flat rows shaped by ``image_shape`` (default square),
    one-channel images squeezed."""
    if X.ndim == 4 and X.shape[1] == 1:
        return X[:, 0]
    if X.ndim == 3:
        return X
    if X.ndim != 2:
        raise ValueError(f"X: expected images (n, h, w), (n, 1, h, w) or rows (n, h * w), "
                         f"got shape {X.shape}")
    if image_shape is None:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(f"image_shape: rows of {X.shape[1]} values are not square "
                             "images; give (height, width)")
        image_shape = (side, side)
    if math.prod(image_shape) != X.shape[1]:
        raise ValueError(f"image_shape: expected {X.shape[1]} pixels, got {tuple(image_shape)}")
    return X.reshape(len(X), *image_shape)


def _image_grid(path, tiles: np.ndarray, titles, title: str, scale: float) -> None:
    """Draw ``tiles (n, h, w)`` in a grid as square as it can be (``ceil(sqrt(n))``
    columns), each on its own grey scale, titled by ``titles`` (or not), and save it."""
    plt = require_matplotlib()
    n = len(tiles)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    cell = max(1.1 * scale, 3.5 / cols)  # inches; square cells, room for the title
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell * (
        1.25 if titles else 1) + 0.6), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(tiles[k], cmap="gray", interpolation="nearest")
            if titles:
                ax.set_title(titles[k], fontsize=7)
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title, fontsize=9)
    _save(plt, fig, path)

"""The plots: the confusion-matrix panel (every class labelled, by name where the data
set has names), the image grids (first-layer weights, misclassified examples) and the
gradient-norm curves, each read back from its PNG."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (nablanet[plot])")

from nablanet import GradientNorms, Network, Sequential, plotting
from nablanet.layers import Conv2D, Dense, Flatten
from nablanet.plotting import (
    draw_confusion_matrix,
    plot_gradient_norms,
    plot_misclassified,
    plot_weights,
    require_matplotlib,
)

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"]


def labels_of(class_names):
    plt = require_matplotlib()
    fig, ax = plt.subplots()
    cm = np.arange(100).reshape(10, 10)
    draw_confusion_matrix(ax, cm, class_names)
    fig.canvas.draw()
    ticks = ([t.get_text() for t in ax.get_xticklabels()],
             [t.get_text() for t in ax.get_yticklabels()])
    cells = sorted(int(t.get_text()) for t in ax.texts)
    plt.close(fig)
    return ticks, cells


def test_every_class_is_labelled_by_index():
    (x, y), cells = labels_of(None)
    assert x == y == [str(k) for k in range(10)]
    assert cells == list(range(100))


def test_class_names_label_the_axes():
    (x, y), _ = labels_of(NAMES)
    assert x == y == NAMES


def test_one_name_per_class():
    with pytest.raises(ValueError, match="class_names: expected 10 names, found 2"):
        labels_of(["a", "b"])


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, each as the list of its axes, read before closing."""
    figures: list = []
    save = plotting._save

    def keep(plt, fig, path):
        figures.append(list(fig.axes))
        save(plt, fig, path)

    monkeypatch.setattr(plotting, "_save", keep)
    return figures


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in the 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def tile_grid(path) -> tuple[tuple[int, int], list[int]]:
    """Read a PNG back: its ``(height, width)`` in pixels and the number of image tiles
    in each row of its grid, counted as the blocks of ink (anything not white) that
    stand apart on white; bands of rows much lower than a tile (titles) are skipped."""
    from matplotlib.image import imread

    image = imread(path)[..., :3]
    ink = (image < 0.95).any(axis=2)
    bands = _runs(ink.any(axis=1))
    tallest = max(b - a for a, b in bands)
    counts = [len(_runs(ink[a:b].mean(axis=0) > 0.3)) for a, b in bands
              if b - a > tallest / 2]
    return image.shape[:2], counts


def test_first_layer_weights_drawn_one_tile_per_hidden_unit(tmp_path):
    net = Network([784, 30, 10], seed=1)
    plot_weights(tmp_path / "w.png", net)
    shape, rows = tile_grid(tmp_path / "w.png")
    assert rows == [6] * 5 and min(shape) > 300  # 30 units: 5 rows of 6
    plot_weights(tmp_path / "w7.png", Network([12, 7, 2], seed=1), image_shape=(3, 4))
    assert tile_grid(tmp_path / "w7.png")[1] == [3, 3, 1]


def test_conv_filters_drawn_one_tile_each(tmp_path):
    model = Sequential([Conv2D(1, 5, 5, seed=0), Flatten(), Dense(5 * 4 * 4, 3, seed=0)],
                       output_activation="softmax", loss="cross_entropy")
    plot_weights(tmp_path / "c.png", model)
    assert tile_grid(tmp_path / "c.png")[1] == [3, 2]


def test_weight_tiles_show_the_weights(tmp_path):
    """A unit whose weights are a bright square on dark draws that square."""
    from matplotlib.image import imread

    net = Network([16, 1, 2], seed=0)
    net.weights[0][:, 0] = 0.0
    net.weights[0].reshape(4, 4, 1)[1:3, 1:3] = 1.0
    plot_weights(tmp_path / "one.png", net)
    grey = imread(tmp_path / "one.png")[..., :3].mean(axis=2)
    top, bottom = max(_runs((grey < 0.95).any(axis=1)), key=lambda r: r[1] - r[0])
    (left, right), = _runs((grey[top:bottom] < 0.95).mean(axis=0) > 0.3)
    tile = grey[top:bottom, left:right]  # 4 x 4 weights: the middle 2 x 2 white
    h, w = tile.shape
    assert tile[h // 2, w // 2] > 0.95 and tile[h // 8, w // 8] < 0.05
    assert tile[h // 2, w // 8] < 0.05 and tile[h * 3 // 8, w * 5 // 8] > 0.95


def test_misclassified_grid_titles_true_and_predicted(tmp_path, drawn):
    rng = np.random.default_rng(0)
    X = rng.random((20, 784))
    y_true = np.arange(20) % 10
    y_pred = y_true.copy()
    wrong = [1, 4, 5, 9, 12, 13, 19]
    y_pred[wrong] = (y_true[wrong] + 3) % 10
    plot_misclassified(tmp_path / "m.png", X, y_true, y_pred, class_names=NAMES)
    shape, rows = tile_grid(tmp_path / "m.png")
    assert rows == [3, 3, 1] and min(shape) > 200
    titles = [t for t in (ax.get_title() for ax in drawn[0]) if t]
    assert titles == [f"{NAMES[y_true[i]]} \u2192 {NAMES[y_pred[i]]}" for i in wrong]
    plot_misclassified(tmp_path / "m4.png", X.reshape(20, 1, 28, 28), y_true, y_pred,
                       max_images=4)
    assert tile_grid(tmp_path / "m4.png")[1] == [2, 2]


def test_nothing_misclassified_says_so(tmp_path):
    y = np.arange(5)
    plot_misclassified(tmp_path / "none.png", np.zeros((5, 9)), y, y)
    from matplotlib.image import imread

    ink = (imread(tmp_path / "none.png")[..., :3] < 0.95).any(axis=2)
    assert 0 < ink.mean() < 0.1  # text only: a tile would cover a quarter of it


@pytest.mark.parametrize("call, message", [
    (lambda p: plot_weights(p, Network([10, 3, 2])), "image_shape: 10 inputs"),
    (lambda p: plot_weights(p, Network([12, 3, 2]), image_shape=(3, 3)), "expected 12"),
    (lambda p: plot_misclassified(p, np.zeros((3, 4)), [0, 1, 2], [0, 1]), "same length"),
    (lambda p: plot_misclassified(p, np.zeros((2, 4)), [0, 1], [1, 5], class_names=NAMES[:2]),
     "class_names: 2 names"),
    (lambda p: plot_gradient_norms(p, [[1.0, 2.0], [1.0]]), "norms: expected"),
    (lambda p: plot_gradient_norms(p, [[1.0, 2.0]], labels=["a"]), "labels: expected 2"),
    (lambda p: plot_gradient_norms(p, [[1.0]], which="deltas"), "which:"),
])
def test_bad_plot_arguments_are_named(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_gradient_norm_curves_one_per_layer(tmp_path, drawn):
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 8)), np.arange(40) % 2
    norms = GradientNorms()
    Network([8, 5, 5, 2], seed=1).fit(X, y, epochs=3, progress=False, callbacks=[norms])
    plot_gradient_norms(tmp_path / "g.png", norms, hidden_only=True)
    lines = drawn[0][0].get_lines()
    assert [line.get_label() for line in lines] == ["hidden layer 1", "hidden layer 2"]
    np.testing.assert_allclose(lines[1].get_ydata(), [e[1] for e in norms.history])
    shape, _ = tile_grid(tmp_path / "g.png")
    assert min(shape) > 200

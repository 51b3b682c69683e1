"""The confusion-matrix panel: every class labelled, by name where the data set has names."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (nablanet[plot])")

from nablanet.plotting import draw_confusion_matrix, require_matplotlib

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

"""Chapter 5's speed of learning (the book's ``fig/generate_gradient.py``): network2's
[784, 30, ..., 30, 10] (cross-entropy, 1/sqrt(n_in) weights) with 2, 3 and 4 hidden
layers, trained on the first 1,000 training images for 500 epochs, each epoch one step
on the whole 1,000 (mini-batch 1,000, eta 0.1, lambda 5.0); before every step, the
length ||dC/db^l|| of each hidden layer's bias gradient, averaged over the 1,000 images
(the book's measure of how fast layer l learns).

The gradients are the batch gradient of :meth:`nablanet.Network.gradients` (the mean
over the images of the book's per-example ``backprop``, which the test checks).
The book (full MNIST, two hidden layers, at the start): 0.07 and 0.31, the first
hidden layer learning about five times slower than the second; with four, 0.003,
0.017, 0.070 and 0.285, about a hundred times slower than the last.
Usage: ``python examples/book/learning_speed.py [--epochs 500] [--depths 2 3 4]``.
"""

from __future__ import annotations

import sys

import common
import numpy as np

from nablanet.book import network2

NAME = "learning_speed"
BOOK = {"initial_norms": {"2": [0.07, 0.31], "4": [0.003, 0.017, 0.070, 0.285]},
        "figure": "ch. 5, 'training_speed_N_layers.png'"}


def hidden_bias_gradient_norms(net, training) -> list[float]:
    """``||dC/db^l||`` of every hidden layer (first first), the gradient averaged over
    the examples of ``training`` ``(X, y)``."""
    gradients = net.gradients(*training)
    return [float(np.linalg.norm(g)) for g in gradients[1::2][:-1]]  # biases, no output


def run(data, *, epochs=500, train_size=1000, seed=12345678, depths=(2, 3, 4), eta=0.1,
        lmbda=5.0, mini_batch_size=1000) -> dict:
    """For each number of hidden layers, the hidden layers' gradient norms before each
    epoch's training: ``norms[str(depth)][epoch][layer]``."""
    training = common.first(data[0], train_size)
    norms = {}
    for depth in depths:
        net = network2.Network([784, *[30] * depth, 10], cost=network2.CrossEntropyCost,
                               seed=seed)
        series = []
        for _ in range(epochs):
            series.append(hidden_bias_gradient_norms(net, training))
            net.SGD(training, 1, min(mini_batch_size, len(training[1])), eta, lmbda=lmbda)
        norms[str(depth)] = series
    return {"norms": norms, "initial_norms": {d: s[0] for d, s in norms.items()},
            "n_train": len(training[1]), "book": BOOK}


def plot(results):
    fig, axes = common.figure(len(results["norms"]), width=4.6)
    colors = ["#2A6EA6", "#FFA933", "#FF5555", "#55FF55", "#5555FF"]
    for ax, (depth, series) in zip(axes, results["norms"].items(), strict=True):
        for layer in range(len(series[0])):
            ax.plot(range(len(series)), [s[layer] for s in series],
                    color=colors[layer % len(colors)], label=f"Hidden layer {layer + 1}")
        ax.set_yscale("log")
        ax.set_xlabel("Number of epochs of training")
        ax.set_title(f"Speed of learning: {depth} hidden layers")
        ax.grid(True)
        ax.legend(loc="upper right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=500, train_size=1000)
    p.add_argument("--depths", type=common.positive_int, nargs="+", default=[2, 3, 4],
                   help="numbers of hidden layers, one network each")
    sys.exit(common.main(NAME, p, run, plot))

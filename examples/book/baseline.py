"""Chapter 1's network: [784, 30, 10] sigmoid neurons, quadratic cost, mini-batch SGD
with eta 3.0 and mini-batches of 10 for 30 epochs, test accuracy after every epoch.

The book (full MNIST, 50,000 training images): "95.42 percent" at its best epoch.
Usage: ``python examples/book/baseline.py [--epochs 30] [--train-size N] [--out DIR]``.
"""

from __future__ import annotations

import sys

import common

from nablanet.book import network

NAME = "baseline"
BOOK = {"accuracy": 0.9542, "figure": "ch. 1, 'Epoch 28: 9542 / 10000'"}


def run(data, *, epochs=30, train_size=None, seed=12345678, hidden=30, eta=3.0,
        mini_batch_size=10) -> dict:
    """Train the book's chapter-1 network; the test accuracy per epoch (fractions)."""
    training, _, test = data
    net = network.Network([784, hidden, 10], seed=seed)
    history = net.SGD(common.first(training, train_size), epochs, mini_batch_size, eta,
                      test_data=test)
    per_epoch = [int(c) / len(test[1]) for c in history["val_correct"]]
    return {"test_accuracy": per_epoch, "final_accuracy": per_epoch[-1],
            "best_accuracy": max(per_epoch), "n_test": len(test[1]),
            "n_train": len(common.first(training, train_size)[1]), "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    acc = results["test_accuracy"]
    ax.plot(range(len(acc)), [100 * a for a in acc], "o-", color=common.BLUE,
            label=f"nablanet ({results['n_train']} training images)")
    ax.axhline(100 * BOOK["accuracy"], color=common.ORANGE, ls="--",
               label="the book's best (50,000 images)")
    ax.set_xlabel("Epoch")
    ax.set_title(f"Accuracy (%) on the {results['n_test']} test images")
    ax.grid(True)
    ax.legend(loc="lower right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=30)
    p.add_argument("--hidden", type=common.positive_int, default=30)
    p.add_argument("--eta", type=float, default=3.0)
    sys.exit(common.main(NAME, p, run, plot))

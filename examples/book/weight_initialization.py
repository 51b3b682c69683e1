"""Chapter 3's weight initialization (the book's ``fig/weight_initialization.py``):
network2's [784, n, 10] (cross-entropy) trained for 30 epochs (eta 0.1, lambda 5.0,
mini-batches of 10) from the old N(0, 1) weights and from the new N(0, 1/n_in) ones;
validation accuracy after every epoch.

The book (full MNIST, n = 30): the new weights start near 93% after one epoch where
the old ones are near 87%, and both end near 96%.
Usage: ``python examples/book/weight_initialization.py [--epochs 30] [--hidden 30]``.
"""

from __future__ import annotations

import sys

import common

from nablanet.book import network2

NAME = "weight_initialization"
BOOK = {"hidden": 30, "figure": "ch. 3, 'weight_initialization_30.png'"}


def run(data, *, epochs=30, train_size=None, seed=12345678, hidden=30, eta=0.1, lmbda=5.0,
        mini_batch_size=10) -> dict:
    """Two networks from the same seed, one per initialization; the validation accuracy
    per epoch (fractions of the real number of validation images)."""
    training, validation = common.first(data[0], train_size), data[1]
    accuracy = {}
    for name in ("old", "new"):
        net = network2.Network([784, hidden, 10], cost=network2.CrossEntropyCost, seed=seed)
        if name == "old":
            net.large_weight_initializer()
        correct = net.SGD(training, epochs, mini_batch_size, eta, lmbda=lmbda,
                          evaluation_data=validation, monitor_evaluation_accuracy=True)[1]
        accuracy[name] = [c / len(validation[1]) for c in correct]
    return {"validation_accuracy": accuracy, "hidden": hidden, "n_train": len(training[1]),
            "n_validation": len(validation[1]), "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    labels = {"old": "Old approach to weight initialization",
              "new": "New approach to weight initialization"}
    for (name, acc), color in zip(results["validation_accuracy"].items(),
                                  (common.BLUE, common.ORANGE), strict=True):
        ax.plot(range(len(acc)), [100 * a for a in acc], color=color, label=labels[name])
    ax.set_xlabel("Epoch")
    ax.set_title(f"Classification accuracy (%), {results['hidden']} hidden neurons")
    ax.grid(True)
    ax.legend(loc="lower right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=30)
    p.add_argument("--hidden", type=common.positive_int, default=30)
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--lmbda", type=float, default=5.0)
    sys.exit(common.main(NAME, p, run, plot))

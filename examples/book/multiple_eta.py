"""Chapter 3's learning rates (the book's ``fig/multiple_eta.py``): network2's
[784, 30, 10] (cross-entropy, 1/sqrt(n_in) weights) trained for 30 epochs with
lambda 5.0 and mini-batches of 10 at eta 0.025, 0.25 and 2.5; the training cost after
every epoch.

The book (full MNIST): at 0.025 the cost falls slowly, at 0.25 fast, at 2.5 it
oscillates from the first epochs on.
Usage: ``python examples/book/multiple_eta.py [--epochs 30] [--etas 0.025 0.25 2.5]``.
"""

from __future__ import annotations

import sys

import common

from nablanet.book import network2

NAME = "multiple_eta"
BOOK = {"etas": [0.025, 0.25, 2.5], "figure": "ch. 3, 'multiple_eta.png'"}


def run(data, *, epochs=30, train_size=None, seed=12345678, etas=(0.025, 0.25, 2.5),
        lmbda=5.0, mini_batch_size=10) -> dict:
    """One network per learning rate; the training cost (with the L2 term) per epoch."""
    training = common.first(data[0], train_size)
    costs = {}
    for eta in etas:
        net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=seed)
        costs[str(eta)] = net.SGD(training, epochs, mini_batch_size, eta, lmbda=lmbda,
                                  monitor_training_cost=True)[2]
    return {"etas": list(etas), "training_cost": costs, "n_train": len(training[1]),
            "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    for (eta, cost), color in zip(results["training_cost"].items(),
                                  ("#2A6EA6", "#FFCD33", "#FF7033", "k"), strict=False):
        ax.plot(range(len(cost)), cost, "o-", color=color, label=f"eta = {eta}")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Cost")
    ax.set_title(f"Training cost, {results['n_train']} training images")
    ax.legend(loc="upper right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=30)
    p.add_argument("--etas", type=float, nargs="+", default=[0.025, 0.25, 2.5])
    p.add_argument("--lmbda", type=float, default=5.0)
    sys.exit(common.main(NAME, p, run, plot))

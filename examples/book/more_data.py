"""Chapter 3's more data (the book's ``fig/more_data.py``): network2's [784, 30, 10]
(cross-entropy, N(0, 1) weights) trained on the first ``size`` training images for
1,500,000 / ``size`` epochs (eta 0.5, mini-batches of 10, lambda = ``size`` / 10,000),
and scikit-learn's ``SVC()`` on the same images; accuracy on the validation data
against the training-set size.

The book's sizes are 100, 200, 500, 1,000, 2,000, 5,000, 10,000, 20,000 and 50,000
(sizes beyond the training set are left out; on the MNIST sample the largest is 6,000,
which is added). The book (full MNIST): the network rises from about 60% at 100
images to about 96% at 50,000, the SVM stays below it throughout.
Usage: ``python examples/book/more_data.py [--epochs 1500000] [--train-size N] [--no-svm]``
(``--epochs`` is the examples seen per size, the book's 1,500,000).
"""

from __future__ import annotations

import sys

import common
from svm import svm_accuracy

from nablanet.book import network2

NAME = "more_data"
SIZES = (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
BOOK = {"sizes": list(SIZES), "figure": "ch. 3, 'more_data_comparison.png'"}


def sizes_for(n_train: int) -> list[int]:
    """The book's sizes up to ``n_train``, and ``n_train`` itself when not one of them."""
    sizes = [s for s in SIZES if s <= n_train]
    return sizes if n_train in sizes else [*sizes, n_train]


def run(data, *, epochs=1_500_000, train_size=None, seed=12345678, svm=True, eta=0.5,
        mini_batch_size=10) -> dict:
    """For each size: the network's and the SVM's validation accuracy (fractions of the
    real number of validation images). ``epochs`` is the number of examples each
    network sees (the book's 1,500,000), so a size trains for ``epochs // size``
    epochs, at least 1."""
    training, validation = common.first(data[0], train_size), data[1]
    sizes = sizes_for(len(training[1]))
    network_accuracy, svm_accuracies = [], []
    for size in sizes:
        part = common.first(training, size)
        net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=seed)
        net.large_weight_initializer()
        net.SGD(part, max(1, epochs // size), mini_batch_size, eta, lmbda=size * 0.0001)
        network_accuracy.append(net.accuracy(validation) / len(validation[1]))
        if svm:
            svm_accuracies.append(svm_accuracy(part, validation)[0])
    return {"sizes": sizes, "network_accuracy": network_accuracy,
            "svm_accuracy": svm_accuracies, "examples_per_size": epochs,
            "n_validation": len(validation[1]), "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    sizes = results["sizes"]
    for key, label, color in (("network_accuracy", "Neural network accuracy (%)", common.BLUE),
                              ("svm_accuracy", "SVM accuracy (%)", common.ORANGE)):
        if results[key]:
            ax.plot(sizes, [100 * a for a in results[key]], "o-", color=color, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("Training set size")
    ax.set_title(f"Accuracy (%) on the {results['n_validation']} validation images")
    ax.grid(True)
    ax.legend(loc="lower right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=1_500_000)
    p.add_argument("--no-svm", dest="svm", action="store_false", help="the network only")
    p.add_argument("--eta", type=float, default=0.5)
    sys.exit(common.main(NAME, p, run, plot))

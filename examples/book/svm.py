"""Chapter 1's SVM baseline (the book's ``mnist_svm.py``): scikit-learn's ``SVC`` with
its default settings (RBF kernel, C = 1) trained on the training images, scored on the
test images.

The book (full MNIST, 50,000 training images): 9,435 of 10,000 right, 94.35%.
Usage: ``python examples/book/svm.py [--train-size N] [--out DIR]`` (needs the
``sklearn`` extra).
"""

from __future__ import annotations

import sys

import common
import numpy as np

NAME = "svm"
BOOK = {"accuracy": 0.9435, "figure": "ch. 1, '9,435 of 10,000 test images'"}


def svm_accuracy(training, test) -> tuple[float, np.ndarray]:
    """Fit ``sklearn.svm.SVC()`` on ``training`` ``(X, y)``; its accuracy on ``test`` and
    its predictions."""
    from sklearn import svm  # the sklearn extra, needed here only

    clf = svm.SVC()
    clf.fit(*training)
    predicted = clf.predict(test[0])
    return common.accuracy(predicted, test[1]), predicted


def run(data, *, epochs=1, train_size=None, seed=12345678) -> dict:
    """Train the SVM; ``epochs`` and ``seed`` are unused (SVC is deterministic)."""
    training, test = common.first(data[0], train_size), data[2]
    acc, predicted = svm_accuracy(training, test)
    digits = np.unique(test[1])
    per_digit = {int(d): common.accuracy(predicted[test[1] == d], test[1][test[1] == d])
                 for d in digits}
    return {"accuracy": acc, "per_digit_accuracy": per_digit, "n_test": len(test[1]),
            "n_train": len(training[1]), "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    digits = [int(d) for d in results["per_digit_accuracy"]]
    ax.bar(digits, [100 * a for a in results["per_digit_accuracy"].values()],
           color=common.BLUE)
    ax.set_xticks(digits)
    ax.set_ylim(80, 100)
    ax.set_xlabel("Digit")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(f"SVC: {100 * results['accuracy']:.2f}% of {results['n_test']} test "
                 f"images, {results['n_train']} training (book: 94.35%)")
    return fig


if __name__ == "__main__":
    sys.exit(common.main(NAME, common.parser(__doc__, epochs=1), run, plot))

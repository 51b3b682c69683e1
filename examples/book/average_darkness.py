"""Chapter 1's naive baseline (the book's ``mnist_average_darkness.py``): guess the digit
whose average darkness (the sum of an image's pixel values) over the training images is
closest to the test image's darkness.

The book (full MNIST): 2,225 of the 10,000 test images right, 22.25%.
Usage: ``python examples/book/average_darkness.py [--train-size N] [--out DIR]``.
"""

from __future__ import annotations

import sys

import common
import numpy as np

NAME = "average_darkness"
BOOK = {"accuracy": 0.2225, "figure": "ch. 1, '2,225 of the 10,000 test images'"}


def run(data, *, epochs=1, train_size=None, seed=12345678) -> dict:
    """Average darkness per digit on the training images, then the nearest-darkness
    guess for every test image. ``epochs`` and ``seed`` are unused (nothing is trained
    or drawn); they are accepted for the common command line."""
    X, y = common.first(data[0], train_size)
    X_test, y_test = data[2]
    darkness = X.sum(axis=1)
    digits = np.unique(y)
    averages = np.array([darkness[y == d].mean() for d in digits])
    guesses = digits[np.abs(X_test.sum(axis=1)[:, None] - averages).argmin(axis=1)]
    return {"average_darkness": {int(d): float(a) for d, a in zip(digits, averages, strict=True)},
            "accuracy": common.accuracy(guesses, y_test), "n_test": len(y_test),
            "n_train": len(y), "book": BOOK}


def plot(results):
    fig, (ax,) = common.figure()
    digits = [int(d) for d in results["average_darkness"]]
    ax.bar(digits, list(results["average_darkness"].values()), color=common.BLUE)
    ax.set_xticks(digits)
    ax.set_xlabel("Digit")
    ax.set_ylabel("Average darkness (sum of pixel values)")
    ax.set_title(f"Nearest average darkness: {100 * results['accuracy']:.2f}% of "
                 f"{results['n_test']} test images (book: 22.25%)")
    return fig


if __name__ == "__main__":
    sys.exit(common.main(NAME, common.parser(__doc__, epochs=1), run, plot))

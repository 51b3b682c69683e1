"""Chapter 3's overfitting (the book's ``fig/overfitting.py``): network2's [784, 30, 10]
with the cross-entropy cost and the old N(0, 1) weights, trained on the first 1,000
training images for 400 epochs (eta 0.5, mini-batches of 10), without and with L2
regularization (lambda 0.1), monitoring cost and accuracy on the training and the test
data after every epoch.

The book (full MNIST): without L2 the test accuracy stalls near 82.27% while the
training accuracy reaches 100% and the test cost rises after epoch 15 or so; with
lambda 0.1 the test accuracy reaches 87.1%.
Usage: ``python examples/book/overfitting.py [--epochs 400] [--lmbdas 0 0.1] [--out DIR]``.
"""

from __future__ import annotations

import sys

import common

from nablanet.book import network2

NAME = "overfitting"
BOOK = {"accuracy_lmbda_0": 0.8227, "accuracy_lmbda_0.1": 0.871,
        "figure": "ch. 3, overfitting and regularization"}


def run(data, *, epochs=400, train_size=1000, seed=12345678, lmbdas=(0.0, 0.1), eta=0.5,
        mini_batch_size=10) -> dict:
    """One network per ``lmbda``; per epoch the four monitored series, accuracies as
    fractions of the real numbers of training and test images."""
    training, test = common.first(data[0], train_size), data[2]
    runs = {}
    for lmbda in lmbdas:
        net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=seed)
        net.large_weight_initializer()
        test_cost, test_correct, training_cost, training_correct = net.SGD(
            training, epochs, mini_batch_size, eta, lmbda=lmbda, evaluation_data=test,
            monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
            monitor_training_cost=True, monitor_training_accuracy=True)
        test_accuracy = [c / len(test[1]) for c in test_correct]
        runs[str(lmbda)] = {
            "lmbda": lmbda, "test_cost": test_cost, "test_accuracy": test_accuracy,
            "training_cost": training_cost,
            "training_accuracy": [c / len(training[1]) for c in training_correct],
            "final_test_accuracy": test_accuracy[-1],
            "lowest_test_cost_epoch": min(range(epochs), key=test_cost.__getitem__)}
    return {"runs": runs, "n_train": len(training[1]), "n_test": len(test[1]), "book": BOOK}


def plot(results):
    fig, axes = common.figure(4, width=4.2)
    panels = (("training_cost", "Cost on the training data"),
              ("test_cost", "Cost on the test data"),
              ("training_accuracy", f"Accuracy (%) on the {results['n_train']} training images"),
              ("test_accuracy", f"Accuracy (%) on the {results['n_test']} test images"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for run, color in zip(results["runs"].values(), (common.BLUE, common.ORANGE, "k"),
                              strict=False):
            values = run[key]
            scale = 100 if "accuracy" in key else 1
            ax.plot(range(len(values)), [scale * v for v in values], color=color,
                    label=f"lambda = {run['lmbda']}")
        ax.set_title(title)
        ax.set_xlabel("Epoch")
        ax.grid(True)
        ax.legend()
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=400, train_size=1000)
    p.add_argument("--lmbdas", type=float, nargs="+", default=[0.0, 0.1],
                   help="L2 regularization parameters, one network each")
    p.add_argument("--eta", type=float, default=0.5)
    sys.exit(common.main(NAME, p, run, plot))

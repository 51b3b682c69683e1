"""Chapter 6's progression (the book's ``src/conv.py``), one network per stage, each on
:mod:`nablanet.book.network3` with the book's layers and settings (mini-batches of 10):

========== ============================================================== ====== ====
stage      network (sigmoid unless said), training                        epochs book
========== ============================================================== ====== ====
shallow    FC 100, softmax; eta 0.1                                        60    97.80
conv       conv 20x5x5 + pool 2, FC 100, softmax; eta 0.1                  60    98.78
dbl_conv   two conv-pool (20, 40 maps), FC 100, softmax; eta 0.1           60    99.06
relu       dbl_conv with ReLU; eta 0.03, lambda 0.1                        60    99.23
expanded   relu on the expanded data (one-pixel shifts, 5x); lambda 0.1    60    99.37
double_fc  expanded with two ReLU FC 100 layers                            60    99.43
dropout    double_fc with FC 1000 x 2, dropout 0.5 on both and the softmax 40    99.60
ensemble   five dropout networks voting                                    40    99.67
========== ============================================================== ====== ====

The number is the test accuracy at the epoch of best validation accuracy (the book's
report), over the real number of test images. The book's runs take hours on the full
MNIST; ``--epochs 1 --train-size 500 --eval-size 500`` runs every stage in a few
minutes.
``--epochs`` replaces every stage's epoch count; ``--stages`` picks stages.
Usage: ``python examples/book/conv.py [--stages relu dropout] [--epochs 1] [--train-size N]``.
"""

from __future__ import annotations

import sys

import common

from nablanet.book.network3 import (
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    sigmoid,
)
from nablanet.datasets.augment import expand_by_shifts
from nablanet.models.ensemble import Ensemble

NAME = "conv"
MINI_BATCH = 10
#: per stage: the book's test accuracy, epochs, eta, lambda, expanded data
STAGES = {
    "shallow": (0.9780, 60, 0.1, 0.0, False),
    "conv": (0.9878, 60, 0.1, 0.0, False),
    "dbl_conv": (0.9906, 60, 0.1, 0.0, False),
    "relu": (0.9923, 60, 0.03, 0.1, False),
    "expanded": (0.9937, 60, 0.03, 0.1, True),
    "double_fc": (0.9943, 60, 0.03, 0.1, True),
    "dropout": (0.9960, 40, 0.03, 0.0, True),
    "ensemble": (0.9967, 40, 0.03, 0.0, True),
}


def conv_pool(maps_in: int, size: int, filters: int, fn) -> ConvPoolLayer:
    return ConvPoolLayer(image_shape=(MINI_BATCH, maps_in, size, size),
                         filter_shape=(filters, maps_in, 5, 5), poolsize=(2, 2),
                         activation_fn=fn)


def layers(stage: str) -> list:
    """The book's layers of ``stage`` (the ensemble's members are dropout networks)."""
    if stage == "shallow":
        return [FullyConnectedLayer(n_in=784, n_out=100), SoftmaxLayer(n_in=100, n_out=10)]
    if stage == "conv":
        return [conv_pool(1, 28, 20, sigmoid), FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
                SoftmaxLayer(n_in=100, n_out=10)]
    fn = sigmoid if stage == "dbl_conv" else ReLU
    convs = [conv_pool(1, 28, 20, fn), conv_pool(20, 12, 40, fn)]
    if stage in ("dbl_conv", "relu", "expanded"):
        return [*convs, FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=fn),
                SoftmaxLayer(n_in=100, n_out=10)]
    n, p = (100, 0.0) if stage == "double_fc" else (1000, 0.5)
    return [*convs, FullyConnectedLayer(n_in=40 * 4 * 4, n_out=n, activation_fn=ReLU, p_dropout=p),
            FullyConnectedLayer(n_in=n, n_out=n, activation_fn=ReLU, p_dropout=p),
            SoftmaxLayer(n_in=n, n_out=10, p_dropout=p)]


def train(stage: str, training, expanded, validation, test, epochs, seed):
    """Build and train one network of ``stage``; the network and its SGDResult."""
    _, book_epochs, eta, lmbda, use_expanded = STAGES[stage]
    net = Network(layers(stage), MINI_BATCH, seed=seed)
    result = net.SGD(expanded if use_expanded else training, epochs or book_epochs,
                     MINI_BATCH, eta, validation, test, lmbda=lmbda)
    return net, result


def run(data, *, epochs=None, train_size=None, seed=12345678, stages=tuple(STAGES),
        members=5, eval_size=None) -> dict:
    """Train the chosen stages in the book's order; per stage the test accuracy at the
    best validation epoch, the best validation accuracy, the epochs and the book's
    number. The ensemble votes ``members`` dropout networks (the first is the dropout
    stage's, when it ran). ``eval_size`` keeps the first validation and test images
    only (predicting thousands of images with a conv net takes a while)."""
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"stages: expected some of {', '.join(STAGES)}, got {unknown}")
    training = common.first(data[0], train_size)
    validation, test = common.first(data[1], eval_size), common.first(data[2], eval_size)
    expanded = None
    if any(STAGES[s][4] for s in stages):
        expanded = expand_by_shifts(*training, seed=seed)
    results, dropout_nets = {}, []
    for stage in (s for s in STAGES if s in stages):
        book, book_epochs = STAGES[stage][:2]
        if stage == "ensemble":
            while len(dropout_nets) < members:
                dropout_nets.append(train("dropout", training, expanded, validation, test,
                                          epochs, seed + len(dropout_nets))[0])
            acc = Ensemble(dropout_nets, method="vote").accuracy(*test)
            members_acc = [common.accuracy(net.predict(test[0]), test[1]) for net in dropout_nets]
            results[stage] = {"test_accuracy": acc, "member_test_accuracy": members_acc,
                              "epochs": epochs or book_epochs, "book": book}
            continue
        net, r = train(stage, training, expanded, validation, test, epochs, seed)
        if stage == "dropout":
            dropout_nets.append(net)
        results[stage] = {"test_accuracy": r.test_accuracy,
                          "best_validation_accuracy": r.best_validation_accuracy,
                          "validation_accuracy": r.validation_accuracy,
                          "epochs": epochs or book_epochs, "book": book}
    return {"stages": results, "n_train": len(training[1]),
            "n_train_expanded": None if expanded is None else len(expanded[1]),
            "n_validation": len(validation[1]), "n_test": len(test[1])}


def plot(results):
    fig, (ax,) = common.figure(width=8.0)
    names = list(results["stages"])
    ours = [100 * results["stages"][s]["test_accuracy"] for s in names]
    book = [100 * results["stages"][s]["book"] for s in names]
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], ours, width=0.4, color=common.BLUE,
           label=f"nablanet ({results['n_train']} training images)")
    ax.bar([i + 0.2 for i in x], book, width=0.4, color=common.ORANGE,
           label="the book (50,000 training images)")
    ax.set_xticks(list(x), names)
    ax.set_ylim(max(0.0, min(ours + book) - 5), 100)
    ax.set_ylabel(f"Test accuracy (%), {results['n_test']} images")
    ax.set_title("Chapter 6: conv.py's progression")
    ax.grid(True, axis="y")
    ax.legend(loc="lower right")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=None)
    p.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    p.add_argument("--members", type=common.positive_int, default=5,
                   help="dropout networks in the ensemble")
    p.add_argument("--eval-size", type=common.positive_int, default=None,
                   help="validation and test images used, the first ones (default: all)")
    sys.exit(common.main(NAME, p, run, plot))

"""Train a convolutional network (the book's chapter-6 family) on real images and report
the test accuracy: the commands behind the README's convolutional results.

Usage::

    python examples/conv_net.py fashion-mnist [--layers SPEC] [--epochs 20] ...
    python examples/conv_net.py mnist-10k --data-dir ../shared/data/mnist-10k

``fashion-mnist`` is the standard 60,000/10,000 split; ``mnist-10k`` reads the 10,000
real MNIST images of an IDX directory and trains on the first 8,000, tests on the last
2,000. The network comes from a layer specification (:mod:`nablanet.models.spec`), the
head is softmax with cross-entropy, the optimizer Adam with cosine annealing; the test
set is evaluated after every epoch (it is never used for any choice during the run).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from nablanet.datasets.idx import read_idx
from nablanet.datasets.mnist import load_fashion_mnist
from nablanet.models import Sequential
from nablanet.models.spec import parse_layers
from nablanet.optimizers import Adam
from nablanet.training import CosineAnnealing

BOOK = "conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,dropout:0.5,softmax:10"


def load(name: str, data_dir: str | None, dtype):
    """``(X_train, y_train, X_test, y_test)`` with images ``(n, 1, 28, 28)`` in [0, 1]."""
    if name == "fashion-mnist":
        d = load_fashion_mnist(data_dir, offline=True, dtype=dtype)
        X, y, Xt, yt = d.X_train, d.y_train, d.X_test, d.y_test
    else:
        directory = Path(data_dir or "../shared/data/mnist-10k")
        images = read_idx(next(directory.glob("*images*")))
        labels = read_idx(next(directory.glob("*labels*"))).astype(np.int64)
        X = (images.reshape(len(images), -1) / 255.0).astype(dtype)
        X, y, Xt, yt = X[:8000], labels[:8000], X[8000:], labels[8000:]
    return X.reshape(-1, 1, 28, 28), y, Xt.reshape(-1, 1, 28, 28), yt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["fashion-mnist", "mnist-10k"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--layers", default=BOOK, help=f"layer specification ({BOOK})")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dtype = np.dtype(args.dtype).type
    X, y, Xt, yt = load(args.dataset, args.data_dir, dtype)
    model = Sequential(parse_layers(args.layers, X.shape[1:], seed=args.seed, dtype=dtype),
                       output_activation="softmax", loss="cross_entropy",
                       optimizer=Adam(args.lr, weight_decay=args.weight_decay),
                       seed=args.seed, dtype=dtype)
    history = model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(Xt, yt), schedule=CosineAnnealing(t_max=args.epochs),
                        monitor_training=False, progress=False)
    last = history.epochs[-1]
    print(f"{args.dataset}: test accuracy {100 * last['val_accuracy']:.2f}% after "
          f"{args.epochs} epochs ({len(X)} training / {len(Xt)} test images); "
          f"{history.total_seconds:.0f} s")


if __name__ == "__main__":
    main()

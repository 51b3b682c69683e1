"""Chapter 6's recipe on Fashion-MNIST: expanded data, two dense layers, dropout, and an
ensemble of five.

Each member is the book's final network (``conv.py``'s ``dropout`` stage)::

    conv 20x5x5 ReLU, max-pool 2 -> conv 40x5x5 ReLU, max-pool 2
    -> dropout 0.5 -> dense 1000 ReLU -> dropout 0.5 -> dense 1000 ReLU
    -> dropout 0.5 -> softmax 10

trained on the expanded training images (each with its four one-pixel shifts, the book's
``expand_mnist``: 5 x 50,000) as a :class:`nablanet.Sequential`. What differs from the
book, to fit the run in an hour or two of two cores: Adam (learning rate 0.001, cosine
decay to zero over the run) instead of plain SGD at eta 0.03, mini-batches of 64 instead
of 10, float32, and 10 epochs of the expanded data instead of 40. The members differ in
their seed only (initial weights, dropout masks, shuffling); the ensemble averages their
class probabilities (``--method vote``: the book's vote).

Reported: each member's test accuracy after its last epoch (no epoch is picked on the
test images; the validation accuracy of every epoch is in the JSON), and the ensemble's.

Members are saved as ``OUT/fashion-member-I.safetensors`` and loaded, not trained again,
when they exist, so a long run can be split over processes (``--only 0 1`` in one,
``--only 2 3 4`` in another: each trains its members and stops) and finished by a run
without ``--only``, which trains whatever is missing and reports the ensemble.

Usage: ``python examples/book/fashion.py --data fashion-mnist [--members 5] [--epochs 10]``
"""

from __future__ import annotations

import functools
import json
import sys
import time

import common
import numpy as np

from nablanet.atomic import atomic_write_bytes
from nablanet.datasets.augment import expand_by_shifts
from nablanet.models.ensemble import Ensemble
from nablanet.models.sequential import Sequential
from nablanet.models.spec import parse_layers
from nablanet.optimizers import Adam
from nablanet.training import CosineAnnealing

NAME = "fashion"
SPEC = ("conv:20x5x5,pool:2,conv:40x5x5,pool:2,dropout:0.5,dense:1000,dropout:0.5,"
        "dense:1000,dropout:0.5,softmax:10")
SHAPE = (1, 28, 28)


def images(X) -> np.ndarray:
    """Flat images ``(n, 784)`` as float32 ``(n, 1, 28, 28)``."""
    return np.asarray(X, np.float32).reshape(-1, *SHAPE)


def member_path(out, i: int):
    return out / f"{NAME}-member-{i}.safetensors"


def train_member(i: int, expanded, validation, *, epochs, batch_size, lr, seed, out) -> dict:
    """Train member ``i`` (seed ``seed + i``), save it; its numbers."""
    model = Sequential(parse_layers(SPEC, SHAPE, seed=seed + i, dtype=np.float32),
                       output_activation="softmax", loss="cross_entropy",
                       optimizer=Adam(lr), seed=seed + i, dtype=np.float32)
    started = time.perf_counter()
    history = model.fit(*expanded, epochs=epochs, batch_size=batch_size,
                        validation_data=validation, schedule=CosineAnnealing(t_max=epochs),
                        monitor_training=False)
    seconds = time.perf_counter() - started
    model.save(member_path(out, i))
    numbers = {"member": i, "seed": seed + i, "seconds": round(seconds, 1),
               "validation_accuracy": [float(a) for a in history["val_accuracy"]]}
    atomic_write_bytes(out / f"{NAME}-member-{i}.json",
                       (json.dumps(numbers, indent=1) + "\n").encode())
    return numbers


def run(data, *, epochs=10, train_size=None, seed=12345678, members=5, only=None,
        batch_size=64, lr=1e-3, method="average", out=None) -> dict:
    """Train (or load) the members, then report each one's and the ensemble's test
    accuracy; with ``only``, train those members and return their numbers."""
    if only is not None and not all(0 <= i < members for i in only):
        raise ValueError(f"--only: expected member numbers from 0 to {members - 1}, got {only}")
    training = common.first(data[0], train_size)
    validation = (images(data[1][0]), data[1][1])
    test_X, test_y = images(data[2][0]), data[2][1]
    wanted = range(members) if only is None else only
    missing = [i for i in wanted if only is not None or not member_path(out, i).exists()]
    if missing:
        out.mkdir(parents=True, exist_ok=True)
        X, y = expand_by_shifts(images(training[0]), training[1], seed=seed)
        for i in missing:
            print(f"member {i}: training on {len(y)} expanded images", flush=True)
            train_member(i, (X, y), validation, epochs=epochs,
                                      batch_size=batch_size, lr=lr, seed=seed, out=out)
    if only is not None:
        return {"members_trained": list(only)}
    models = [Sequential.load(member_path(out, i)) for i in range(members)]
    member_acc = [common.accuracy(m.predict(test_X), test_y) for m in models]
    logs = [json.loads((out / f"{NAME}-member-{i}.json").read_text()) for i in range(members)]
    result = {"member_test_accuracy": member_acc, "members": logs,
              "n_train": len(training[1]), "n_train_expanded": 5 * len(training[1]),
              "n_test": len(test_y), "epochs": epochs, "batch_size": batch_size,
              "lr": lr, "method": method, "spec": SPEC}
    if members > 1:
        result["ensemble_test_accuracy"] = Ensemble(models, method=method).accuracy(
            test_X, test_y)
    return result


def plot(results):
    fig, (ax,) = common.figure(width=7.0)
    if "member_test_accuracy" not in results:
        ax.text(0.5, 0.5, "members trained; run again without --only for the ensemble",
                ha="center")
        return fig
    acc = [100 * a for a in results["member_test_accuracy"]]
    labels = [f"member {i}" for i in range(len(acc))]
    if "ensemble_test_accuracy" in results:
        acc.append(100 * results["ensemble_test_accuracy"])
        labels.append(f"ensemble ({results['method']})")
    colours = [common.BLUE] * len(results["member_test_accuracy"]) + [common.ORANGE]
    ax.bar(range(len(acc)), acc, color=colours[:len(acc)])
    for x, a in enumerate(acc):
        ax.text(x, a + 0.05, f"{a:.2f}", ha="center")
    ax.set_xticks(range(len(acc)), labels)
    ax.set_ylim(min(acc) - 2, 100)
    ax.set_ylabel(f"Test accuracy (%), {results['n_test']} images")
    ax.set_title("Chapter 6's recipe on Fashion-MNIST")
    ax.grid(True, axis="y")
    return fig


if __name__ == "__main__":
    p = common.parser(__doc__, epochs=10)
    p.add_argument("--members", type=common.positive_int, default=5,
                   help="networks in the ensemble")
    p.add_argument("--only", type=int, nargs="+", default=None,
                   help="train these members (0-based) only, save them and stop")
    p.add_argument("--batch-size", type=common.positive_int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--method", choices=Ensemble.METHODS, default="average")
    out = p.parse_known_args()[0].out
    sys.exit(common.main(NAME, p, functools.partial(run, out=out), plot))

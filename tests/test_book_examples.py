"""The book's experiments (``examples/book/``) run as one command each on the real MNIST
sample with tiny settings, and write a readable PNG and JSON whose accuracies are
fractions of the real number of examples evaluated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "examples" / "book"
sys.path.insert(0, str(BOOK))

pytest.importorskip("matplotlib", reason="the book's programs draw their figures: "
                    "pip install 'nablanet[plot]'")

import common  # noqa: E402  (examples/book/common.py)
import learning_speed  # noqa: E402
import more_data  # noqa: E402

#: program, tiny arguments, and a function of its JSON giving
#: ``[(accuracy, examples it is a fraction of, lowest plausible value)]``
CASES = {
    "baseline": (["--epochs", "2", "--train-size", "3000"],
                 lambda r: [(r["final_accuracy"], r["n_test"], 0.4)]),
    "average_darkness": (["--train-size", "500"],
                         lambda r: [(r["accuracy"], r["n_test"], 0.12)]),
    "svm": (["--train-size", "500"], lambda r: [(r["accuracy"], r["n_test"], 0.75)]),
    "overfitting": (["--epochs", "2", "--train-size", "200"],
                    lambda r: [(a, n, 0.15) for run in r["runs"].values()
                               for a, n in ((run["final_test_accuracy"], r["n_test"]),
                                            (run["training_accuracy"][-1], r["n_train"]))]),
    "more_data": (["--epochs", "1000", "--train-size", "500"],
                  lambda r: [(a, r["n_validation"], 0.15)
                             for a in r["network_accuracy"] + r["svm_accuracy"]]),
    "multiple_eta": (["--epochs", "2", "--train-size", "300"], lambda r: []),
    "weight_initialization": (["--epochs", "2", "--train-size", "500"],
                              lambda r: [(acc[-1], r["n_validation"], 0.2)
                                         for acc in r["validation_accuracy"].values()]),
    "learning_speed": (["--epochs", "3", "--train-size", "200", "--depths", "2", "4"],
                       lambda r: []),
    "conv": (["--epochs", "1", "--train-size", "100", "--eval-size", "200", "--members", "2"],
             lambda r: [(s["test_accuracy"], r["n_test"], 0.05) for s in r["stages"].values()]),
    "fashion": (["--epochs", "1", "--train-size", "100", "--members", "2"],
                lambda r: [(a, r["n_test"], 0.05)
                           for a in [*r["member_test_accuracy"], r["ensemble_test_accuracy"]]]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_program_writes_figure_and_numbers(name, tmp_path, mnist_10k_dir):
    from matplotlib.image import imread

    if name in ("svm", "more_data"):
        pytest.importorskip("sklearn", reason="the SVM baseline: pip install 'nablanet[sklearn]'")
    args, accuracies = CASES[name]
    done = subprocess.run([sys.executable, str(BOOK / f"{name}.py"), "--data",
                           str(mnist_10k_dir), "--seed", "3", "--out", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    image = imread(tmp_path / f"{name}.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image.std() > 0.01  # something drawn
    results = json.loads((tmp_path / f"{name}.json").read_text())
    assert results["experiment"] == name
    assert results["data_sizes"] == {"training": 6000, "validation": 2000, "test": 2000}
    assert results["options"]["seed"] == 3
    for accuracy, n, lowest in accuracies(results):
        assert lowest <= accuracy <= 1.0, (accuracy, n)
        assert accuracy * n == pytest.approx(round(accuracy * n), abs=1e-6)  # k / n
    if name == "multiple_eta":
        costs = results["training_cost"]
        assert list(costs) == ["0.025", "0.25", "2.5"] and all(len(c) == 2 for c in costs.values())
        assert costs["0.25"][-1] < costs["0.025"][0]  # it learns
    if name == "learning_speed":
        initial = results["initial_norms"]
        assert [len(initial[d]) for d in ("2", "4")] == [2, 4]
        assert len(results["norms"]["4"]) == 3
        # the book's finding: deeper layers of the four learn faster, the first slowest
        assert initial["4"] == sorted(initial["4"]) and initial["4"][-1] > 20 * initial["4"][0]
    if name == "conv":
        assert list(results["stages"]) == list(
            ["shallow", "conv", "dbl_conv", "relu", "expanded", "double_fc", "dropout",
             "ensemble"])
        assert results["n_test"] == 200 and results["n_train_expanded"] == 5 * 100
        assert len(results["stages"]["ensemble"]["member_test_accuracy"]) == 2


def test_gradient_norms_are_the_books_average_over_backprop(mnist_10k):
    """The chapter-5 measure equals the book's: the per-example ``backprop`` bias
    gradients averaged over the images, then the length per hidden layer."""
    from nablanet.book import network2

    X, y = mnist_10k[0][:40], mnist_10k[1][:40]
    net = network2.Network([784, 30, 30, 30, 10], seed=2)
    sums = [np.zeros_like(b) for b in net.biases]
    for x, label in zip(X, y, strict=True):
        for s, nabla_b in zip(sums, net.backprop(x, int(label))[0], strict=True):
            s += nabla_b
    expected = [np.linalg.norm(s / len(X)) for s in sums[:-1]]
    assert learning_speed.hidden_bias_gradient_norms(net, (X, y)) == pytest.approx(
        expected, rel=1e-10)


def test_more_data_sizes_follow_the_book_up_to_the_training_set():
    assert more_data.sizes_for(6000) == [100, 200, 500, 1000, 2000, 5000, 6000]
    assert more_data.sizes_for(50000) == [*more_data.SIZES[:-1], 50000]
    assert more_data.sizes_for(150) == [100, 150]


def test_accuracy_is_a_fraction_of_the_real_size():
    assert common.accuracy([1, 2, 3], [1, 2, 0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize("argv, message", [
    (["--data", "no-such-dir"], "no-such-dir"),
    (["--epochs", "0"], "expected an integer >= 1"),
])
def test_user_mistake_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    import average_darkness

    p = common.parser(average_darkness.__doc__, epochs=1)
    try:
        status = common.main("average_darkness", p, average_darkness.run,
                             average_darkness.plot, [*argv, "--out", str(tmp_path)])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_fashion_members_trained_apart_are_loaded_not_trained_again(tmp_path, mnist_10k_dir):
    # a long run split over processes: --only trains and saves its members and stops;
    # the run without it trains the missing ones and reports the ensemble of all
    def run(*args):
        done = subprocess.run([sys.executable, str(BOOK / "fashion.py"), "--data",
                               str(mnist_10k_dir), "--out", str(tmp_path), "--epochs", "1",
                               "--train-size", "60", "--members", "2", *args],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "member 1: training" in run("--only", "1")
    assert (tmp_path / "fashion-member-1.safetensors").exists()
    assert not (tmp_path / "fashion-member-0.safetensors").exists()
    log = run()
    assert "member 0: training" in log and "member 1: training" not in log
    results = json.loads((tmp_path / "fashion.json").read_text())
    assert [m["member"] for m in results["members"]] == [0, 1]
    assert len(results["member_test_accuracy"]) == 2

"""Shared fixtures: the real MNIST sample, a small synthetic IDX directory, the
converted JapaneseVowels CSV files, and a real Dask cluster on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nablanet.datasets.idx import read_idx, write_idx

#: 10,000 real MNIST images shipped next to the repository (not part of it).
MNIST_10K = Path(__file__).resolve().parents[2] / "shared/data/mnist-10k"

SRC = Path(__file__).resolve().parents[1] / "src"
#: the environment of a subprocess that runs this tree's nablanet
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
    "NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"}


@pytest.fixture(scope="session")
def mnist_10k_dir() -> Path:
    """The directory holding ``mnist10k-images-idx3-ubyte.gz`` and its labels."""
    if not (MNIST_10K / "mnist10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST sample not found at {MNIST_10K}")
    return MNIST_10K


@pytest.fixture(scope="session")
def mnist_10k(mnist_10k_dir):
    """``(X (10000, 784) float64 in [0, 1], y (10000,) int64)`` read with the IDX reader."""
    images = read_idx(mnist_10k_dir / "mnist10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_10k_dir / "mnist10k-labels-idx1-ubyte.gz")
    X = images.reshape(len(images), -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` learnable fake 28x28 uint8 images: class k lights rows 2k..2k+2; plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for k in range(10):
        images[labels == k, 2 * k + 3:2 * k + 6, 4:24] = 230
    return images, labels


@pytest.fixture(scope="session")
def make_images():
    """The :func:`fake_images` generator, for tests that need images in memory."""
    return fake_images


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory) -> Path:
    """A directory with the four standard MNIST file names: 240 training and 60 test
    fake images (gzip'd IDX, as the real files)."""
    d = tmp_path_factory.mktemp("idx")
    for prefix, n, seed in (("train", 240, 0), ("t10k", 60, 1)):
        images, labels = fake_images(n, seed)
        write_idx(d / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return d


@pytest.fixture(scope="session")
def japanese_vowels(tmp_path_factory) -> tuple[Path, Path]:
    """``(train_csv, test_csv)`` of JapaneseVowels converted from the copy aeon ships."""
    pytest.importorskip("aeon")
    from nablanet.datasets.convert import convert_japanese_vowels

    return convert_japanese_vowels(tmp_path_factory.mktemp("jv"))


# ------------------------------------------------------------------------------------
# A real Dask cluster
# ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A ``dask scheduler`` and ``n`` single-threaded ``dask worker`` processes (no nanny,
    so that killing a worker's process kills the worker) on 127.0.0.1."""

    def __init__(self, n_workers: int, cwd: Path):
        dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        log = open(cwd / "dask.log", "ab")
        self.log = log
        self.scheduler = subprocess.Popen(
            [*dask, "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            cwd=cwd, env=ENV, stdout=log, stderr=log)
        self.workers = {}  # address -> process
        for _ in range(n_workers):
            address = f"tcp://127.0.0.1:{free_port()}"
            self.workers[address] = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                 "--worker-port", address.rsplit(":", 1)[1]],
                cwd=cwd, env=ENV, stdout=log, stderr=log)
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=120)

    def close(self) -> None:
        """Kill the workers (a graceful close waits for the scheduler), then stop the
        scheduler."""
        for proc in self.workers.values():
            proc.kill()
            proc.wait()
        self.scheduler.terminate()
        try:
            self.scheduler.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.scheduler.kill()
            self.scheduler.wait()
        self.log.close()


@pytest.fixture
def dask_cluster(tmp_path):
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes on
    127.0.0.1 (:class:`Cluster`), closed after the test."""
    pytest.importorskip("distributed")
    c = Cluster(2, tmp_path)
    yield c
    c.close()

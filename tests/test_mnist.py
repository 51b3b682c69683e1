"""MNIST loaders: search order, download and verification, IDX folders, the book's pickle.

Downloads go to a local HTTP server on 127.0.0.1 serving small fake files; every test
runs with the cache directory in a temporary folder and the mirror pointed at a closed
local port, so nothing here reaches the internet.
"""

import gzip
import hashlib
import http.server
import logging
import os
import pickle
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nablanet.datasets import mnist
from nablanet.datasets.idx import read_idx, write_idx
from nablanet.datasets.mnist import (
    FILES,
    ImageData,
    load_book_pickle,
    load_fashion_mnist,
    load_idx_dir,
    load_images,
    load_mnist,
)

SAMPLE_DIR = Path(__file__).parents[2] / "shared/data/mnist-10k"
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port: nothing listens, connection refused


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache directory, no $NABLANET_DATA, no system packages, no internet."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(mnist, "user_cache_dir", lambda appname: str(cache / appname))
    monkeypatch.delenv("NABLANET_DATA", raising=False)
    monkeypatch.setenv("NABLANET_MNIST_MIRROR", CLOSED_PORT)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setitem(mnist.SYSTEM_DIRS, "fashion-mnist", ())
    return cache / "nablanet"


def make_dataset(directory: Path, n_train=6, n_test=4, seed=0, gz=True) -> dict:
    """Write the four standard files with random 28 x 28 images; return the arrays by file."""
    rng = np.random.default_rng(seed)
    arrays = dict(
        zip(
            FILES,
            [
                rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, n_train, dtype=np.uint8),
                rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, n_test, dtype=np.uint8),
            ],
            strict=True,
        )
    )
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(directory / (name if gz else name.removesuffix(".gz")), array, compress=gz)
    return arrays


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_matches(data: ImageData, arrays: dict, dtype=np.float64):
    train_images, train_labels, test_images, test_labels = arrays.values()
    for X, images in ((data.X_train, train_images), (data.X_test, test_images)):
        assert X.dtype == dtype and X.shape == (len(images), 784)
        np.testing.assert_allclose(X, images.reshape(len(images), -1) / 255, rtol=1e-6)
    for y, labels in ((data.y_train, train_labels), (data.y_test, test_labels)):
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving the standard files, their SHA-256 in the table."""
    root = tmp_path / "served"
    arrays = make_dataset(root)
    monkeypatch.setitem(mnist.SHA256, "mnist", {name: sha256(root / name) for name in FILES})
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_request(self, code="-", size="-"):
            requested.append(self.path)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}/"
    monkeypatch.setenv("NABLANET_MNIST_MIRROR", url)
    yield SimpleNamespace(root=root, url=url, arrays=arrays, requested=requested)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_then_cache(server, isolated, caplog):
    caplog.set_level(logging.INFO, logger="nablanet")
    data = load_mnist()
    assert_matches(data, server.arrays)
    cache = isolated / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    assert sorted(server.requested) == sorted(f"/{name}" for name in FILES)
    assert str(cache) in data.source
    assert "downloaded" in caplog.text

    again = load_mnist()
    assert len(server.requested) == 4  # nothing downloaded the second time
    assert_matches(again, server.arrays)
    assert f"loading from {cache} (user cache)" in caplog.text


def test_next_mirror_when_one_is_down(server, monkeypatch):
    monkeypatch.setenv("NABLANET_MNIST_MIRROR", f"{CLOSED_PORT} {server.url}")
    assert_matches(load_mnist(dtype=np.float32), server.arrays, np.float32)


@pytest.mark.parametrize("bad", [FILES[0], FILES[3]])
def test_checksum_mismatch_leaves_nothing(server, isolated, monkeypatch, bad):
    monkeypatch.setitem(mnist.SHA256["mnist"], bad, "0" * 64)
    with pytest.raises(ValueError, match=f"{bad}: the download does not match") as info:
        load_mnist()
    assert "0" * 64 in str(info.value)
    cache = isolated / "mnist"
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == sorted(FILES[: FILES.index(bad)])  # the verified ones, no partial file


def test_download_failure(server):
    (server.root / FILES[1]).unlink()
    with pytest.raises(ConnectionError, match=f"{FILES[1]}: download failed.*404"):
        load_mnist()


def test_offline_lists_places(tmp_path, monkeypatch, isolated):
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path / "given", offline=True)
    message = str(info.value)
    assert "offline" in message and FILES[0] in message
    for place in (tmp_path / "given", tmp_path / "data" / "mnist", isolated / "mnist"):
        assert str(place) in message


def test_search_order(tmp_path, monkeypatch, isolated, caplog):
    given = make_dataset(tmp_path / "given", n_train=3)
    env = make_dataset(tmp_path / "data" / "mnist", n_train=5, gz=False)
    cached = make_dataset(isolated / "mnist", n_train=7)
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "data"))
    assert_matches(load_mnist(tmp_path / "given", offline=True), given)
    assert_matches(load_mnist(offline=True), env)
    with caplog.at_level(logging.WARNING):
        assert_matches(load_mnist(tmp_path / "empty", offline=True), env)
    assert "does not hold" in caplog.text
    monkeypatch.delenv("NABLANET_DATA")
    assert_matches(load_mnist(offline=True), cached)


def test_fashion_mnist_system_dir(tmp_path, monkeypatch, isolated):
    system = make_dataset(tmp_path / "usr-share", n_train=2)
    monkeypatch.setitem(mnist.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "usr-share",))
    data = load_fashion_mnist(offline=True)
    assert_matches(data, system)
    cached = make_dataset(isolated / "fashion-mnist", n_train=3)
    assert_matches(load_fashion_mnist(offline=True), cached)  # the cache comes first
    with pytest.raises(FileNotFoundError):
        load_mnist(offline=True)  # the Fashion-MNIST system directory is not MNIST's


def test_debian_fashion_mnist_readable():
    labels_path = Path("/usr/share/datasets/fashion-mnist") / FILES[3]
    if not labels_path.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    labels = read_idx(labels_path)
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))


def test_bad_dtype(tmp_path):
    make_dataset(tmp_path)
    with pytest.raises(ValueError, match="float32 or float64"):
        load_mnist(tmp_path, dtype=np.int32)


def indexed_pair(directory: Path, n: int, prefix="digits") -> None:
    """One images/labels pair whose image i has pixel (0, 0) = i, to recover indices."""
    images = np.zeros((n, 4, 5), np.uint8)
    images[:, 0, 0] = np.arange(n)
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)


def test_idx_dir_single_pair_holdout(tmp_path):
    indexed_pair(tmp_path, 50)
    data = load_idx_dir(tmp_path, test_fraction=0.2, seed=3)
    train = np.rint(data.X_train[:, 0] * 255).astype(int)
    test = np.rint(data.X_test[:, 0] * 255).astype(int)
    assert data.X_train.shape == (40, 20) and data.X_test.shape == (10, 20)
    assert data.image_shape == (4, 5)
    assert sorted([*train, *test]) == list(range(50))
    assert list(train) == sorted(train) and list(test) == sorted(test)
    np.testing.assert_array_equal(data.y_test, test % 10)
    same = load_idx_dir(tmp_path, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(same.X_test, data.X_test)
    other = load_idx_dir(tmp_path, test_fraction=0.2, seed=4)
    assert not np.array_equal(other.X_test, data.X_test)


def test_idx_dir_shared_sample():
    if not SAMPLE_DIR.exists():
        pytest.skip(f"shared MNIST sample not found at {SAMPLE_DIR}")
    data = load_images(str(SAMPLE_DIR), dtype=np.float32, test_fraction=0.1)
    assert data.X_train.shape == (9000, 784) and data.X_test.shape == (1000, 784)
    assert data.X_train.dtype == np.float32 and data.X_train.max() == 1.0
    assert set(np.unique(data.y_train)) == set(range(10))


def test_idx_dir_train_and_test_pairs(tmp_path):
    arrays = make_dataset(tmp_path, gz=False)
    os.rename(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-images.idx3-ubyte")
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", arrays[FILES[2]])  # also gzip'd: one file
    data = load_idx_dir(tmp_path)
    assert_matches(data, arrays)


def test_train_and_test_images_of_other_sizes_are_refused(tmp_path):
    for prefix, shape in (("train", (6, 4, 5)), ("t10k", (3, 5, 4))):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros(shape, np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(shape[0], np.uint8))
    with pytest.raises(ValueError, match=r"t10k-images.*5 x 4 pixels.*train-images.* 4 x 5"):
        load_idx_dir(tmp_path)


def test_idx_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_idx_dir(tmp_path / "nope")
    with pytest.raises(ValueError, match="no images/labels pair"):
        load_idx_dir(tmp_path)
    indexed_pair(tmp_path / "three", 5, "a")
    indexed_pair(tmp_path / "three", 5, "b-train")
    indexed_pair(tmp_path / "three", 5, "c-test")
    with pytest.raises(ValueError, match="ambiguous image files"):
        load_idx_dir(tmp_path / "three")

    mismatch = tmp_path / "mismatch"
    indexed_pair(mismatch, 5)
    write_idx(mismatch / "digits-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="4 labels for the 5 images"):
        load_idx_dir(mismatch)

    flat = tmp_path / "flat"
    indexed_pair(flat, 5)
    write_idx(flat / "digits-images-idx3-ubyte.gz", np.zeros((5, 20), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, rows, columns\), found uint8 of shape"):
        load_idx_dir(flat)

    indexed_pair(tmp_path / "one", 1)
    with pytest.raises(ValueError, match="at least one example for training and one"):
        load_idx_dir(tmp_path / "one")


def book_pickle(path: Path, sizes=(5, 3, 2)) -> tuple:
    """A small file in the format of the book's mnist.pkl.gz (NumPy 1 names, protocol 2)."""
    rng = np.random.default_rng(0)
    splits = tuple(
        (rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n, dtype=np.int64))
        for n in sizes
    )
    data = pickle.dumps(splits, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    path.write_bytes(gzip.compress(data))
    return splits


def test_book_pickle(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    expected = book_pickle(path)
    loaded = load_book_pickle(path)
    assert len(loaded) == 3
    for (X, y), (X0, y0) in zip(loaded, expected, strict=True):
        assert X.dtype == np.float64 and y.dtype == np.int64
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(y, y0)
    data = load_images(str(path), dtype=np.float32)
    assert data.X_train.shape == (5, 784) and data.X_test.shape == (2, 784)
    assert data.X_train.dtype == np.float32
    np.testing.assert_array_equal(data.y_test, expected[2][1])


def test_book_expanded_pickle_of_lists_and_numpy_labels(tmp_path):
    """``expand_mnist.py`` pickles its training set as ``[list of images, list of
    numpy.int64 labels]``: read as arrays, still with the restricted unpickler."""
    path = tmp_path / "mnist_expanded.pkl.gz"
    splits = book_pickle(tmp_path / "mnist.pkl.gz")
    X, y = splits[0]
    expanded = [list(X), list(y)]  # what [list(d) for d in zip(*pairs)] gives
    assert isinstance(expanded[1][0], np.int64)
    data = pickle.dumps((expanded, splits[1], splits[2]), protocol=2)
    path.write_bytes(gzip.compress(data.replace(b"numpy._core.", b"numpy.core.")))
    (X1, y1), *_ = load_book_pickle(path)
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(y1, y)
    assert y1.dtype == np.int64


def test_book_pickle_refuses_non_numeric_scalars_and_ragged_lists(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps((np.str_("x"),) * 3, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load a NumPy scalar of dtype"):
        load_book_pickle(path)
    ragged = ([np.zeros(3), np.zeros(4)], [np.int64(1), np.int64(2)])
    path.write_bytes(pickle.dumps((ragged,) * 3, protocol=2))
    with pytest.raises(ValueError, match="the training set must be a pair"):
        load_book_pickle(path)


class Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_book_pickle_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(Exploit(marker), protocol=2)))
    with pytest.raises(
        ValueError, match=r"evil.pkl.gz: cannot unpickle.*refusing to load .*system"
    ):
        load_book_pickle(path)
    assert not marker.exists()


def test_book_pickle_wrong_content(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps((1, 2)))
    with pytest.raises(ValueError, match=r"expected a tuple \(training, validation, test\)"):
        load_book_pickle(path)
    path.write_bytes(pickle.dumps((np.zeros((2, 3)),) * 3))
    with pytest.raises(ValueError, match="the training set must be a pair"):
        load_book_pickle(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"other\.pkl: cannot unpickle"):
        load_book_pickle(path)


def test_load_images_dispatch(tmp_path, monkeypatch):
    arrays = make_dataset(tmp_path / "data" / "mnist")
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "data"))
    assert_matches(load_images("mnist", offline=True), arrays)
    assert_matches(load_images(tmp_path / "data" / "mnist"), arrays)
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        load_images("fashion-mnist", offline=True)
    indexed_pair(tmp_path / "single", 10)
    assert len(load_images(str(tmp_path / "single"), test_fraction=0.3).y_test) == 3
    with pytest.raises(ValueError, match=r"unknown image data set 'mnsit'.*'fashion-mnist'"):
        load_images("mnsit")
    with pytest.raises(FileNotFoundError, match=r"no/such/dir"):
        load_images("no/such/dir")
    with pytest.raises(FileNotFoundError, match=r"missing\.pkl\.gz"):
        load_images("missing.pkl.gz")
    with pytest.raises(ValueError, match="unknown image data set"):
        load_images(str(tmp_path / "single" / "digits-labels-idx1-ubyte.gz"))


@pytest.mark.parametrize("shape", [(0, 28, 28), (5, 0, 28), (5, 28, 0)])
def test_zero_images_refused_clearly(tmp_path, shape):
    write_idx(tmp_path / "digits-images-idx3-ubyte.gz", np.zeros(shape, np.uint8))
    write_idx(tmp_path / "digits-labels-idx1-ubyte.gz", np.zeros(shape[0], np.uint8))
    dims = "x".join(map(str, shape))
    with pytest.raises(ValueError, match=rf"digits-images-idx3-ubyte\.gz: no images: the header "
                                         rf"declares {dims} \(images x rows x columns\)"):
        load_idx_dir(tmp_path)


def test_read_image_file(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    write_idx(tmp_path / "x-idx3-ubyte.gz", images.astype(np.uint8))
    np.save(tmp_path / "x.npy", images / 255)
    np.save(tmp_path / "ints.npy", images.reshape(2, -1).astype(np.int64))
    for name in ("x-idx3-ubyte.gz", "x.npy", "ints.npy"):
        X = mnist.read_image_file(tmp_path / name, n_pixels=784, dtype=np.float32)
        assert X.shape == (2, 784) and X.dtype == np.float32
        np.testing.assert_allclose(X, images.reshape(2, -1) / 255, rtol=1e-6)


@pytest.mark.parametrize(
    ("array", "error", "message"),
    [
        (np.full((2, 784), np.nan), ValueError, r"1568 non-finite values .* \(0, 0\) is nan"),
        (np.full((2, 784), 3.0), ValueError, r"floats in \[0, 1\]"),
        (np.full((2, 784), 300), ValueError, r"integers 0\.\.255"),
        (np.zeros((0, 784)), ValueError, "no images"),
        (np.zeros((2, 784), complex), TypeError, "complex"),
        (np.zeros((2, 100)), ValueError, "expected 784 pixels per image"),
    ],
)
def test_read_image_file_refuses(tmp_path, array, error, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(error, match=r"^\S*bad\.npy: .*" + message):
        mnist.read_image_file(path, n_pixels=784)


# ------------------------------------------------------------------------------------
# A directory of .npy images and labels: the IDX directory's rules and pixel rule
# ------------------------------------------------------------------------------------
def _images_and_labels(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 4)).astype(np.uint8), rng.integers(0, 3, n)


@pytest.mark.parametrize("pixels", [False, True])
@pytest.mark.parametrize(("names", "layout"), [
    (("x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"), lambda x: x),
    (("train-images.npy", "train-labels.npy", "t10k-images.npy", "t10k-labels.npy"),
     lambda x: x.reshape(len(x), -1)),
    (("X_Train.npy", "Y_Train.npy", "X_Test.npy", "Y_Test.npy"), lambda x: x[:, None]),
])
def test_a_npy_directory_loads_as_the_same_idx_directory(tmp_path, names, layout, pixels):
    x, y = _images_and_labels()
    (tmp_path / "idx").mkdir()
    (tmp_path / "npy").mkdir()
    for (image_name, label_name), rows in ((names[:2], slice(0, 8)),
                                           (names[2:], slice(8, None))):
        np.save(tmp_path / "npy" / image_name, layout(x[rows]))
        np.save(tmp_path / "npy" / label_name, y[rows])
        role = "train" if rows.start == 0 else "t10k"
        write_idx(tmp_path / "idx" / f"{role}-images-idx3-ubyte", x[rows])
        write_idx(tmp_path / "idx" / f"{role}-labels-idx1-ubyte", y[rows].astype(np.uint8))
    got = load_idx_dir(tmp_path / "npy", pixels=pixels)
    want = load_idx_dir(tmp_path / "idx", pixels=pixels)
    assert got.image_shape == want.image_shape == (4, 4)
    for a, b in zip(got[:4], want[:4], strict=True):
        assert type(a) is type(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_one_npy_pair_is_split_and_float_pixels_are_used_as_they_are(tmp_path):
    x, y = _images_and_labels(10)
    floats = (x / 255.0).astype(np.float32)
    np.save(tmp_path / "x.npy", floats.reshape(10, -1))
    np.save(tmp_path / "y.npy", y.astype(np.int32))
    data = load_idx_dir(tmp_path, test_fraction=0.3, seed=2, dtype=np.float64)
    assert data.image_shape == (4, 4) and len(data.y_test) == 3
    both = np.concatenate([data.X_train, data.X_test])
    np.testing.assert_array_equal(np.sort(both.sum(axis=1)),
                                  np.sort(floats.reshape(10, -1).astype(np.float64).sum(axis=1)))
    assert data.X_train.dtype == np.float64 and data.y_train.dtype == np.int64


def test_a_npy_row_of_pixels_that_is_not_square_is_one_row(tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((4, 6), np.uint8))
    np.save(tmp_path / "labels.npy", np.arange(4))
    assert load_idx_dir(tmp_path, test_fraction=0.5).image_shape == (1, 6)


@pytest.mark.parametrize(("images", "labels", "message"), [
    (np.full((4, 2, 2), 1.5), np.arange(4), r"x.npy: expected pixel values as floats in "
                                            r"\[0, 1\]"),
    (np.full((4, 2, 2), 256, np.int16), np.arange(4), r"x.npy: expected pixel values as "
                                                      r"integers 0..255"),
    (np.zeros((4, 3, 2, 2), np.uint8), np.arange(4), r"x.npy: expected images of shape "
                                                     r"\(n, rows, columns\), \(n, 1, rows"),
    (np.zeros((4,), np.uint8), np.arange(4), r"x.npy: expected images of shape"),
    (np.zeros((0, 2, 2), np.uint8), np.arange(0), r"x.npy: no images"),
    (np.zeros((4, 2, 2), np.complex64), np.arange(4), "x.npy: expected integer pixel"),
    (np.zeros((4, 2, 2), np.uint8), np.arange(4.0), r"y.npy: expected integer labels of "
                                                    r"shape \(n,\), found float64"),
    (np.zeros((4, 2, 2), np.uint8), np.array([0, 1, -1, 2]), r"y.npy: expected class labels "
                                                             r"0, 1, ..., found -1 at index 2"),
    (np.zeros((4, 2, 2), np.uint8), np.arange(3), r"y.npy: 3 labels for the 4 images of"),
])
def test_bad_npy_images_and_labels_are_named(tmp_path, images, labels, message):
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    with pytest.raises((ValueError, TypeError), match=message):
        load_idx_dir(tmp_path)


def test_a_npy_header_declaring_too_much_is_refused_before_reading(tmp_path):
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 1000, 1000), }"
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little")
                                     + text)
    np.save(tmp_path / "y.npy", np.arange(4))
    with pytest.raises(ValueError, match=r"x.npy: too large: the header declares"):
        load_idx_dir(tmp_path)

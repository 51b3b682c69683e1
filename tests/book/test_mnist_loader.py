import gzip
import pickle

import numpy as np
import pytest

from nablanet.book import mnist_loader
from nablanet.datasets.idx import write_idx
from nablanet.datasets.mnist import load_images
from nablanet.validation import as_examples


def test_load_data_splits_a_single_pair_directory_as_documented(mnist_10k_dir):
    training, validation, test = mnist_loader.load_data(mnist_10k_dir)
    assert [len(y) for _, y in (training, validation, test)] == [6000, 2000, 2000]
    whole = load_images(mnist_10k_dir)  # the CLI's split: 8,000 / 2,000 held out
    assert np.array_equal(training[0], whole.X_train[:6000])
    assert np.array_equal(validation[1], whole.y_train[6000:])
    assert np.array_equal(test[0], whole.X_test)
    for X, y in (training, validation, test):
        assert X.shape == (len(y), 784) and X.dtype == np.float64
        assert 0.0 <= X.min() and X.max() <= 1.0 and y.dtype == np.int64
        assert set(np.unique(y)) == set(range(10))


def test_validation_set_is_the_end_of_the_training_files(idx_dir, monkeypatch):
    monkeypatch.setenv(mnist_loader.DATA_ENV, str(idx_dir))  # 240 training, 60 test images
    training, validation, test = mnist_loader.load_data(dtype=np.float32)
    whole = load_images(idx_dir, dtype=np.float32)
    assert [len(y) for _, y in (training, validation, test)] == [180, 60, 60]
    assert np.array_equal(validation[0], whole.X_train[180:])
    assert np.array_equal(test[1], whole.y_test)
    assert training[0].dtype == np.float32


def test_the_books_pickle_keeps_its_three_sets(tmp_path):
    rng = np.random.default_rng(0)
    sets = tuple((rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n))
                 for n in (7, 3, 2))
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)
    loaded = mnist_loader.load_data(path)
    for (X, y), (X0, y0) in zip(loaded, sets, strict=True):
        assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_a_training_set_no_larger_than_the_test_set_is_refused(tmp_path, make_images):
    for prefix in ("train", "t10k"):
        images, labels = make_images(20, 0)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match="expected more than 20 training examples, found 20"):
        mnist_loader.load_data(tmp_path)


def test_load_data_wrapper_gives_the_books_tuples(book_data):
    training_data, validation_data, test_data = book_data
    assert isinstance(training_data, list) and len(training_data[:1000]) == 1000
    x, y = training_data[5]
    assert x.shape == (784, 1) and y.shape == (10, 1) and y.sum() == 1.0
    labels = as_examples(validation_data, "v")[1]
    x, label = validation_data[0]
    assert x.shape == (784, 1) and int(label) == labels[0] and 0 <= label <= 9
    images = training_data[0][0].base  # every x is a view of one array, not a copy
    assert images is not None and all(x.base is images for x, _ in training_data[:50])
    assert len(test_data) == 2000


def test_vectorized_result():
    e = mnist_loader.vectorized_result(3)
    assert e.shape == (10, 1) and e[3, 0] == 1.0 and e.sum() == 1.0
    with pytest.raises(ValueError, match=r"j: expected class labels in 0\.\.9"):
        mnist_loader.vectorized_result(10)


def test_as_examples_takes_zip_objects_and_arrays():
    rng = np.random.default_rng(1)
    X, y = rng.random((4, 6)), np.array([0, 2, 1, 2])
    X2, y2 = as_examples(zip(X.reshape(4, 6, 1), y, strict=True), "data")
    assert np.array_equal(X2, X) and np.array_equal(y2, y)
    T = np.eye(3)[y][:, :, None]
    T3 = as_examples(zip(X.reshape(4, 6, 1), T, strict=True), "data")[1]
    assert T3.shape == (4, 3) and np.array_equal(T3.argmax(1), y)
    assert as_examples((X, y), "data")[0] is X


@pytest.mark.parametrize("data, found", [
    ([], "got none"),
    ([(np.zeros(3), 1), (np.zeros(4), 2)], "x of one size"),
    ([(np.zeros(3),)], "x of one size"),
])
def test_as_examples_names_the_argument(data, found):
    with pytest.raises(ValueError, match=f"training_data: .*{found}"):
        as_examples(data, "training_data")


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No $NABLANET_BOOK_DATA, $NABLANET_DATA, cache, system copy or network; the working
    directory is an empty ``book/src`` beside ``book/data``."""
    from nablanet.datasets import mnist

    monkeypatch.delenv(mnist_loader.DATA_ENV, raising=False)
    monkeypatch.delenv("NABLANET_DATA", raising=False)
    monkeypatch.setattr(mnist, "user_cache_dir", lambda appname: str(tmp_path / "cache"))
    monkeypatch.setitem(mnist.SYSTEM_DIRS, "mnist", ())
    monkeypatch.setenv("NABLANET_MNIST_MIRROR", "http://127.0.0.1:9/")  # nothing listens
    (tmp_path / "book" / "src").mkdir(parents=True)
    (tmp_path / "book" / "data").mkdir()
    monkeypatch.chdir(tmp_path / "book" / "src")
    return tmp_path / "book"


def test_the_books_data_file_is_found_from_its_src_directory(no_mnist):
    rng = np.random.default_rng(1)
    sets = tuple((rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n))
                 for n in (5, 4, 3))
    with gzip.open(no_mnist / "data" / "mnist.pkl.gz", "wb") as f:
        pickle.dump(sets, f, protocol=2)
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper(offline=True)
    assert [len(d) for d in (training_data, validation_data, test_data)] == [5, 4, 3]
    assert np.array_equal(test_data[2][0].ravel(), sets[2][0][2])


@pytest.mark.parametrize("offline, error", [(True, FileNotFoundError),
                                            (False, ConnectionError)])
def test_missing_data_error_says_how_to_give_it(no_mnist, offline, error):
    with pytest.raises(error) as info:
        mnist_loader.load_data(offline=offline)
    message = str(info.value)
    assert "path=" in message and "$NABLANET_BOOK_DATA" in message
    assert "mnist.pkl.gz" in message and str(no_mnist / "src") in message

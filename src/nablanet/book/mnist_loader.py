"""The book's ``mnist_loader``: MNIST in the forms Nielsen's code expects.

Nielsen, *Neural Networks and Deep Learning*, ch. 1 ("Implementing our network to
classify digits"): ``load_data()`` gives the three data sets as arrays,
``load_data_wrapper()`` as the lists of ``(x, y)`` tuples that ``network.py`` and
``network2.py`` train on. The book reads its own ``mnist.pkl.gz``; here the images come
from whatever :mod:`nablanet.datasets.mnist` finds or downloads, so the book's code runs
with only its import line changed::

    from nablanet.book import mnist_loader
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()

Where the data come from (the first that is given):

1. the ``path`` argument;
2. the environment variable ``$NABLANET_BOOK_DATA``;
3. the book's own file, ``../data/mnist.pkl.gz`` relative to the working directory,
   when it is there (the book's code runs from its ``src/``, next to ``data/``);
4. ``"mnist"``: :func:`nablanet.datasets.mnist.load_mnist` (``$NABLANET_DATA/mnist/``,
   the user cache, else a verified download). When that fails (offline, or no
   network), the error says how to give the data: ``path=``, ``$NABLANET_BOOK_DATA``
   or the book's ``../data/mnist.pkl.gz``.

A source is anything :func:`nablanet.datasets.mnist.load_images` accepts: ``"mnist"``,
``"fashion-mnist"`` (the book's code then classifies clothes), a directory of IDX files,
or the book's ``mnist.pkl.gz``.

How the three sets are made. The book's pickle holds them as they are. Otherwise the
source has a training and a test set, and the **validation set is the last
``len(test)`` examples of the training set**: for MNIST (60,000 / 10,000) that gives
the book's sizes, 50,000 / 10,000 / 10,000. A directory holding a single
images/labels pair, such as a 10,000-image subset of MNIST, is first split by
:func:`~nablanet.datasets.mnist.load_idx_dir` (a seeded random 20 % held out as the test
set, the same 2,000 images the CLI tests on); so 10,000 images give 6,000 training,
2,000 validation and 2,000 test examples. The loader logs the sizes it returns.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from nablanet.datasets.mnist import PICKLE_SUFFIXES, load_book_pickle, load_images
from nablanet.losses import one_hot

__all__ = ["BOOK_PICKLE", "DATA_ENV", "load_data", "load_data_wrapper", "vectorized_result"]

log = logging.getLogger(__name__)

#: environment variable naming the data source when ``path`` is not given
DATA_ENV = "NABLANET_BOOK_DATA"

#: the book's data file, relative to the working directory (the book's ``src/``)
BOOK_PICKLE = os.path.join("..", "data", "mnist.pkl.gz")

N_CLASSES = 10


def load_data(path=None, *, offline: bool = False, dtype=np.float64):
    """The training, validation and test sets as arrays (the book's ``load_data``).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The data source (see the module docstring); default ``$NABLANET_BOOK_DATA``,
        else the book's ``../data/mnist.pkl.gz`` when it exists, else ``"mnist"``.
    offline : bool, default False
        Never download.
    dtype : {numpy.float64, numpy.float32}
        dtype of the images.

    Returns
    -------
    tuple
        ``(training_data, validation_data, test_data)``, each a tuple ``(X, y)``: ``X``
        ``(n, 784)`` of ``dtype`` in [0, 1] (one image per row) and ``y`` int64 ``(n,)``
        in 0..9. ``n`` is 50,000, 10,000 and 10,000 for MNIST.

    Raises
    ------
    FileNotFoundError, ValueError, ConnectionError
        As :func:`nablanet.datasets.mnist.load_images` and
        :func:`~nablanet.datasets.mnist.load_book_pickle`; ``ValueError`` also when the
        training set is not larger than the test set (no room for a validation set).
        When the default ``"mnist"`` cannot be found or downloaded, the message also
        names the ``path`` argument, ``$NABLANET_BOOK_DATA`` and ``../data/mnist.pkl.gz``.
    """
    source = _source(path)
    if source.endswith(PICKLE_SUFFIXES):
        sets = load_book_pickle(source, dtype=dtype)
    else:
        try:
            data = load_images(source, offline=offline, dtype=dtype)
        except (FileNotFoundError, ConnectionError) as err:
            if source != "mnist":
                raise
            raise type(err)(
                f"{err}. Give the book's data another way: load_data(path=...) (the "
                f"book's mnist.pkl.gz, a directory of IDX files, or \"fashion-mnist\"), "
                f"the environment variable ${DATA_ENV}, or {BOOK_PICKLE} from the "
                f"working directory ({os.getcwd()})"
            ) from None
        n_val = len(data.y_test)
        n_train = len(data.y_train) - n_val
        if n_train < 1:
            raise ValueError(
                f"{data.source}: the validation set is the last {n_val} training examples "
                f"(as many as the test set); expected more than {n_val} training "
                f"examples, found {len(data.y_train)}"
            )
        X, y = data.X_train, data.y_train
        sets = ((X[:n_train], y[:n_train]), (X[n_train:], y[n_train:]),
                (data.X_test, data.y_test))
    log.info("book data from %s: %d training, %d validation, %d test examples", source,
             *(len(y) for _, y in sets))
    return sets


def load_data_wrapper(path=None, *, offline: bool = False, dtype=np.float64):
    """The three sets as lists of ``(x, y)`` tuples (the book's ``load_data_wrapper``).

    Parameters
    ----------
    path, offline, dtype
        As :func:`load_data`.

    Returns
    -------
    tuple of lists
        ``(training_data, validation_data, test_data)``. ``training_data`` holds tuples
        ``(x, y)`` with ``x`` an image as a column ``(784, 1)`` and ``y`` the one-hot
        column ``(10, 1)`` of its digit; ``validation_data`` and ``test_data`` hold
        ``(x, label)`` with ``label`` an integer. Lists, so the book's
        ``training_data[:1000]`` works; every ``x`` is a view into one array, so the
        lists cost little more memory than the images.

    Raises
    ------
    FileNotFoundError, ValueError, ConnectionError
        As :func:`load_data`.
    """
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = load_data(path, offline=offline, dtype=dtype)
    targets = one_hot(y_tr, N_CLASSES, dtype, "training labels")[:, :, None]
    training_data = list(zip(_columns(X_tr), targets, strict=True))
    validation_data = list(zip(_columns(X_va), y_va, strict=True))
    test_data = list(zip(_columns(X_te), y_te, strict=True))
    return training_data, validation_data, test_data


def vectorized_result(j: int) -> np.ndarray:
    """The one-hot column ``(10, 1)`` float64 with a 1.0 in row ``j`` (the book's).

    Raises
    ------
    ValueError
        If ``j`` is not an integer in 0..9.
    """
    return one_hot(np.asarray(j), N_CLASSES, np.float64, "j").reshape(N_CLASSES, 1)


def _source(path) -> str:
    """The data source: ``path``, ``$NABLANET_BOOK_DATA``, the book's pickle, ``mnist``."""
    if path is not None:
        return os.fspath(path)
    if os.environ.get(DATA_ENV):
        return os.environ[DATA_ENV]
    return BOOK_PICKLE if os.path.isfile(BOOK_PICKLE) else "mnist"


def _columns(X: np.ndarray) -> np.ndarray:
    """``(n, k, 1)`` view of the rows of ``X``: iterating gives the book's columns."""
    return X.reshape(len(X), -1, 1)

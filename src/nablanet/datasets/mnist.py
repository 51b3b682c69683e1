"""MNIST and Fashion-MNIST: find, download, verify and load; other IDX folders; the book's pickle.

Every loader returns images flattened to ``(n, 784)`` (``(n, rows * columns)`` in
general), scaled from 0..255 to [0, 1] in float64 (float32 on request), and labels as
int64 ``(n,)``, bundled in an :class:`ImageData`. With ``pixels=True`` the IDX loaders
keep the images as their uint8 bytes, a :class:`~nablanet.datasets.pixels.Pixels` that
stands for the same floats (8 times less memory in float64; models convert them a
mini-batch at a time, with the same results bit for bit).

MNIST: LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/.
Fashion-MNIST: Xiao, Rasul and Vollgraf (2017), https://github.com/zalandoresearch/fashion-mnist.
The book's ``mnist.pkl.gz``: Nielsen, "Neural Networks and Deep Learning", ch. 1,
https://github.com/mnielsen/neural-networks-and-deep-learning.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import logging
import math
import os
import pickle
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pooch
from platformdirs import user_cache_dir

from nablanet.datasets.idx import GZIP_MAGIC, read_idx
from nablanet.datasets.npy import read_npy
from nablanet.datasets.pixels import Pixels
from nablanet.validation import as_images

__all__ = [
    "ImageData",
    "image_source",
    "load_book_pickle",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_images",
    "load_mnist",
    "read_image_file",
]

log = logging.getLogger(__name__)

#: The four files of MNIST and of Fashion-MNIST, in the order train images, train
#: labels, test images, test labels.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: Base URLs tried in order. ``$NABLANET_MNIST_MIRROR`` (one or more base URLs separated
#: by spaces) replaces them, e.g. to point at a local server.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
MIRROR_ENV = "NABLANET_MNIST_MIRROR"
DATA_ENV = "NABLANET_DATA"

#: SHA-256 of the files as distributed upstream; a download must match.
SHA256 = {
    "mnist": {  # 9912422, 28881, 1648877 and 4542 bytes
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    "fashion-mnist": {  # 26421880, 29515, 4422102 and 5148 bytes
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
}

#: Directories of system packages holding the four files. Debian's
#: ``dataset-fashion-mnist`` recompressed them (same IDX content, different gzip bytes),
#: so files found locally are checked by the IDX reader, not by SHA-256.
SYSTEM_DIRS = {
    "mnist": (),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

PICKLE_SUFFIXES = (".pkl.gz", ".pkl")

#: File names (in lower case) of the images and the labels in a directory of IDX or
#: ``.npy`` files (see :func:`load_idx_dir`)
IMAGE_FILES = ("*images*idx3*", "*images*.npy", "x.npy", "x_*.npy", "x-*.npy")
LABEL_FILES = ("*labels*idx1*", "*labels*.npy", "y.npy", "y_*.npy", "y-*.npy")


class ImageData(NamedTuple):
    """A labelled image data set, split into training and test sets.

    Attributes
    ----------
    X_train : numpy.ndarray or Pixels
        ``(n_train, n_pixels)`` float64 or float32 in [0, 1]; ``n_pixels`` is 784 for
        28 x 28 images, rows concatenated. A :class:`~nablanet.datasets.pixels.Pixels`
        (uint8 bytes standing for those floats) when loaded with ``pixels=True``.
    y_train : numpy.ndarray
        ``(n_train,)`` int64 class labels (0..9 for MNIST and Fashion-MNIST).
    X_test : numpy.ndarray
        ``(n_test, n_pixels)``, same dtype as ``X_train``.
    y_test : numpy.ndarray
        ``(n_test,)`` int64.
    source : str
        Where the data came from, for logs and reports.
    image_shape : tuple of int
        ``(rows, columns)`` of every image: ``n_pixels`` is their product.
    """

    X_train: np.ndarray | Pixels
    y_train: np.ndarray
    X_test: np.ndarray | Pixels
    y_test: np.ndarray
    source: str
    image_shape: tuple[int, int] = (28, 28)


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, found {dtype}")
    return dtype


def _npy_images(images: np.ndarray, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """The images of a ``.npy`` file as ``(n, pixels)`` and their ``(rows, columns)``:
    ``(n, rows, columns)``, ``(n, 1, rows, columns)`` (channel first) or ``(n, pixels)``
    (square when ``pixels`` is, else one row)."""
    shape = images.shape
    if images.ndim == 4 and shape[1] == 1:
        image_shape = (shape[2], shape[3])
    elif images.ndim == 3:
        image_shape = (shape[1], shape[2])
    elif images.ndim == 2:
        side = math.isqrt(shape[1])
        image_shape = (side, side) if side * side == shape[1] else (1, shape[1])
    else:
        raise ValueError(f"{path}: expected images of shape (n, rows, columns), (n, 1, "
                         f"rows, columns) or (n, pixels), found {shape}")
    if images.size == 0:
        raise ValueError(f"{path}: no images: the array has shape {shape}")
    return images.reshape(len(images), -1), image_shape


def _load_pair(images_path: Path, labels_path: Path, dtype: np.dtype,
               pixels: bool = False) -> tuple[np.ndarray | Pixels, np.ndarray, tuple[int, int]]:
    """Read an images/labels pair, IDX (uint8 images) or ``.npy`` (uint8, other integer
    or float images, see :func:`_npy_images`): ``(n, rows * columns)`` in [0, 1] (floats
    by the rule of :func:`nablanet.validation.as_images`, or :class:`Pixels` for uint8
    pixels when ``pixels``), int64 labels ``(n,)`` and ``(rows, columns)``. A ``.npy``
    file is read by :func:`~nablanet.datasets.npy.read_npy`, which checks its header
    against a size bound before it allocates anything."""
    if images_path.suffix == ".npy":
        images, shape = _npy_images(read_npy(images_path), images_path)
    else:
        images = read_idx(images_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"{images_path}: expected uint8 images of shape (n, rows, columns), "
                f"found {images.dtype} of shape {images.shape}"
            )
        if images.size == 0:
            raise ValueError(
                f"{images_path}: no images: the header declares "
                f"{'x'.join(map(str, images.shape))} (images x rows x columns)"
            )
        shape = (images.shape[1], images.shape[2])
        images = images.reshape(len(images), -1)
    labels = read_npy(labels_path) if labels_path.suffix == ".npy" else read_idx(labels_path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{labels_path}: expected integer labels of shape (n,), "
            f"found {labels.dtype} of shape {labels.shape}"
        )
    if len(labels) and labels.min() < 0:
        raise ValueError(f"{labels_path}: expected class labels 0, 1, ..., found "
                         f"{labels.min()} at index {int(labels.argmin())}")
    if len(labels) != len(images):
        raise ValueError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}"
        )
    if pixels and images.dtype == np.uint8:
        return Pixels(images, dtype), labels.astype(np.int64), shape
    return as_images(images, str(images_path), dtype=dtype), labels.astype(np.int64), shape


def read_image_file(path, *, n_pixels: int | None = None, dtype=np.float64) -> np.ndarray:
    """Read images to predict on from an IDX file or a ``.npy`` array, checked and scaled.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (read by :func:`nablanet.datasets.npy.read_npy`), anything else is
        read as IDX (:func:`nablanet.datasets.idx.read_idx`, raw or gzip). The array is
        ``(n, rows, columns)`` or ``(n, pixels)``.
    n_pixels : int, optional
        Pixels per image the model expects; checked when given.
    dtype : {numpy.float64, numpy.float32}
        dtype of the result.

    Returns
    -------
    numpy.ndarray
        ``(n, pixels)`` of ``dtype`` in [0, 1]: integer pixels 0..255 divided by 255,
        float pixels as they are (the rule of :func:`nablanet.validation.as_images`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is malformed or too large (see the readers), or its images are
        empty, not finite (count and first index), outside 0..255 (integers) or [0, 1]
        (floats), or do not have ``n_pixels`` pixels. Every message starts with the path.
    TypeError
        If the array is complex, boolean or otherwise not real numbers.
    """
    path = Path(path)
    array = read_npy(path) if path.suffix == ".npy" else read_idx(path)
    return as_images(array, str(path), n_pixels=n_pixels, dtype=_float_dtype(dtype))


def _standard_files(directory: Path) -> list[Path] | None:
    """The four standard files in ``directory`` (each gzip'd or not), or None if any is missing."""
    found = []
    for name in FILES:
        candidates = [directory / name, directory / name.removesuffix(".gz")]
        present = [p for p in candidates if p.is_file()]
        if not present:
            return None
        found.append(present[0])
    return found


def _read_standard(files: list[Path], dtype: np.dtype, source: str,
                   pixels: bool = False) -> ImageData:
    train_images, train_labels, test_images, test_labels = files
    X_train, y_train, shape = _load_pair(train_images, train_labels, dtype, pixels)
    X_test, y_test, test_shape = _load_pair(test_images, test_labels, dtype, pixels)
    if test_shape != shape:
        raise ValueError(
            f"{test_images}: images of {test_shape[0]} x {test_shape[1]} pixels, but the "
            f"training images of {train_images} are {shape[0]} x {shape[1]}"
        )
    return ImageData(X_train, y_train, X_test, y_test, source, shape)


def _cache_dir(name: str) -> Path:
    return Path(user_cache_dir("nablanet")) / name


def _places(name: str, path) -> list[tuple[str, Path]]:
    """Where to look for the four files, in order, each with where that place came from."""
    places = []
    if path is not None:
        places.append(("path argument", Path(path).expanduser()))
    if os.environ.get(DATA_ENV):
        places.append((f"${DATA_ENV}", Path(os.environ[DATA_ENV]).expanduser() / name))
    places.append(("user cache", _cache_dir(name)))
    places.extend(("system package", directory) for directory in SYSTEM_DIRS[name])
    return places


@contextlib.contextmanager
def _pooch_quiet():
    """Silence pooch's own INFO messages; this module logs its downloads itself."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fetch(fname: str, sha256: str, mirrors: tuple[str, ...], directory: Path) -> None:
    """Download one file into ``directory`` from the first mirror that serves it intact."""
    failures, mismatch = [], False
    for base in mirrors:
        url = f"{base.rstrip('/')}/{fname}"
        log.info("fetching %s into %s", url, directory)
        try:
            # pooch downloads to a temporary name in `directory`, checks the hash, then
            # renames: a failed or corrupt download leaves nothing behind.
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=fname, path=directory,
                           progressbar=sys.stderr.isatty())
            return
        except OSError as err:  # requests' exceptions are OSErrors
            failures.append(f"{url}: {err}")
        except ValueError:  # pooch's hash mismatch
            mismatch = True
            failures.append(f"{url}: SHA-256 mismatch")
    if mismatch:
        raise ValueError(
            f"{fname}: the download does not match the expected SHA-256 {sha256} "
            f"and was discarded ({'; '.join(failures)})"
        )
    raise ConnectionError(
        f"{fname}: download failed ({'; '.join(failures)}); put the four files in "
        f"${DATA_ENV}/<name>/ or point ${MIRROR_ENV} at a mirror"
    )


def _load_named(name: str, path, offline: bool, dtype, pixels: bool = False) -> ImageData:
    dtype = _float_dtype(dtype)
    places = _places(name, path)
    if path is not None and _standard_files(places[0][1]) is None:
        log.warning("%s: %s does not hold %s; searching further", name, path, ", ".join(FILES))
    for origin, directory in places:
        files = _standard_files(directory)
        if files is not None:
            log.info("%s: loading from %s (%s)", name, directory, origin)
            return _read_standard(files, dtype, f"{name}: {directory}", pixels)
    if offline:
        searched = ", ".join(f"{directory} ({origin})" for origin, directory in places)
        raise FileNotFoundError(
            f"{name}: {', '.join(FILES)} not found and offline=True forbids downloading; "
            f"searched {searched}"
        )
    cache = _cache_dir(name)
    mirrors = tuple(os.environ.get(MIRROR_ENV, "").split()) or MIRRORS[name]
    with _pooch_quiet():
        for fname in FILES:
            _fetch(fname, SHA256[name][fname], mirrors, cache)
    log.info("%s: downloaded to %s", name, cache)
    files = _standard_files(cache)
    assert files is not None  # _fetch has put all four there
    return _read_standard(files, dtype, f"{name}: {cache}", pixels)


def load_mnist(path=None, *, offline=False, dtype=np.float64, pixels=False) -> ImageData:
    """Load MNIST: 60000 training and 10000 test images of handwritten digits.

    The four files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, each also accepted
    without ``.gz``) are looked for, in order, in

    1. ``path``;
    2. ``$NABLANET_DATA/mnist/``;
    3. the user cache directory, ``platformdirs.user_cache_dir("nablanet")/mnist/``;

    and otherwise downloaded into the cache from :data:`MIRRORS` (or
    ``$NABLANET_MNIST_MIRROR``), each file checked against its SHA-256 in :data:`SHA256`.
    The place used is logged.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the four files.
    offline : bool, default False
        Never download; fail if the files are nowhere to be found.
    dtype : {numpy.float64, numpy.float32}
        dtype of the images.
    pixels : bool, default False
        Keep the images as uint8 bytes: ``X_train`` and ``X_test`` are
        :class:`~nablanet.datasets.pixels.Pixels` standing for the floats.

    Returns
    -------
    ImageData
        ``X_train`` ``(60000, 784)`` and ``X_test`` ``(10000, 784)`` in [0, 1] of
        ``dtype``; ``y_train`` ``(60000,)`` and ``y_test`` ``(10000,)`` int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        With ``offline=True``, if no place holds the four files; the message lists the
        places searched.
    ValueError
        If ``dtype`` is not float32 or float64, a file is not valid IDX (see
        :func:`~nablanet.datasets.idx.read_idx`), or a download does not match its
        SHA-256 (the corrupt download is deleted).
    ConnectionError
        If a file could be downloaded from no mirror.
    """
    return _load_named("mnist", path, offline, dtype, pixels)


def load_fashion_mnist(path=None, *, offline=False, dtype=np.float64,
                       pixels=False) -> ImageData:
    """Load Fashion-MNIST: 60000 training and 10000 test images of clothes, 10 classes.

    Same files, shapes, search order and errors as :func:`load_mnist`, with ``mnist``
    replaced by ``fashion-mnist`` in the directory names, and one more place searched
    before downloading: ``/usr/share/datasets/fashion-mnist/`` (Debian's
    ``dataset-fashion-mnist`` package). Labels 0..9 are T-shirt/top, trouser, pullover,
    dress, coat, sandal, shirt, sneaker, bag, ankle boot.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the four files.
    offline : bool, default False
        Never download.
    dtype : {numpy.float64, numpy.float32}
        dtype of the images.
    pixels : bool, default False
        As :func:`load_mnist`.

    Returns
    -------
    ImageData
        As :func:`load_mnist`.

    Raises
    ------
    FileNotFoundError, ValueError, ConnectionError
        As :func:`load_mnist`.
    """
    return _load_named("fashion-mnist", path, offline, dtype, pixels)


def _role(path: Path) -> str | None:
    name = path.name.lower()
    if "train" in name:
        return "train"
    if "t10k" in name or "test" in name:
        return "test"
    return None


def _only(files: list[Path], role: str) -> Path | None:
    """The one file of ``files`` whose name says ``role`` ("train" or "test"), else None."""
    chosen = [p for p in files if _role(p) == role]
    return chosen[0] if len(chosen) == 1 else None


def _holdout(X, y, test_fraction: float,
             seed) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(X, y)`` at random into training and test sets; each keeps the file order."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, found {test_fraction}")
    n_test = round(len(y) * test_fraction)
    if not 0 < n_test < len(y):
        raise ValueError(
            f"test_fraction={test_fraction} of {len(y)} examples holds out {n_test}; "
            "need at least one example for training and one for testing"
        )
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return X[train], y[train], X[test], y[test]


def load_idx_dir(directory, *, test_fraction=0.2, seed=1, dtype=np.float64,
                 pixels=False) -> ImageData:
    """Load any directory of IDX or ``.npy`` images and labels.

    Images are IDX files named ``*images*idx3*`` and labels ``*labels*idx1*``, gzip'd or
    raw (of a file present both raw and as ``.gz``, the ``.gz`` is used), or ``.npy``
    files named ``*images*.npy`` or ``x*.npy`` and ``*labels*.npy`` or ``y*.npy``
    (``x_train.npy``, ``y_train.npy``, ...; names compared in lower case). With one pair,
    a random ``test_fraction`` of it is held out as the test set. With two pairs, the
    one whose names contain ``train`` is the training set and the one whose names
    contain ``t10k`` or ``test`` the test set.

    Parameters
    ----------
    directory : str or os.PathLike
        The directory.
    test_fraction : float, default 0.2
        Fraction of a single pair held out for testing, rounded to whole examples; 0:
        none, every example is a test example (and the training set is empty).
    seed : int or None, default 1
        Seed of the ``numpy.random.Generator`` that draws the held-out examples; the
        same seed gives the same split.
    dtype : {numpy.float64, numpy.float32}
        dtype of the images.
    pixels : bool, default False
        As :func:`load_mnist`.

    Returns
    -------
    ImageData
        Images ``(n, rows * columns)`` in [0, 1] of ``dtype`` (uint8 pixels divided by
        255), labels int64 ``(n,)``. Examples keep the order of the files.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a directory.
    ValueError
        If no images/labels pair is found, the files are ambiguous (neither one pair nor
        a train and a test pair), IDX images are not uint8 ``(n, rows, columns)``,
        ``.npy`` images are not ``(n, rows, columns)``, ``(n, 1, rows, columns)`` or
        ``(n, pixels)`` of integers 0..255 or floats in [0, 1], labels are not integers
        ``(n,)`` >= 0, their counts differ, ``test_fraction`` leaves an empty set, or a
        file is not valid IDX or ``.npy`` (or larger than
        :data:`nablanet.datasets.npy.MAX_BYTES`); every message names the file.
    """
    dtype = _float_dtype(dtype)
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    files = [p for p in files if p.with_name(p.name + ".gz") not in files]
    images = [p for p in files if any(fnmatch(p.name.lower(), f) for f in IMAGE_FILES)]
    labels = [p for p in files if any(fnmatch(p.name.lower(), f) for f in LABEL_FILES)]
    found = f"found images {[p.name for p in images]}, labels {[p.name for p in labels]}"
    if not images or not labels:
        raise ValueError(
            f"{directory}: no images/labels pair (IDX files named *images*idx3* and "
            f"*labels*idx1*, raw or .gz, or .npy files named *images*.npy or x*.npy and "
            f"*labels*.npy or y*.npy); {found}"
        )
    if len(images) == len(labels) == 1:
        X, y, shape = _load_pair(images[0], labels[0], dtype, pixels)
        if test_fraction == 0:
            log.info("%s: all %d examples, none held out", directory, len(y))
            return ImageData(X[:0], y[:0], X, y,
                             f"{directory} ({images[0].name}, all {len(y)} examples)", shape)
        log.info("%s: holding out %g of %d examples for testing", directory, test_fraction, len(y))
        return ImageData(
            *_holdout(X, y, test_fraction, seed),
            f"{directory} ({images[0].name}, {test_fraction:g} held out, seed {seed})",
            shape,
        )
    ordered = [
        _only(images, "train"),
        _only(labels, "train"),
        _only(images, "test"),
        _only(labels, "test"),
    ]
    present = [p for p in ordered if p is not None]
    if len(images) == len(labels) == 2 and len(present) == len(ordered):
        log.info("%s: training on %s, testing on %s", directory, present[0].name, present[2].name)
        return _read_standard(present, dtype, str(directory), pixels)
    raise ValueError(
        f"{directory}: ambiguous image files: expected one images/labels pair, or a train "
        f"pair and a test pair (names containing 'train', and 't10k' or 'test'); {found}"
    )


def _numeric_scalar(dtype, data=None):
    """A NumPy scalar from a pickle (``numpy.int64(3)`` pickles as ``scalar(dtype, bytes)``),
    built only for boolean, integer and float dtypes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing to load a NumPy scalar of dtype {dtype!r}: "
                                     "only numbers are allowed")
    return _SCALAR(dtype, data)


# The callables a pickle of NumPy arrays and numbers needs, under the module names NumPy 1
# and 2 use. The labels of the book's ``mnist_expanded.pkl.gz`` are NumPy scalars.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_SCALAR = np.int64(0).__reduce__()[0]
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _numeric_scalar,
    ("numpy._core.multiarray", "scalar"): _numeric_scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(text, "latin1").
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays, numeric NumPy scalars, tuples and lists, and
    refuses every other global."""

    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only NumPy arrays and numbers are allowed"
            ) from None


def _stacked(pair) -> tuple:
    """``(images, labels)`` of a pickled pair as arrays: ``expand_mnist.py`` writes its
    training set as ``[list of (784,) arrays, list of NumPy integer labels]``. Anything
    that does not stack into a numeric array comes back as None (refused by the caller)."""
    out = []
    for part in pair:
        if isinstance(part, list) and part and all(
                isinstance(v, np.ndarray | np.number | int) for v in part):
            try:
                part = np.stack([np.asarray(v) for v in part])
            except ValueError:  # rows of different lengths
                part = None
        out.append(part if isinstance(part, np.ndarray) and part.dtype.kind in "biuf"
                   else None)
    return tuple(out)


def load_book_pickle(path, *, dtype=np.float64):
    """Load the book's ``mnist.pkl.gz``: MNIST split 50000 / 10000 / 10000.

    The file (Nielsen, "Neural Networks and Deep Learning", ch. 1, ``data/mnist.pkl.gz``)
    is a gzip'd Python 2 pickle of ``(training_data, validation_data, test_data)``, each
    ``(images, labels)`` with images float32 ``(n, 784)`` in [0, 1] and labels int64
    ``(n,)``. The book's ``expand_mnist.py`` writes ``mnist_expanded.pkl.gz`` the same
    way but its training set as lists (of ``(784,)`` image arrays and of NumPy integer
    labels); those are read too. It is unpickled with an unpickler that only builds
    NumPy arrays, numeric NumPy scalars, tuples and lists, so a pickle that would run
    code is refused. A file that is not gzip'd is read as a plain pickle.

    Parameters
    ----------
    path : str or os.PathLike
        The pickle.
    dtype : {numpy.float64, numpy.float32}
        dtype of the returned images.

    Returns
    -------
    tuple
        ``(training, validation, test)``, each a tuple ``(X, y)``: ``X`` ``(n, 784)`` of
        ``dtype`` and ``y`` int64 ``(n,)``; n is 50000, 10000 and 10000 in the book's file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be unpickled, refers to anything but NumPy arrays, or does not
        hold three ``(images (n, pixels), labels (n,))`` pairs; the message names the file.
    """
    dtype = _float_dtype(dtype)
    path = Path(path).expanduser()
    with path.open("rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        try:
            data = _ArrayUnpickler(stream, encoding="latin1").load()
        except Exception as err:
            raise ValueError(f"{path}: cannot unpickle: {type(err).__name__}: {err}") from None
    if not (isinstance(data, tuple) and len(data) == 3):
        raise ValueError(
            f"{path}: expected a tuple (training, validation, test), found {data!r:.80}"
        )
    splits = []
    for split, pair in zip(("training", "validation", "test"), data, strict=True):
        X, y = _stacked(pair) if isinstance(pair, tuple | list) and len(pair) == 2 \
            else (None, None)
        if not (
            isinstance(X, np.ndarray)
            and isinstance(y, np.ndarray)
            and X.ndim == 2
            and y.ndim == 1
            and len(X) == len(y)
            and y.dtype.kind in "iu"
        ):
            raise ValueError(
                f"{path}: the {split} set must be a pair (images (n, pixels), integer labels "
                f"(n,)), found {pair!r:.80}"
            )
        splits.append((X.astype(dtype), y.astype(np.int64)))
    return tuple(splits)


def load_images(spec, *, offline=False, dtype=np.float64, test_fraction=0.2, seed=1,
                pixels=False) -> ImageData:
    """Load an image data set named on the command line.

    Parameters
    ----------
    spec : str or os.PathLike
        ``"mnist"`` (:func:`load_mnist`), ``"fashion-mnist"`` (:func:`load_fashion_mnist`),
        a directory (its four standard files if present, else :func:`load_idx_dir`: IDX or
        ``.npy`` images and labels), or a
        book pickle ``*.pkl.gz`` / ``*.pkl`` (:func:`load_book_pickle`; its 50000
        training and 10000 test examples; its 10000 validation examples are left out,
        :func:`load_book_pickle` returns them).
    offline : bool, default False
        Never download (``mnist`` and ``fashion-mnist`` only).
    dtype : {numpy.float64, numpy.float32}
        dtype of the images.
    test_fraction : float, default 0.2
        For a directory with a single images/labels pair: the fraction held out (0: all
        of it is the test set).
    seed : int, default 1
        For a directory with a single pair: the seed of the held-out draw (the same
        default as the command line's ``--seed``, so both hold out the same images).
    pixels : bool, default False
        IDX images as uint8 :class:`~nablanet.datasets.pixels.Pixels` (see
        :func:`load_mnist`); a book pickle holds floats and gives them as they are.

    Returns
    -------
    ImageData
        Images ``(n, pixels)`` in [0, 1] of ``dtype``, labels int64 ``(n,)``.

    Raises
    ------
    FileNotFoundError
        If ``spec`` looks like a path (contains a path separator or ends in ``.pkl.gz``
        or ``.pkl``) and does not exist, or as the loader it dispatches to.
    ValueError
        If ``spec`` is neither a known name nor an existing directory or pickle, or as
        the loader it dispatches to.
    """
    kind = image_source(spec)
    if kind in ("mnist", "fashion-mnist"):
        load = load_mnist if kind == "mnist" else load_fashion_mnist
        return load(offline=offline, dtype=dtype, pixels=pixels)
    path = Path(os.fspath(spec)).expanduser()
    if kind == "directory":
        files = _standard_files(path)
        if files is None:
            return load_idx_dir(path, test_fraction=test_fraction, seed=seed, dtype=dtype,
                                pixels=pixels)
        log.info("loading %s", path)
        return _read_standard(files, _float_dtype(dtype), str(path), pixels)
    (X_train, y_train), validation, (X_test, y_test) = load_book_pickle(path, dtype=dtype)
    log.info("%s: book pickle; its %d validation examples are left out", path, len(validation[1]))
    return ImageData(X_train, y_train, X_test, y_test, f"{path} (book pickle)")


def image_source(spec) -> str:
    """What the :func:`load_images` ``spec`` names, found without reading it: ``"mnist"``,
    ``"fashion-mnist"``, ``"directory"`` or ``"pickle"``.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_images`, for a ``spec`` that names no data set.
    """
    if spec in ("mnist", "fashion-mnist"):
        return spec
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return "directory"
    is_pickle = path.name.endswith(PICKLE_SUFFIXES)
    if path.is_file() and is_pickle:
        return "pickle"
    if not path.exists() and (is_pickle or "/" in text or os.sep in text):
        raise FileNotFoundError(f"{text}: no such file or directory")
    raise ValueError(
        f"unknown image data set {text!r}: expected 'mnist', 'fashion-mnist', a directory "
        "of IDX or .npy files, or the book's pickle (*.pkl.gz)"
    )

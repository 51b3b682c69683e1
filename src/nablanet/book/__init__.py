"""Nielsen's *Neural Networks and Deep Learning*, runnable on nablanet.

The book's modules under their own names, so that the book's code runs with one import
line changed (``import network2`` -> ``from nablanet.book import network2``):

- :mod:`~nablanet.book.mnist_loader`: ``load_data()``, ``load_data_wrapper()``;
- :mod:`~nablanet.book.network`: chapter 1's ``Network`` (nablanet's own, seeded as the
  book seeds);
- :mod:`~nablanet.book.network2`: chapter 3's ``Network`` with cost classes, L2,
  weight initializers, monitoring, and the book's JSON ``save``/``load``;
- :mod:`~nablanet.book.network3`: chapter 6's convolutional ``Network`` (when the layers
  it builds on are installed).

The book prints its progress; nablanet logs it (logger ``nablanet``). So that a reader
sees the book's lines, importing this package sends nablanet's INFO messages to stdout,
bare, when logging is not configured yet (no handler on the root or the ``nablanet``
logger). Configure logging before this import to decide otherwise.

The book's scripts seed the global generators (``random.seed(12345678)``,
``np.random.seed(12345678)``) and then build a network; ``network.Network``,
``network2.Network`` and ``network3.Network`` honour that habit: given no ``seed=``, they
draw their seed from both global generators (:func:`seed_from_globals`), so a script that
seeds both, as the book's do, runs the same twice.
"""

import contextlib
import logging
import random
import sys

import numpy as np

__all__ = ["library_lines_off", "seed_from_globals"]


def _show_log_lines() -> None:
    """Print nablanet's INFO lines on stdout unless the program configured logging."""
    logger = logging.getLogger("nablanet")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


@contextlib.contextmanager
def library_lines_off():
    """Hold nablanet's own INFO lines (the per-epoch line of ``fit``) back while the
    book's loop, which trains one epoch per ``fit``, logs the book's lines."""
    logger = logging.getLogger("nablanet")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def seed_from_globals(seed: int | None) -> int:
    """``seed`` itself, or, when it is None, a seed drawn from the global generators the
    book seeds: 31 bits from NumPy's (``np.random.seed``) and 32 from Python's
    (``random.seed``), so that seeding both, as the book's scripts do, fixes the result.

    Parameters
    ----------
    seed : int or None
        An explicit seed (returned unchanged; the global generators are not touched).

    Returns
    -------
    int
        A seed in ``[0, 2**63)`` for :func:`numpy.random.default_rng` when ``seed`` is
        None (one draw from each global generator, as the book's code would make).
    """
    if seed is not None:
        return seed
    return (int(np.random.randint(2**31)) << 32) | random.getrandbits(32)  # noqa: NPY002


_show_log_lines()

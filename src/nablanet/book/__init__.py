"""Nielsen's *Neural Networks and Deep Learning*, runnable on nablanet.

The book's modules under their own names, so that the book's code runs with one import
line changed (``import network2`` -> ``from nablanet.book import network2``):

- :mod:`~nablanet.book.mnist_loader`: ``load_data()``, ``load_data_wrapper()``;
- :mod:`~nablanet.book.network`: chapter 1's ``Network`` (nablanet's own);
- :mod:`~nablanet.book.network2`: chapter 3's ``Network`` with cost classes, L2,
  weight initializers, monitoring, and the book's JSON ``save``/``load``;
- :mod:`~nablanet.book.network3`: chapter 6's convolutional ``Network`` (when the layers
  it builds on are installed).

The book prints its progress; nablanet logs it (logger ``nablanet``). So that a reader
sees the book's lines, importing this package sends nablanet's INFO messages to stdout,
bare, when logging is not configured yet (no handler on the root or the ``nablanet``
logger). Configure logging before this import to decide otherwise.
"""

import contextlib
import logging
import sys

__all__ = ["library_lines_off"]


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


_show_log_lines()

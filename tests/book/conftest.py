"""The book's data forms of the real MNIST sample, loaded once per session."""

from __future__ import annotations

import pytest

from nablanet.book import mnist_loader


@pytest.fixture(scope="session")
def book_data(mnist_10k_dir):
    """``load_data_wrapper()`` of the 10,000-image sample: 6,000 / 2,000 / 2,000."""
    return mnist_loader.load_data_wrapper(mnist_10k_dir)

"""Fuzz the file readers a user's input reaches: every case ends accepted or refused cleanly.

A case is a mutated valid file (Hypothesis draws the mutations, see ``harness.py``),
run in a worker subprocess capped at ``RLIMIT_AS`` (2 GiB) with a per-case time limit.
It must either be accepted with a result that meets the reader's contract, or raise one
of the reader's documented exception types with the file's name in the message. A
MemoryError, another exception type, a message without the file name, a hang or a
crash fails the test; Hypothesis then shrinks the case to a minimal file.

Run with ``make fuzz-ci`` (the fixed cases, about a minute) or ``make fuzz`` (a longer
random run for releases); see ``conftest.py`` for the settings.
"""

from __future__ import annotations

import pytest
from hypothesis import given, seed, settings
from tests.fuzz.harness import (
    CLEAN,
    CSV_TOKENS,
    IDX_TOKENS,
    SEED,
    TALLY_PATH,
    classify,
    csv_seeds,
    gzipped,
    idx_seeds,
    model_cases,
    model_seeds,
    mutated,
    npy_cases,
)

pytestmark = pytest.mark.fuzz

def fuzz(test):
    """The suite's Hypothesis settings, and the seed when one is given."""
    test = settings(settings.get_profile("nablanet-fuzz"))(test)
    return seed(int(SEED))(test) if SEED is not None else test


def check(worker, tally, scratch, target: str, name: str, data: bytes) -> None:
    """Run one case; count its outcome; fail on an unclean one unless only counting."""
    path = scratch / name
    path.write_bytes(data)
    answer = worker.run(target, path)
    outcome = classify(target, answer, path)
    tally.add(target, outcome, answer, data)
    if not TALLY_PATH:
        assert outcome in CLEAN, f"{outcome}: {answer}"


@fuzz
@given(data=gzipped(mutated(idx_seeds(), IDX_TOKENS)))
def test_idx_reader(worker, tally, scratch, data):
    check(worker, tally, scratch, "idx", "fuzz-images-idx3-ubyte", data)


@fuzz
@given(data=npy_cases())
def test_npy_images(worker, tally, scratch, data):
    check(worker, tally, scratch, "images", "fuzz-images.npy", data)


@fuzz
@given(data=mutated(csv_seeds(), CSV_TOKENS))
def test_sequence_csv_reader(worker, tally, scratch, data):
    check(worker, tally, scratch, "csv", "fuzz-sequences.csv", data)


@pytest.fixture(scope="module")
def seeds_of_models(tmp_path_factory):
    return model_seeds(tmp_path_factory.mktemp("fuzz-models"))


def test_model_loader(worker, tally, scratch, seeds_of_models):
    @fuzz
    @given(data=model_cases(seeds_of_models))
    def run(data):
        check(worker, tally, scratch, "model", "fuzz-model.safetensors", data)

    run()

"""Fuzz suite fixtures: the capped worker, the scratch directory, the tally, the settings.

The options (cases per target, seed, tally file, time limit, memory cap) come from the
environment; see :mod:`tests.fuzz.harness`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, settings
from tests.fuzz.harness import (
    EXAMPLES,
    MEMORY,
    SEED,
    TALLY,
    TALLY_PATH,
    TIMEOUT,
    Worker,
)

settings.register_profile(
    "nablanet-fuzz",
    max_examples=EXAMPLES,
    derandomize=SEED is None,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="session")
def same_cases():
    """Draw the same cases whatever the code under test.

    Hypothesis mixes literals found in the code under test (nablanet's modules) into its
    draws, so a change to nablanet would change the cases. Freezing that out (a private
    hook, guarded: without it the suite still runs, with code-dependent cases), the same
    seed draws the same cases before and after a fix; the tally's inputs_sha256 shows it.
    """
    with pytest.MonkeyPatch.context() as patch:
        with contextlib.suppress(ImportError, AttributeError):
            from hypothesis.internal.conjecture import providers

            none = type(providers._local_constants)()
            patch.setattr(providers, "_get_local_constants", lambda: none)
            providers.CONSTANTS_CACHE.cache.clear()
        yield


@pytest.fixture(scope="session")
def worker(tmp_path_factory, same_cases):
    """The capped worker process, shared by every fuzz test of the session."""
    log = tmp_path_factory.mktemp("fuzz-log") / "worker-stderr.txt"
    w = Worker(MEMORY, TIMEOUT, log)
    yield w
    w.close()


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    """Where each case's file is written (one file per target, overwritten per case)."""
    return tmp_path_factory.mktemp("fuzz-cases")


@pytest.fixture(scope="session")
def tally():
    """Outcome counts of the session, written to ``$NABLANET_FUZZ_TALLY`` at the end."""
    yield TALLY
    if TALLY_PATH:
        Path(TALLY_PATH).write_text(json.dumps(TALLY.as_dict(), indent=1) + "\n")


def pytest_terminal_summary(terminalreporter):
    if not TALLY.counts:
        return
    terminalreporter.section("fuzz outcomes (cases per target)")
    seed = f"seed {SEED}" if SEED is not None else "derandomized (the same cases every run)"
    terminalreporter.write_line(f"{EXAMPLES} cases per target, {seed}")
    for target, row in TALLY.as_dict().items():
        counts = ", ".join(f"{k} {v}" for k, v in row.items() if k != "examples" and v)
        terminalreporter.write_line(f"{target}: {counts}")
        for kind, example in row["examples"].items():
            terminalreporter.write_line(f"    first {kind}: {example}")

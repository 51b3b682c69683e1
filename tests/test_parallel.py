import pytest

from nablanet import parallel
from nablanet.parallel import MIN_ROWS, row_parts, run_parts, split_workers, workers


def test_split_workers_needs_a_splittable_model_and_enough_rows(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    assert split_workers(None, 64, True) == (4 if parallel.AUTO_SPLIT else 1)
    monkeypatch.setattr(parallel, "AUTO_SPLIT", True)
    assert split_workers(None, 64, True) == 4  # every core
    assert split_workers(None, 40, True) == 40 // MIN_ROWS  # at least MIN_ROWS rows each
    assert split_workers(2, 64, True) == 2  # threads= overrides
    assert split_workers(None, 2 * MIN_ROWS - 1, True) == 1
    assert split_workers(4, 64, False) == 1  # nothing to split: threads go to BLAS


def test_row_parts_cover_the_batch_in_near_equal_parts():
    assert row_parts(64) == [(0, 64)]  # outside a workers() block: no split
    with workers(3):
        assert row_parts(50) == [(0, 16), (16, 33), (33, 50)]
        assert row_parts(40) == [(0, 20), (20, 40)]  # at most one part per MIN_ROWS rows
        assert row_parts(2 * MIN_ROWS - 1) == [(0, 2 * MIN_ROWS - 1)]
    assert row_parts(50) == [(0, 50)]


def test_run_parts_runs_every_part_and_reraises_a_workers_error():
    seen = []
    run_parts(seen.append, 3)
    assert sorted(seen) == [0, 1, 2]

    def fail(k):
        if k == 2:
            raise RuntimeError("part 2 failed")

    with pytest.raises(RuntimeError, match="part 2 failed"):
        run_parts(fail, 3)

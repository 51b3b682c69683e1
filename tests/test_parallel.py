import numpy as np
import pytest

from nablanet import GRU, LSTM, parallel
from nablanet.models.sequential import Sequential
from nablanet.models.spec import parse_layers
from nablanet.optimizers import SGD, Adam
from nablanet.parallel import MIN_ROWS, row_parts, run_parts, split_workers, workers


def test_split_workers_needs_a_trainer_that_splits_enough_rows_and_enough_work(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    big = parallel.MIN_PART_MACS  # multiply-adds per row: any share of rows holds enough
    assert split_workers(None, 64, big) == 4  # every core (here 4)
    assert split_workers(None, 40, big) == 40 // MIN_ROWS  # at least MIN_ROWS rows each
    assert split_workers(None, 2 * MIN_ROWS - 1, big) == 1
    assert split_workers(2, 64, big) == 2  # threads= overrides
    assert split_workers(4, 64, None) == 1  # a whole-epoch kernel: threads go to BLAS
    # without threads=, only as many workers as each get MIN_PART_MACS of work
    per_row = parallel.MIN_PART_MACS // 16  # 16 rows of it: just enough for one worker
    assert split_workers(None, 64, per_row) == 4
    assert split_workers(None, 48, per_row) == 3
    assert split_workers(None, 64, per_row // 2) == 2
    assert split_workers(None, 64, per_row // 4 - 1) == 1
    assert split_workers(3, 64, 1) == 3  # asked for: split however little the work


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


# ------------------------------------------------------------------------------------
# fit with a mini-batch's rows split across workers: the one-worker weights
# ------------------------------------------------------------------------------------
def _fit_split_and_not(make, data: tuple, fit_args: dict, monkeypatch) -> list:
    """The models trained with ``threads=1`` and ``threads=3`` (the second checked to
    have split its mini-batches), each with its history."""
    from nablanet.models import gradient_step

    parts: list[int] = []
    real = gradient_step.run_parts
    monkeypatch.setattr(gradient_step, "run_parts",
                        lambda fn, n: (parts.append(n), real(fn, n)))
    runs = []
    for threads in (1, 3):
        parts.clear()
        model = make()
        history = model.fit(*data, threads=threads, progress=False, **fit_args)
        assert (max(parts) if parts else 1) == threads
        runs.append((model, history))
    return runs


def _assert_same_training(runs, atol: float) -> None:
    (a, ha), (b, hb) = runs
    for p, q in zip(a.params(), b.params(), strict=True):
        np.testing.assert_allclose(p, q, rtol=0, atol=atol)
    for ours, theirs in zip(ha.epochs, hb.epochs, strict=True):  # the recorded outputs too
        for k in ours:
            if k != "seconds":
                assert ours[k] == pytest.approx(theirs[k], rel=1e-10, abs=1e-12), k


def test_a_split_conv_net_with_dropout_trains_the_one_worker_weights(monkeypatch):
    # batches of 48 rows: 3 parts of 16, the last batch of 4 unsplit; dropout draws the
    # whole batch's mask once, so every part sees the unsplit masks
    rng = np.random.default_rng(0)
    X, y = rng.random((100, 1, 10, 10)), rng.integers(0, 3, 100)

    def make():
        layers = parse_layers("conv:4x3x3,pool:2,dropout:0.3,dense:12,dropout:0.5,softmax:3",
                              (1, 10, 10), seed=1)
        return Sequential(layers, output_activation="softmax", loss="cross_entropy",
                          optimizer=Adam(0.01), seed=2)

    runs = _fit_split_and_not(make, (X, y), {"epochs": 2, "batch_size": 48,
                                             "validation_split": 0.2}, monkeypatch)
    _assert_same_training(runs, 1e-12)


def test_split_recurrent_rows_with_masks_and_sample_weights_train_the_one_worker_weights(
        monkeypatch):
    rng = np.random.default_rng(1)
    n, T = 70, 5
    X = rng.standard_normal((n, T, 3))
    mask = np.arange(T) < rng.integers(1, T + 1, n)[:, None]
    Y = rng.standard_normal((n, T, 2))
    weight = rng.random(n) + 0.5
    for cls in (GRU, LSTM):
        def make(cls=cls):
            return cls(3, 6, 2, num_layers=2, optimizer=SGD(0.05), seed=3)

        runs = _fit_split_and_not(make, (X, Y, mask), {
            "epochs": 2, "batch_size": 48, "sample_weight": weight, "backend": "numpy"},
            monkeypatch)
        _assert_same_training(runs, 1e-12)


def test_fit_splits_by_itself_only_where_each_worker_gets_enough_work(monkeypatch):
    from nablanet.models import gradient_step

    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    parts: list[int] = []
    real = gradient_step.run_parts
    monkeypatch.setattr(gradient_step, "run_parts",
                        lambda fn, n: (parts.append(n), real(fn, n)))
    rng = np.random.default_rng(2)
    X, y = rng.random((64, 40)), rng.integers(0, 2, 64)
    small = Sequential(parse_layers("dense:8,softmax:2", (40,), seed=0),
                       output_activation="softmax", loss="cross_entropy")
    small.fit(X, y, epochs=1, batch_size=64, progress=False)
    assert parts == []  # 32 rows x 336 multiply-adds: one worker
    monkeypatch.setattr(parallel, "MIN_PART_MACS", 32 * 336)
    small.fit(X, y, epochs=1, batch_size=64, progress=False)
    assert parts == [2]  # the same work, now enough for each of two workers


def test_a_blas_thread_limit_the_user_set_holds_the_split_too():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        assert parallel.available_cores() == 1
        assert split_workers(None, 64, parallel.MIN_PART_MACS) == 1
        assert split_workers(2, 64, parallel.MIN_PART_MACS) == 2  # threads= still splits

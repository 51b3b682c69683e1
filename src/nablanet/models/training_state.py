"""Where a model's training stands, beyond its parameters: the run's
:class:`~nablanet.training.TrainingState` started or resumed on the same data (a
fingerprint of the data), and the checkpoint that saves and restores it with the
optimizer's moments and the generator's state, so that ``load`` then
``fit(..., initial_epoch=...)`` continues a run exactly.

The model is a :class:`nablanet.models.sequential.Sequential`; its methods
``fit``, ``training_checkpoint`` and ``restore_training`` call these functions.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from nablanet.registry import get
from nablanet.training import EarlyStopping, Schedule, TrainingState

__all__ = ["FINGERPRINT_ROWS", "checkpoint_of", "data_fingerprint", "is_training_data",
           "restore_checkpoint", "start_run"]

#: rows of the data a fingerprint reads (spread evenly; all of smaller data)
FINGERPRINT_ROWS = 256


def start_run(model, data: tuple, resume: bool, schedule: Schedule | None,
              early_stopping: EarlyStopping | None) -> TrainingState:
    """The model's training state for a run of ``fit`` on ``data = (X, T, W)``: a new
    one (with the data's fingerprint and the generator's state for the validation
    split), or, when ``resume``, the saved one with its schedule and early stopping
    unless others are given. The state's ``schedule`` and ``early_stopping`` are the
    run's.

    Raises
    ------
    ValueError
        Naming ``X``: resuming on other data than the run's (another fingerprint).
    """
    state = model.training_state
    fingerprint = data_fingerprint(data, model.dtype)
    if resume:
        if state.data is not None and not _same_data(state.data, fingerprint):
            raise ValueError("X: not the data the run being resumed was trained on "
                             f"(fingerprint {fingerprint}, the run's {state.data})")
        schedule = state.schedule if schedule is None else schedule
        early_stopping = state.early_stopping if early_stopping is None else early_stopping
    else:
        state = model.training_state = TrainingState(
            base_lr=model.optimizer.lr, data=fingerprint,
            split_rng=dict(model.rng.bit_generator.state))
    state.schedule, state.early_stopping = schedule, early_stopping
    return state


def is_training_data(model, data: tuple) -> bool:
    """Whether ``data = (X, T, W)`` (prepared as ``fit`` prepares it) has the fingerprint
    of the data the model's last training run was fitted on (before any validation
    split); False for a model without a run or whose run recorded a fingerprint of an
    older kind (sizes only: too weak to say)."""
    saved = model.training_state.data
    return saved is not None and "rows" in saved and saved == data_fingerprint(data,
                                                                              model.dtype)


def _same_data(saved: dict, now: dict) -> bool:
    """Whether fingerprints agree; one saved before fingerprints sampled rows (no
    ``rows``: a digest of all the data) is compared by its sizes, shape and dtype."""
    if "rows" not in saved:
        return all(saved.get(k) == now[k] for k in ("n", "shape", "dtype"))
    return saved == now


def checkpoint_of(model) -> tuple[dict, dict[str, np.ndarray]]:
    """:meth:`Sequential.training_checkpoint
    <nablanet.models.sequential.Sequential.training_checkpoint>` of ``model``."""
    opt = model.optimizer.state_dict()
    arrays = {f"optimizer.{i}.{k}": v for i, slots in enumerate(opt["state"])
              for k, v in slots.items()}
    stop = model.training_state.early_stopping
    if stop is not None and stop.best_params is not None:
        arrays.update({f"best.{i}": p for i, p in enumerate(stop.best_params)})
    return ({"state": model.training_state.to_dict(),
             "optimizer": {"config": opt["config"], "t": opt["t"],
                           "slots": len(opt["state"])},
             "rng": model.rng.bit_generator.state}, arrays)


def restore_checkpoint(model, checkpoint: dict, arrays: dict[str, np.ndarray]) -> None:
    """:meth:`Sequential.restore_training
    <nablanet.models.sequential.Sequential.restore_training>` of ``model``."""
    try:
        opt = checkpoint["optimizer"]
        config = dict(opt["config"])
        # the saved lr is the schedule's current one, which may have reached 0 (cosine
        # annealing's end): build with the run's base lr, then set the current one
        lr = config["lr"]
        if not (isinstance(lr, int | float) and math.isfinite(lr) and lr >= 0):
            raise ValueError(f"optimizer.lr: expected a number >= 0, found {lr!r}")
        base_lr = checkpoint["state"].get("base_lr") or lr
        optimizer = get("optimizer", config.pop("name"))(**{**config, "lr": base_lr})
        optimizer.lr = float(lr)
        params = model.params()
        moments = [{k.rpartition(".")[2]: v for k, v in arrays.items()
                    if k.startswith(f"optimizer.{i}.")} for i in range(opt["slots"])]
        if moments:
            for p, slots in zip(params, moments, strict=True):
                for k, v in slots.items():
                    if v.shape != p.shape or v.dtype != p.dtype:
                        raise ValueError(f"optimizer.{k}: expected {p.shape} "
                                         f"{p.dtype}, found {v.shape} {v.dtype}")
        optimizer.load_state_dict({"config": opt["config"], "t": int(opt["t"]),
                                   "state": moments})
        best = [arrays[f"best.{i}"] for i in range(len(params))] \
            if "best.0" in arrays else None
        state = TrainingState.from_dict(checkpoint["state"], best)
        rng = np.random.default_rng()
        rng.bit_generator.state = checkpoint["rng"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"training: malformed training state ({exc!r})") from None
    model.optimizer, model.training_state, model.rng = optimizer, state, rng


def data_fingerprint(data: tuple, dtype=None) -> dict:
    """Identity of training data ``(X, T, W)``, read from a bounded number of rows: the
    number of rows, the per-sample shape and ``dtype``, and a BLAKE2b digest of the exact
    bytes of at most :data:`FINGERPRINT_ROWS` rows spread evenly over the data (the first
    and the last among them) of the inputs (as ``dtype``), targets and row weights.

    What a resumed run must train on again, without a pass over the data on every
    ``fit``: other sizes, shapes or dtypes, and any change in a sampled row (a reordering,
    other labels, other images at those places) give another fingerprint; a change
    confined to rows between the samples does not. Data of up to
    :data:`FINGERPRINT_ROWS` rows are hashed whole.

    Parameters
    ----------
    data : tuple ``(X, T, W)``
        Arrays (or array-likes with ``shape`` and integer-array indexing) of ``n`` rows;
        ``W`` may be None.
    dtype : numpy dtype, optional
        The model's dtype: the sampled inputs are hashed as values of it, so the same
        images held as uint8 pixels or as floats have one fingerprint. Default: ``X``'s.
    """
    X = data[0]
    n = len(X)
    dtype = np.dtype(X.dtype if dtype is None else dtype)
    rows = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).round().astype(np.int64))
    digest = hashlib.blake2b(digest_size=16)
    for i, array in enumerate(data):
        if array is not None:
            sample = np.asarray(array[rows])
            digest.update(np.ascontiguousarray(sample, dtype=dtype if i == 0 else None).data)
    return {"n": n, "shape": list(X.shape[1:]), "dtype": dtype.name,
            "rows": len(rows), "blake2b": digest.hexdigest()}

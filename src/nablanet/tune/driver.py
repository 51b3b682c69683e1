"""The sweep's driver: :func:`tune` opens (or resumes) the Optuna study, keeps one trial
per Dask worker thread in flight, reports the running trials' epochs to the pruner,
records each outcome and writes the report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nablanet.atomic import atomic_write_bytes
from nablanet.tune.extras import require
from nablanet.tune.recovery import counted_trials, recover_interrupted
from nablanet.tune.report import finish
from nablanet.tune.space import Space, load_space
from nablanet.tune.trials import POLL_SECONDS, run_trial

__all__ = ["tune"]

log = logging.getLogger(__name__)


def _sampler(space: Space, number: int):
    """A sampler seeded from ``(space.seed, number)``: trial ``number`` gets the same
    configuration whatever ran before it, on however many workers."""
    samplers = require("optuna.samplers")
    seed = int(np.random.SeedSequence([space.seed, number]).generate_state(1)[0])
    if space.sampler == "tpe":
        return samplers.TPESampler(seed=seed)
    return samplers.RandomSampler(seed=seed)  # grid points come fixed (see _ask)


def _ask(study, space: Space, optuna):
    """The next trial. Grid points are enqueued in a seeded order, skipping those the
    study has seen (Optuna's GridSampler stops the study from ``tell``, which only
    ``optimize`` allows)."""
    trials = study.get_trials(deepcopy=False)
    waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
    if space.sampler == "grid" and not waiting:
        names = [p.name for p in space.params]
        points = list(itertools.product(*(p.grid() for p in space.params)))
        seen = {tuple(t.params.get(n) for n in names) for t in trials}
        order = np.random.default_rng(space.seed).permutation(len(points))
        fresh = [points[k] for k in order if points[k] not in seen]
        if fresh:
            study.enqueue_trial(dict(zip(names, fresh[0], strict=True)))
    study.sampler = _sampler(space, len(trials))
    trial = study.ask()
    return trial, {p.name: p.suggest(trial) for p in space.params}


def _storage(url: str | None, out_dir: Path):
    """``url``, or a journal file in ``out_dir``: append-only, so a killed driver
    leaves it readable; the journal's own lock file keeps concurrent writers apart."""
    if url:
        return url
    require("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(out_dir / "study.journal")))



def _client(scheduler: str | None, workers: int | None):
    distributed = require("distributed")
    if scheduler:
        return distributed.Client(scheduler, timeout="20s"), None
    cluster = distributed.LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
        dashboard_address=":0", silence_logs=logging.ERROR)
    return distributed.Client(cluster), cluster


def tune(space, *, out_dir=None, storage: str | None = None, scheduler: str | None = None,
         workers: int | None = None, trials: int | None = None,
         check_argv: Callable[[list[str]], None] | None = None) -> dict:
    """Run (or resume) the sweep of a space file on Dask and write its results.

    Parameters
    ----------
    space : str, Path or Space
        The space file (see :mod:`nablanet.tune`) or a loaded :class:`Space`.
    out_dir : str or Path, optional
        Where the study journal, the trials' metrics and models (``trials/NNNNN/``), the
        best model (``best.safetensors``), ``summary.json`` and ``tune.png`` go
        [default: ``NAME-tune`` next to the space file].
    storage : str, optional
        An Optuna storage URL (``sqlite:///sweep.db``, ``postgresql://...``) instead of
        the journal file in ``out_dir``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:8786``); by default a
        ``LocalCluster`` of ``workers`` single-threaded worker processes is started.
    workers : int, optional
        Local worker processes [default: one per core]; not with ``scheduler``.
    trials : int, optional
        Override the space file's number of trials.
    check_argv : callable, optional
        Parses a trial's command line and raises ``ValueError`` naming the bad option;
        the CLI passes the command's own parser so that a bad option is reported before
        anything runs.

    Returns
    -------
    dict
        The summary also written to ``summary.json``: counts by state, the best trial
        (number, value, params, seed, the ready-to-run command) and the top trials.

    Raises
    ------
    ValueError
        A bad space file or argument, a storage that holds a different sweep under the
        same name, or no trial completed.
    ImportError
        Optuna or Dask is not installed (``pip install 'nablanet[tune]'``).

    Notes
    -----
    The local cluster starts worker processes: in a script, call ``tune`` under
    ``if __name__ == "__main__":``.
    """
    if not isinstance(space, Space):
        space = load_space(space)
    if trials is not None:
        if trials < 1:
            raise ValueError(f"trials: expected an integer >= 1, found {trials}")
        if space.sampler == "grid" and trials > space.grid_size():
            raise ValueError(f"trials: expected at most the grid's {space.grid_size()} "
                             f"configurations, found {trials}")
        space = dataclasses.replace(space, trials=trials)
    if scheduler and workers:
        raise ValueError("workers: the local cluster's size; with scheduler, start "
                         "'dask worker' processes instead")
    if check_argv is not None:
        base = {p.name: p.extremes()[0] for p in space.params}
        try:
            for p in space.params:
                for value in p.extremes():
                    check_argv(space.argv({**base, p.name: value}, space.seeds[0]))
        except ValueError as exc:
            raise ValueError(f"{space.path}: {exc}") from None
    out_dir = Path(out_dir) if out_dir else space.path.parent / f"{space.name}-tune"
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=space.name, storage=_storage(storage, out_dir),
                                    direction=space.direction, load_if_exists=True,
                                    pruner=space.pruner.build() if space.pruner else None)
    except Exception as exc:  # SQLAlchemy's errors, a bad URL, an unreadable journal
        first = (str(exc).splitlines() or [""])[0]
        raise ValueError(f"storage: cannot open {storage or out_dir}: "
                         f"{type(exc).__name__}: {first}") from None
    stored = study.user_attrs.get("space")
    if stored is None:
        study.set_user_attr("space", space.fingerprint())
    elif stored != space.fingerprint():
        raise ValueError(f"{space.path}: the storage holds a different sweep named "
                         f"{space.name!r}; set another 'name' or output directory")
    recover_interrupted(study, [p.name for p in space.params])
    _run(study, space, out_dir, scheduler, workers, optuna)
    return finish(study, space, out_dir, optuna)


def _run(study, space: Space, out_dir: Path, scheduler, workers, optuna) -> None:
    """Keep one trial per worker thread in flight until ``space.trials`` have finished;
    with a pruner, look at the running trials' epochs every :data:`POLL_SECONDS`."""
    from distributed import Variable, wait
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    done = len(counted_trials(study))
    if done >= space.trials:
        log.info("study %r already has %d finished trials", space.name, done)
        return
    client, cluster = _client(scheduler, workers)
    running: dict = {}  # future -> optuna Trial
    reported: dict[int, int] = {}  # trial number -> last epoch reported to the pruner
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in counted_trials(study))
    try:
        log.info("Dask scheduler %s, dashboard %s", client.scheduler.address,
                 client.dashboard_link)
        log.info("study %r: %d of %d trials finished", space.name, done, space.trials)

        def submit_more() -> None:
            slots = max(1, sum(client.nthreads().values()))
            while done + len(running) < space.trials and len(running) < slots:
                trial, params = _ask(study, space, optuna)
                argvs = [space.argv(params, s) for s in space.seeds]
                key = f"nablanet-trial-{space.name}-{trial.number}-{time.time_ns()}"
                if space.pruner:  # the channel to the trial's worker (see _follow)
                    Variable(f"{key}-epochs", client=client).set([])
                    Variable(f"{key}-prune", client=client).set(False)
                future = client.submit(run_trial, argvs, space.metric,
                                       key if space.pruner else None, pure=False, key=key)
                running[future] = trial

        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                      console=console, disable=not console.is_terminal) as bar:
            line = bar.add_task("")
            submit_more()
            while running:
                try:
                    finished = wait(list(running), return_when="FIRST_COMPLETED",
                                    timeout=POLL_SECONDS if space.pruner else None).done
                except TimeoutError:
                    finished = set()
                if space.pruner:
                    _prune(running, reported, client)
                for future in finished:
                    trial = running.pop(future)
                    outcome = _record(study, trial, future, space, out_dir, optuna)
                    done, failed = done + 1, failed + (outcome == "failed")
                    best = _best(study)
                    status = (f"{done}/{space.trials} done, {len(running)} running, "
                              f"{failed} failed" + (f" | best {space.metric} "
                                                    f"{best.value:.6g} (trial {best.number})"
                                                    if best else ""))
                    bar.update(line, description=status)
                    log.info("trial %d %s | %s", trial.number, outcome, status)
                submit_more()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _prune(running: dict, reported: dict, client) -> None:
    """Report the running trials' new epochs to Optuna (``reported``: trial number ->
    its last reported epoch); tell the worker of each trial that the pruner stops
    (:func:`_follow` on the other side)."""
    from distributed import Variable

    for future, trial in running.items():
        epochs = Variable(f"{future.key}-epochs", client=client).get()
        new = [(e, v) for e, v in epochs if e > reported.get(trial.number, 0)]
        if not new:
            continue
        for epoch, value in new:
            trial.report(value, epoch)
        reported[trial.number] = new[-1][0]
        if trial.should_prune():
            Variable(f"{future.key}-prune", client=client).set(True)


def _record(study, trial, future, space: Space, out_dir: Path, optuna) -> str:
    """Write a finished trial's files and tell Optuna its outcome: ``"finished"``,
    ``"pruned"`` or ``"failed"``."""
    try:
        outcome = future.result()
    except Exception as exc:  # the task was lost: KilledWorker after repeated crashes, ...
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if space.pruner:
            from distributed import Variable

            for end in ("epochs", "prune"):
                Variable(f"{future.key}-{end}", client=future.client).delete()
    if "error" in outcome:
        trial.set_user_attr("error", outcome["error"])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, outcome["error"])
        return "failed"
    if "pruned" in outcome:
        epoch, value = outcome["pruned"]
        trial.set_user_attr("pruned_at_epoch", epoch)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("trial %d pruned at epoch %d (%s %.6g)", trial.number, epoch,
                 space.metric, value)
        return "pruned"
    results = outcome["runs"]
    trial_dir = out_dir / "trials" / f"{trial.number:05d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    for seed, r in zip(space.seeds, results, strict=True):
        atomic_write_bytes(trial_dir / f"metrics-seed{seed}.json",
                           json.dumps(r["metrics"], indent=2).encode())
        atomic_write_bytes(trial_dir / f"model-seed{seed}.safetensors", r["model"])
    trial.set_user_attr("seed_values", {str(s): r["value"]
                                        for s, r in zip(space.seeds, results, strict=True)})
    trial.set_user_attr("seconds", sum(r["seconds"] for r in results))
    study.tell(trial, float(np.mean([r["value"] for r in results])))
    return "finished"


def _best(study):
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None

"""One trial, run on a Dask worker: :func:`run_trial` runs the tuned command once per
seed in a subprocess (BLAS on one thread), follows the first run's epochs for the pruner,
and scores each run by :func:`objective_value`."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["objective_value", "run_trial"]

#: Thread counts of the BLAS libraries NumPy may be linked with: one per trial.
BLAS_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
#: seconds between the driver's looks at running trials' epochs (and a worker's at its
#: run's history file)
POLL_SECONDS = 0.2


def run_trial(argvs: list[list[str]], metric: str, channel: str | None = None) -> dict:
    """Run ``nablanet ARGV`` once per seed in a subprocess and read ``metric``.

    Runs on a Dask worker: it needs only nablanet installed and the data path. BLAS is
    held to one thread (:data:`BLAS_ENV`); the metrics JSON and the model are written to
    a temporary directory and sent back to the driver, so the workers need no shared disk.

    Parameters
    ----------
    argvs : list of list of str
        One command line (after ``nablanet``) per seed.
    metric : str
        A key of the history's epochs (``val_accuracy``, ...).
    channel : str, optional
        For pruning: the name of the Dask ``Variable`` pair through which the first
        seed's run sends ``[[epoch, value], ...]`` (``CHANNEL-epochs``) and is told to
        stop (``CHANNEL-prune``); see :func:`_follow`.

    Returns
    -------
    dict
        ``{"runs": [...]}`` with per run ``value`` (float), ``metrics`` (the metrics JSON
        as a dict), ``model`` (the saved model file, bytes) and ``seconds`` (wall clock);
        ``{"pruned": [epoch, value]}`` when the driver stopped the first run at that
        epoch; or ``{"error": message}`` when a run failed (the command's last line of
        stderr), or its metric is missing or not finite. A failed trial is returned, not
        raised: only a lost worker is an error of the task.
    """
    results = []
    env = {**os.environ, **BLAS_ENV}
    with tempfile.TemporaryDirectory(prefix="nablanet-trial-") as tmp:
        for k, argv in enumerate(argvs):
            metrics_path = Path(tmp, f"metrics-{k}.json")
            model_path = Path(tmp, f"model-{k}.safetensors")
            cmd = [sys.executable, "-m", "nablanet", "-q", *argv,
                   "--metrics-out", str(metrics_path), "--model-out", str(model_path)]
            t0 = time.perf_counter()
            with open(Path(tmp, f"stderr-{k}.txt"), "w+", encoding="utf-8") as stderr:
                if channel is not None and k == 0:
                    history = Path(tmp, "history.jsonl")
                    proc = subprocess.Popen([*cmd, "--history-out", str(history)],
                                            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
                    pruned = _follow(proc, history, metric, channel)
                    if pruned is not None:
                        return {"pruned": pruned}
                    status = proc.returncode
                else:
                    status = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                            env=env, check=False).returncode
                stderr.seek(0)
                lines = stderr.read().strip().splitlines()
            if status != 0:
                lines = lines or [f"exit status {status}"]
                return {"error": f"nablanet {shlex.join(argv)}: {lines[-1]}"}
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            try:
                value = objective_value(metrics, metric)
            except RuntimeError as exc:
                return {"error": f"nablanet {shlex.join(argv)}: {exc}"}
            results.append({"value": value, "metrics": metrics,
                            "model": model_path.read_bytes(),
                            "seconds": time.perf_counter() - t0})
    return {"runs": results}


def _follow(proc: subprocess.Popen, history: Path, metric: str,
            channel: str) -> list | None:
    """Follow a running trial: after each epoch that computed ``metric`` (a line of its
    ``--history-out`` file), set the Dask Variable ``CHANNEL-epochs`` to every
    ``[epoch, value]`` so far; when the driver sets ``CHANNEL-prune`` to True, stop the
    run. The driver sets both before it submits the trial. Returns the last ``[epoch,
    value]`` when the run was stopped, None when it ended."""
    from distributed import Variable

    epochs, prune = Variable(f"{channel}-epochs"), Variable(f"{channel}-prune")
    reported: list[list] = []
    read = 0
    while True:
        ended = proc.poll() is not None
        text = history.read_text(encoding="utf-8") if history.exists() else ""
        complete = text[:text.rfind("\n") + 1]  # a line still being written waits
        for line in complete[read:].splitlines():
            logs = json.loads(line)
            value = logs.get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                reported.append([logs["epoch"], float(value)])
                epochs.set(list(reported))
        read = len(complete)
        if ended:
            return None
        if reported and prune.get(timeout=60):  # (a rerun of a lost task: its own epochs)
            proc.kill()
            proc.wait()
            return reported[-1]
        time.sleep(POLL_SECONDS)


def objective_value(metrics: dict, metric: str) -> float:
    """``metric`` at the epoch whose weights the run kept: the best epoch when early
    stopping restored it, else the last evaluated one.

    Raises
    ------
    RuntimeError
        The metric was not computed, or is not finite (the run diverged).
    """
    history = metrics["history"]
    epochs = history["epochs"]
    kept = [e for e in epochs if e["epoch"] == history.get("best_epoch")] or epochs[-1:]
    if not kept or metric not in kept[0]:
        names = sorted(k for k in (kept[0] if kept else {}) if k.startswith("val_"))
        raise RuntimeError(f"objective.metric {metric!r} is not in the run's history; "
                           f"available: {names}")
    value = kept[0][metric]
    if value is None or not math.isfinite(value):
        raise RuntimeError(f"{metric} is not finite (the run diverged)")
    return float(value)

"""The sweep's report: the best model, ``summary.json`` and ``tune.png`` (:func:`finish`),
and the top trials as a table (:func:`summary_table`)."""

from __future__ import annotations

import json
import logging
import shlex
import warnings
from pathlib import Path
from typing import Any, cast

from nablanet.atomic import atomic_write_bytes
from nablanet.tune.recovery import counted_trials
from nablanet.tune.space import Space

__all__ = ["summary_table"]

log = logging.getLogger(__name__)


def _best_seed(space: Space, trial) -> int:
    values = {int(s): v for s, v in trial.user_attrs["seed_values"].items()}
    pick = max if space.direction == "maximize" else min
    return pick(values, key=values.__getitem__)


def finish(study, space: Space, out_dir: Path, optuna) -> dict:
    """Best model, ``summary.json`` and ``tune.png``; returns the summary."""
    state = optuna.trial.TrialState
    counted = counted_trials(study)
    stopped = study.user_attrs.get("stopped", {})
    complete = sorted((t for t in counted if t.state == state.COMPLETE),
                      key=lambda t: t.value, reverse=space.direction == "maximize")
    summary: dict[str, Any] = {
        "study": space.name, "space_file": str(space.path), "metric": space.metric,
        "direction": space.direction, "trials": space.trials,
        "complete": len(complete),
        "failed": sum(t.state == state.FAIL for t in counted),
        "pruned": sum(t.state == state.PRUNED for t in counted),
        "interrupted": sum(not s["counted"] for s in stopped.values()),
        "top": [{"number": t.number, "value": t.value, "params": t.params,
                 "seed_values": t.user_attrs.get("seed_values"),
                 "seconds": t.user_attrs.get("seconds")} for t in complete[:10]],
        "errors": {t.number: t.user_attrs.get("error")
                   or stopped.get(str(t.number), {}).get("error")
                   for t in counted if t.state == state.FAIL},
    }
    if complete:
        best = complete[0]
        seed = _best_seed(space, best)
        model = out_dir / "best.safetensors"
        atomic_write_bytes(model, (out_dir / "trials" / f"{best.number:05d}" /
                                   f"model-seed{seed}.safetensors").read_bytes())
        argv = space.argv(best.params, seed)
        summary["best"] = {"number": best.number, "value": best.value,
                           "params": best.params, "seed": seed, "model": str(model),
                           "command": shlex.join(["nablanet", *argv, "--model-out",
                                                  "best.safetensors"])}
    atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    log.info("wrote %s", out_dir / "summary.json")
    if complete:
        _plot(study, out_dir / "tune.png")
    else:
        raise ValueError(f"no trial of study {space.name!r} completed; first error: "
                         f"{next(iter(summary['errors'].values()), None)}")
    return summary


def _plot(study, path: Path) -> None:
    """Optuna's optimisation history and parameter importances, side by side."""
    import io

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure
        from optuna.exceptions import ExperimentalWarning
        from optuna.visualization import matplotlib as ovm
    except ImportError:
        log.warning("no plot: matplotlib is missing (pip install 'nablanet[tune]')")
        return
    from optuna.importance import PedAnovaImportanceEvaluator

    panels = []
    for draw in (ovm.plot_optimization_history, ovm.plot_param_importances):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                # PED-ANOVA: a fraction of a second, where the default fANOVA forest
                # takes seconds on a handful of trials
                kwargs: dict[str, Any] = {"evaluator": PedAnovaImportanceEvaluator()} if (
                    draw is ovm.plot_param_importances) else {}
                ax = draw(study, **kwargs)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.info("plot: %s skipped (%s)", draw.__name__, exc)
            continue
        buf = io.BytesIO()
        figure = cast(Figure, ax.figure)  # optuna draws on a top-level figure
        figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        buf.seek(0)
        panels.append(plt.imread(buf))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, image in zip(axes[0], panels, strict=True):
        ax.imshow(image)
        ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    log.info("wrote %s", path)


def summary_table(summary: dict):
    """The top trials of a summary as a ``rich.table.Table``."""
    from rich.table import Table

    top = summary["top"]
    names = sorted({k for t in top for k in t["params"]})
    table = Table(title=f"{summary['study']}: top trials by {summary['metric']} "
                  f"({summary['direction']}); {summary['complete']} complete, "
                  f"{summary['pruned']} pruned, {summary['failed']} failed")
    for column in ("trial", summary["metric"], *names, "seconds"):
        table.add_column(column, justify="right")
    for t in top:
        table.add_row(str(t["number"]), f"{t['value']:.6g}",
                      *(_fmt(t["params"].get(n)) for n in names),
                      f"{t['seconds']:.1f}" if t["seconds"] is not None else "")
    return table


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

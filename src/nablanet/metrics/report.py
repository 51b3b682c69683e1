"""Printable reports of the metric dicts of :mod:`nablanet.metrics.scores`: ``rich``
tables for the terminal and their plain-text form for logs.

Rates are shown as percentages with two decimals, AUCs and R² with four, errors with six
significant digits; a metric that is undefined for the data (``None``) is ``n/a`` with
the reason.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["format_report", "report_text"]


def _pct(value: float | None, missing: str = "n/a") -> str:
    return missing if value is None else f"{100 * value:.2f}%"


def _num(value: float | None, missing: str = "n/a") -> str:
    return missing if value is None else f"{value:.4f}"


def _grid(header: list[str], rows: list[list[str]]) -> Table:
    """A small borderless table for a confusion matrix or per-class rows."""
    grid = Table(box=None, padding=(0, 1), show_edge=False)
    grid.add_column(header[0])
    for name in header[1:]:
        grid.add_column(name, justify="right")
    for row in rows:
        grid.add_row(*row)
    return grid


def _binary_rows(m: dict[str, Any]) -> list[tuple[str, Any]]:
    matrix = _grid(
        ["", "Predicted positive", "Predicted negative"],
        [
            ["Actual positive", f"True Positives: {m['tp']}", f"False Negatives: {m['fn']}"],
            ["Actual negative", f"False Positives: {m['fp']}", f"True Negatives: {m['tn']}"],
        ],
    )
    return [
        ("Samples", f"{m['n']} ({m['n_positive']} positive, {m['n_negative']} negative)"),
        ("Threshold", f"{m['threshold']:g}"),
        ("Accuracy", _pct(m["accuracy"])),
        ("Precision", _pct(m["precision"])),
        ("Recall (positive class accuracy)", _pct(m["recall"])),
        ("Specificity (negative class accuracy)", _pct(m["specificity"])),
        ("F1", _pct(m["f1"])),
        ("ROC AUC", _num(m["roc_auc"], "n/a (one class in y_true)")),
        ("PR AUC (average precision)", _num(m["pr_auc"], "n/a (no positives in y_true)")),
        ("Confusion matrix", matrix),
    ]


def _multiclass_rows(m: dict[str, Any]) -> list[tuple[str, Any]]:
    classes = range(m["n_classes"])
    per_class = _grid(
        ["Class", "Precision", "Recall", "F1", "Support"],
        [
            [str(c), _pct(p), _pct(r), _pct(f), str(s)]
            for c, p, r, f, s in zip(
                classes,
                m["per_class_precision"],
                m["per_class_recall"],
                m["per_class_f1"],
                m["support"],
                strict=True,
            )
        ],
    )
    matrix = _grid(
        ["true \\ predicted", *map(str, classes)],
        [[str(c), *map(str, row)] for c, row in zip(classes, m["confusion_matrix"], strict=True)],
    )
    return [
        ("Samples", str(m["n"])),
        ("Classes", str(m["n_classes"])),
        ("Accuracy", _pct(m["accuracy"])),
        ("Macro F1", _pct(m["macro_f1"])),
        ("Per class", per_class),
        ("Confusion matrix", matrix),
    ]


def _regression_rows(m: dict[str, Any]) -> list[tuple[str, Any]]:
    mape = _pct(m["mape"], "n/a (all targets are 0)")
    if m["mape_excluded"]:
        mape += f" ({m['mape_excluded']} zero targets excluded)"
    return [
        ("Samples", f"{m['n']} × {m['n_outputs']} outputs"),
        ("MAE", f"{m['mae']:.6g}"),
        ("RMSE", f"{m['rmse']:.6g}"),
        ("MAPE", mape),
        ("R²", _num(m["r2"], "n/a (fewer than 2 samples)")),
        (f"Within ±{100 * m['threshold']:g}%", _pct(m["within_threshold"])),
    ]


_ROWS = {"binary": _binary_rows, "multiclass": _multiclass_rows, "regression": _regression_rows}


def format_report(metrics: dict[str, Any], title: str) -> Table:
    """Render a metrics dict as a two-column ``rich`` table.

    Parameters
    ----------
    metrics : dict
        The result of :func:`binary_classification_metrics`, :func:`multiclass_metrics`
        or :func:`regression_metrics` (or of :func:`to_jsonable` on one of them),
        recognised by its ``"task"`` key.
    title : str
        Table title, e.g. ``"Test evaluation"``.

    Returns
    -------
    rich.table.Table
        One row per metric: rates as percentages with two decimals, AUCs and R² with
        four, errors with six significant digits, and the confusion matrix as a small
        grid (for binary tasks in the seed's layout, ``True Positives: 4521``, actual
        classes in rows).

    Raises
    ------
    ValueError
        If ``metrics`` has no known ``"task"``.
    """
    rows = _ROWS.get(str(metrics.get("task")))
    if rows is None:
        raise ValueError(
            f"metrics: expected a dict with 'task' in {sorted(_ROWS)}, "
            f"found task={metrics.get('task')!r}"
        )
    table = Table("Metric", "Value", title=title)
    for name, value in rows(metrics):
        table.add_row(name, value)
    return table


def report_text(metrics: dict[str, Any], title: str) -> str:
    """Render :func:`format_report` as plain text (no colour, no markup) for logs.

    Parameters
    ----------
    metrics : dict
        As for :func:`format_report`.
    title : str
        Table title.

    Returns
    -------
    str
        The table, drawn with box characters, lines separated by ``"\\n"`` and
        stripped of trailing spaces.
    """
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, force_terminal=False)
    console.print(format_report(metrics, title))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"

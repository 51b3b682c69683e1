"""Metrics: scores (:mod:`nablanet.metrics.scores`, plain dicts of numbers) and their
rendering as tables (:mod:`nablanet.metrics.report`), kept apart so that computing a
score never needs a terminal library. Both are re-exported here."""

from nablanet.metrics.report import format_report, report_text
from nablanet.metrics.scores import (
    binary_classification_metrics,
    confusion_matrix,
    multiclass_metrics,
    regression_metrics,
    to_jsonable,
)

__all__ = [
    "binary_classification_metrics",
    "confusion_matrix",
    "format_report",
    "multiclass_metrics",
    "regression_metrics",
    "report_text",
    "to_jsonable",
]

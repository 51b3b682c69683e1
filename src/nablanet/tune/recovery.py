"""Recovery after a killed driver: :func:`recover_interrupted` marks the trials a dead
driver left running as failed and queues them again, and :func:`counted_trials` tells
which finished trials count toward the sweep's ``trials``."""

from __future__ import annotations

import logging

from nablanet.tune.extras import require

__all__ = ["counted_trials", "recover_interrupted"]

log = logging.getLogger(__name__)


def recover_interrupted(study, names) -> None:
    """Trials left running by a driver that died: each is marked failed and noted in the
    study's user attribute ``stopped`` (trial number -> ``{"error", "counted"}``).

    A trial whose parameters ``names`` were all drawn had been submitted: it is queued
    again once (user attribute ``retry_of``) and does not count; a retry left running
    counts as failed. A trial stopped before all its parameters were drawn never ran: it
    does not count, and a new trial takes its place (the same parameters again if it was
    itself a retry)."""
    optuna = require("optuna")
    state = optuna.trial.TrialState
    stopped = dict(study.user_attrs.get("stopped", {}))
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        retry_of = t.user_attrs.get("retry_of")
        if not set(names) <= set(t.params):
            error, counted = "the driver stopped before this trial was submitted", False
            if retry_of is not None:
                study.enqueue_trial(study.trials[retry_of].params,
                                    user_attrs={"retry_of": retry_of})
        elif retry_of is None:
            error, counted = "the driver stopped while this trial ran; retried", False
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        else:
            error = "the driver stopped while this trial ran; already a retry, not retried"
            counted = True
        stopped[str(t.number)] = {"error": error, "counted": counted}
        study.tell(t.number, state=state.FAIL)
        log.warning("trial %d: %s", t.number, error)
    if stopped:
        study.set_user_attr("stopped", stopped)


def counted_trials(study) -> list:
    """The trials that count toward a sweep's ``trials``: finished (complete, pruned or
    failed), except those the driver's death stopped and :func:`recover_interrupted`
    replaced."""
    state = require("optuna").trial.TrialState
    replaced = {int(n) for n, s in study.user_attrs.get("stopped", {}).items()
                if not s["counted"]}
    return [t for t in study.get_trials(deepcopy=False,
                                        states=(state.COMPLETE, state.PRUNED, state.FAIL))
            if t.number not in replaced]

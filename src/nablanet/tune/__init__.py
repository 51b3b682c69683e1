"""Hyper-parameter sweeps: Optuna chooses the configurations, Dask runs the trials.

A sweep is described by a TOML *space file* (read with :mod:`tomllib`)::

    command = "train"                     # or "rnn train"
    data = "../shared/data/mnist-10k"     # the command's data argument (from the cwd)
    trials = 12                           # finished trials wanted
    sampler = "tpe"                       # tpe (default), grid or random
    seed = 0                              # seed of the sampler
    seeds = [1, 2]                        # training seeds per configuration (mean is scored)

    [objective]
    metric = "val_accuracy"               # a validation metric of the run's history
    direction = "maximize"                # default: minimize for *loss*, else maximize

    [options]                             # fixed options of the command (long names)
    sizes = "784,30,10"
    epochs = 2
    validation-split = 0.1

    [params]                              # the search space
    lr = { type = "log_uniform", low = 0.05, high = 5.0 }
    batch-size = { type = "int", low = 10, high = 50, step = 10 }
    activation = { type = "categorical", choices = ["sigmoid", "relu"] }

    [pruner]                              # optional: stop unpromising trials early
    type = "median"                       # Optuna's MedianPruner
    startup_trials = 5                    # trials that finish before any is pruned
    warmup_epochs = 1                     # epochs a trial runs before it may be pruned

Each trial runs ``python -m nablanet COMMAND DATA --option value ... --seed S
--metrics-out ... --model-out ...`` once per seed in a subprocess on a Dask worker (BLAS held
to one thread) and scores the chosen metric of the epoch whose weights the run kept
(the last, or the best one under ``early-stopping``) in its metrics JSON. Only
``val_*`` metrics are accepted, and the data they come from is held out of the training
data (``train`` is given ``--validation-split`` 0.1 unless the file sets it; ``rnn
train`` holds out ``test-split`` of DATA_CSV and may not be given ``test-data``), so
the test set never steers the search.

The study lives in Optuna storage (by default a journal file in the output directory).
Running the same sweep again resumes it: finished trials are kept and never re-run; a
trial that was running when the driver died is marked failed and retried once.

With a ``[pruner]``, the first seed's run of each trial writes its epochs as they end
(``--history-out``); the worker sends each epoch's metric to the driver (a Dask
``Variable``, so workers need no shared disk and no access to the storage), the driver
reports it to Optuna and, when the trial's value at that epoch is worse than the median
of the finished trials' at the same epoch, tells the worker to stop the run. A pruned
trial counts toward ``trials`` (state PRUNED, its last reported value kept) and saves no
model. Every
configuration is drawn by a sampler seeded from ``(seed, trial number)``, so a sweep
draws the same configurations whatever the number of workers and however often it was
interrupted.

The package, one idea a module: :mod:`~nablanet.tune.space` (the space file),
:mod:`~nablanet.tune.trials` (one trial, on a worker), :mod:`~nablanet.tune.driver` (the
Optuna study and the Dask cluster), :mod:`~nablanet.tune.recovery` (after a killed driver),
:mod:`~nablanet.tune.report` (the summary, the plot and the table) and
:mod:`~nablanet.tune.extras` (the optional dependencies).
"""

from __future__ import annotations

from nablanet.tune.driver import tune
from nablanet.tune.recovery import counted_trials, recover_interrupted
from nablanet.tune.report import summary_table
from nablanet.tune.space import Param, Pruner, Space, load_space
from nablanet.tune.trials import objective_value, run_trial

__all__ = ["Param", "Pruner", "Space", "counted_trials", "load_space", "objective_value",
           "recover_interrupted", "run_trial", "summary_table", "tune"]

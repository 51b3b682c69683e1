"""``nablanet rnn ...``: recurrent networks (RNN, LSTM, GRU) on sequence CSV files.

The CSV format is RNN-Rust's (``name,t,x1..xF,y1..yL``, see
:mod:`nablanet.datasets.sequences`). Features are min-max scaled with bounds fitted on
the training sequences only; regression labels too (predictions and reports are given
back in the data's units). Classification labels are used as they are: 0/1 for
``--task binary``; for ``--task multiclass`` one column of class indices 0..K-1 or K
one-hot columns y1..yK (RNN-Rust's layout), see
:func:`nablanet.datasets.sequences.class_indices`.
"""

from __future__ import annotations

import inspect
import logging

import click
import numpy as np

from nablanet.cli.options import (
    CONTEXT,
    check_model_kind,
    check_parameter_count,
    examples,
    loss_name,
    make_optimizer,
    option_given,
    plural,
    renamed,
    shared_option,
    training_controls,
    training_options,
    validation_split_of,
    verbosity_options,
)
from nablanet.cli.outputs import check_outputs, write_json, writing
from nablanet.cli.runs import (
    fit_run,
    prepare_run,
    resumable,
    resume_model,
    run_history,
    run_options,
    run_record,
)
from nablanet.models.scorer import TASK_ACTIVATIONS, SequenceScorer

log = logging.getLogger("nablanet")

#: task: (output activation, default loss)
TASKS = {task: (activation, "cross_entropy" if task == "multiclass" else "quadratic")
         for task, activation in TASK_ACTIVATIONS.items()}

#: the defaults of ``rnn train`` per task, measured to train well (docs/guide/recurrent.md:
#: JapaneseVowels 95% with the multiclass row, El Nino RMSE 0.53 degrees with the regression row)
TASK_DEFAULTS = {
    "binary": {"hidden": 16, "optimizer": "adam", "lr": 0.005, "batch_size": 16,
               "epochs": 100},
    "multiclass": {"hidden": 32, "optimizer": "adam", "lr": 0.005, "batch_size": 8,
                   "epochs": 100},
    "regression": {"hidden": 16, "optimizer": "adam", "lr": 0.005, "batch_size": 16,
                   "epochs": 200},
}

#: RNN-Rust's configuration (its README): 10 hidden units, SGD at 0.001, one sequence per
#: update, 100 epochs, in file order
RNN_RUST = {"hidden": 10, "optimizer": "sgd", "lr": 0.001, "batch_size": 1, "epochs": 100,
            "shuffle": False}

#: most classes of --task multiclass (a label is a class index: one output unit each)
MAX_CLASSES = 65536

#: cells' weight matrices per layer (for the parameter count checked before allocating)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _defaults_help() -> str:
    rows = [f"  {task:<11} hidden {d['hidden']}, {d['optimizer']} lr {d['lr']:g}, batch "
            f"{d['batch_size']}, {d['epochs']} epochs" for task, d in TASK_DEFAULTS.items()]
    return "\n".join(rows)


@click.group(context_settings=CONTEXT)
@verbosity_options
def rnn():
    """Recurrent networks (RNN, LSTM, GRU) on sequence CSV files (rows name,t,x1..xF,y1..yL,
    RNN-Rust's format; 'nablanet data convert' writes real data sets in it) or Parquet
    files (.parquet) with the same columns."""


@rnn.command("train", context_settings=CONTEXT, epilog=examples(
    "nablanet data convert japanese-vowels jv",
    "nablanet rnn train jv/japanese_vowels_train.csv jv/japanese_vowels_test.csv --task "
    "multiclass --target last --model-out jv.safetensors",
    "nablanet rnn train jv/japanese_vowels_train.csv --task multiclass --target last "
    "--rnn-rust",
))
@click.argument("data_csv", type=click.Path(dir_okay=False))
@click.argument("test_csv", type=click.Path(dir_okay=False), required=False)
@click.option("--task", type=click.Choice(list(TASKS)), default="binary",
              help="binary: sigmoid output, 0/1 labels; multiclass: softmax output, one column "
              "of class indices or K one-hot columns y1..yK; regression: linear output, "
              "min-max scaled labels.")
@click.option("--cell", type=click.Choice(["rnn", "lstm", "gru"]), default="rnn",
              help="Recurrent cell: vanilla (Elman) RNN, LSTM or GRU.")
@click.option("--num-layers", type=click.IntRange(min=1), default=1,
              help="Stacked recurrent layers.")
@click.option("--hidden", type=click.IntRange(min=1), default=None,
              help="Hidden units per layer [default: per task, see above].")
@shared_option("activation", "tanh")
@shared_option("loss", note="quadratic for binary (RNN-Rust's mse) and regression, "
               "cross_entropy for multiclass")
@click.option("--target", type=click.Choice(["every", "last"]), default="every",
              help="Label every step (many-to-many) or only the last (many-to-one).")
@shared_option("epochs", None, "per task")
@shared_option("batch_size", None, "per task")
@shared_option("eval_every", 10)
@shared_option("test_split")
@shared_option("validation_split")
@click.option("--threshold", type=float, default=None,
              help="binary: decision threshold on the output, in [0, 1] [default: 0.5]; "
              "regression: relative tolerance of 'within threshold', >= 0 [default: 0.1].")
@click.option("--rnn-rust", is_flag=True,
              help="RNN-Rust's configuration: hidden 10, sgd lr 0.001, batch 1, 100 "
              "epochs, file order (options given explicitly still win).")
@training_options(default_note="per task")
@renamed("--test-data", "the positional TEST_CSV", "test_csv",
         type=click.Path(dir_okay=False))
@renamed("--layers", "--num-layers", "num_layers", type=click.IntRange(min=1))
@renamed("--train-ratio", "--test-split", "test_split", lambda ratio: 1 - ratio,
         type=click.FloatRange(0, 1, min_open=True, max_open=True))
@verbosity_options
@resumable
def rnn_train(data_csv, test_csv, task, cell, num_layers, hidden, activation, loss, target,
              epochs, batch_size, eval_every, test_split, validation_split, threshold, rnn_rust,
              **o):
    """Train a recurrent network on DATA_CSV and test it on TEST_CSV (or on a held-out
    share of DATA_CSV). The test sequences never steer training: early stopping and
    --schedule plateau choose epochs on --validation-split's share of the training
    sequences.

    Logs every model's per-epoch line (Epoch 10/100: loss ... | accuracy ... | val_loss
    ... | val_accuracy ...; rmse for regression) and prints final reports on the training
    and test sequences.

    \b
    Defaults per task (--rnn-rust: RNN-Rust's instead):
    """
    from nablanet.datasets.sequences import class_indices, read_sequence_file, train_test_split
    from nablanet.models import GRU, LSTM, RNN
    from nablanet.preprocessing import MinMaxScaler
    from nablanet.serialization import save

    chosen = {"hidden": hidden, "optimizer": o["optimizer"], "lr": o["lr"],
              "batch_size": batch_size, "epochs": epochs}
    defaults = RNN_RUST if rnn_rust else TASK_DEFAULTS[task]
    for key, value in defaults.items():
        if key == "shuffle":
            if not option_given("shuffle"):
                o["shuffle"] = value
        elif chosen[key] is None:
            chosen[key] = value
    o.update(optimizer=chosen["optimizer"], lr=chosen["lr"])
    hidden, batch_size, epochs = chosen["hidden"], chosen["batch_size"], chosen["epochs"]
    threshold = check_threshold(task, threshold)
    validation_split = validation_split_of(validation_split, o)
    prepare_run(o, {"DATA_CSV": data_csv, "TEST_CSV": test_csv})
    train = read_sequence_file(data_csv)
    if not train.n_labels:
        raise ValueError(f"{data_csv}: no label columns y1..yL: 'rnn train' learns from "
                         f"labelled sequences")
    if test_csv:
        test = read_sequence_file(test_csv)
        if (test.feature_names, test.label_names) != (train.feature_names, train.label_names):
            raise ValueError(f"{test_csv}: columns {test.feature_names + test.label_names} "
                             f"differ from {data_csv}'s")
    else:
        train, test = train_test_split(train, 1 - test_split, seed=o["seed"])
    log.info("data: %s and %s, %s, %s", plural(len(train), "training sequence"),
             plural(len(test), "test sequence"), plural(train.n_features, "feature"),
             plural(train.n_labels, "label column"))
    if task == "multiclass":  # one column of class indices, or K one-hot columns
        (train, k_train), (test, k_test) = (
            class_indices(d, target=target, max_classes=MAX_CLASSES) for d in (train, test))
        n_outputs = max(k_train, k_test)
    else:
        n_outputs = _n_outputs(task, train, test)
    n_fit = len(train) - round(len(train) * validation_split)  # what fit trains on
    if validation_split:
        log.info("validation: %s of the training sequences (--validation-split %g), "
                 "the test sequences only reported at the end",
                 plural(len(train) - n_fit, "sequence"), validation_split)
    if not option_given("batch_size"):
        batch_size = min(batch_size, max(n_fit, 1))  # a default never exceeds the data
    n_in, n_params = train.n_features, 0
    for _ in range(num_layers):
        n_params += GATES[cell] * hidden * (n_in + hidden + 1)
        n_in = hidden
    check_parameter_count("--hidden", n_params + (hidden + 1) * n_outputs, o["dtype"])
    scaler = MinMaxScaler().fit(train)
    output_activation, default_loss = TASKS[task]
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell]
    extra = {"activation": activation} if cell == "rnn" else {}
    model = cls(train.n_features, hidden, n_outputs, num_layers=num_layers,
                output_activation=output_activation, loss=loss_name(loss) or default_loss,
                target=target, optimizer=make_optimizer(o), seed=o["seed"],
                dtype=o["dtype"], input_scaling=scaler.feature_layer(),
                output_scaling=scaler.label_layer() if task == "regression" else None,
                **extra)
    meta = {"task": task, "threshold": threshold,
            "feature_names": train.feature_names, "label_names": train.label_names,
            "options": run_options({
                **o, "task": task, "cell": cell, "num_layers": num_layers, "hidden": hidden,
                "activation": activation, "loss": loss_name(loss) or default_loss,
                "target": target, "batch_size": batch_size, "test_split": test_split,
                "validation_split": validation_split, "eval_every": eval_every,
                "threshold": None if task == "multiclass" else threshold,  # none there
                "rnn_rust": rnn_rust})}
    schedule, stopping = training_controls(o, epochs)
    if o["resume"]:
        model = resume_model(o["resume"], model, o, epochs, schedule, stopping)
    Xtr, Ytr, Mtr = _arrays(train)
    Xte, Yte, Mte = _arrays(test)
    del train, test  # the padded arrays hold the data now: the file's block is freed
    log.info("%s(%d -> %d x %d -> %d), %s, %s, batch %d, %s", cls.__name__,
             Xtr.shape[2], hidden, num_layers, n_outputs, model.loss.name, model.optimizer,
             batch_size, plural(epochs, "epoch"))
    if not validation_split:
        log.info("the epoch line's val_ values are on the %s", plural(len(Xte),
                                                                     "test sequence"))
    if task == "regression":
        log.info("the per-epoch loss and RMSE are on the min-max scaled labels (0-1); the "
                 "final reports are in the data's units")
    # the test sequences are never fit's to choose from: with a validation share they
    # are not seen until the report; without one, nothing reads them but the epoch log
    fit_args = {"validation_split": validation_split} if validation_split else {
        "validation_data": (Xte, Yte, Mte)}
    record = run_record("rnn train", {
        "data": str(data_csv), "test_data": test_csv, "task": task, "cell": cell,
        "num_layers": num_layers, "hidden": hidden, "activation": activation,
        "loss": model.loss.name, "target": target, "epochs": epochs,
        "batch_size": batch_size, "test_split": test_split,
        "validation_split": validation_split, "eval_every": eval_every,
        "threshold": threshold, "rnn_rust": rnn_rust, **o}, schedule)
    history = fit_run(model, (Xtr, Ytr, Mtr), o, epochs=epochs, cli=meta, record=record,
                      batch_size=batch_size, **fit_args,
                      schedule=schedule, early_stopping=stopping, eval_every=eval_every,
                      threshold=threshold if task == "binary" else 0.5,
                      backend=o["backend"], threads=o["threads"], shuffle=o["shuffle"])
    reports = {
        "train": _report(model, meta, Xtr, Ytr, Mtr, "Train Evaluation"),
        "test": _report(model, meta, Xte, Yte, Mte, "Test Evaluation"),
    }
    log.info("trained in %.1f s", history.total_seconds)
    if o["model_out"]:
        with writing(o["model_out"], "model"):
            save(model, o["model_out"], cli=meta)
    if o["metrics_out"]:
        write_json(o["metrics_out"], {**record, "backend": model.training_state.backend,
                                      "data": str(data_csv),
                                      "test_data": test_csv, "config": model.get_config(),
                                      "optimizer": model.optimizer.config(), **reports,
                                      "history": run_history(model, history)})
    if o["plot_out"]:
        from nablanet.plotting import plot_training

        kwargs = {}
        if task != "regression":
            kwargs = _true_and_predicted(model, meta, Xte, Yte, Mte)
        with writing(o["plot_out"], "learning curves"):
            plot_training(o["plot_out"], history, **kwargs)


rnn_train.help = inspect.cleandoc(rnn_train.help or "") + "\n" + _defaults_help()


@rnn.command("evaluate", context_settings=CONTEXT, epilog=examples(
    "nablanet rnn evaluate jv/japanese_vowels_test.csv -m jv.safetensors",
    "nablanet rnn evaluate jv/japanese_vowels_test.csv -m jv.safetensors --metrics-out "
    "test.json",
))
@click.argument("data_csv", type=click.Path(dir_okay=False))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A model saved by 'nablanet rnn train --model-out'.")
@click.option("--threshold", type=float, default=None,
              help="Override the saved threshold (as for 'rnn train') [default: the saved "
              "one].")
@click.option("--metrics-out", type=click.Path(dir_okay=False), default=None,
              help="Write the metrics to this JSON file [default: not written].")
@verbosity_options
def rnn_evaluate(data_csv, model_path, threshold, metrics_out):
    """Evaluate a saved recurrent model on DATA_CSV and print the report.

    DATA_CSV needs the model's feature columns and labels in the layout of training
    (multiclass: class indices or one-hot columns, either).
    """
    from nablanet.datasets.sequences import class_indices

    check_outputs({"--metrics-out": metrics_out}, {"DATA_CSV": data_csv, "--model": model_path})
    check_model_kind(model_path, "rnn evaluate")
    scorer = load_scorer(model_path, threshold)
    model, task = scorer.model, scorer.task
    data = _read_for(scorer, data_csv)
    if not data.n_labels:
        raise ValueError(f"{data_csv}: no label columns y1..yL: 'rnn evaluate' compares "
                         f"predictions with labels ('rnn predict' scores data without them)")
    if task == "multiclass":
        data, _ = class_indices(data, target=model.target, max_classes=model.n_outputs)
    elif data.label_names != scorer.label_names:
        raise ValueError(f"{data_csv}: expected the label columns {scorer.label_names} of "
                         f"training, found {data.label_names or 'none'}")
    X, Y, M = _arrays(data)
    metrics = _report(model, scorer.record, X, Y, M, f"Evaluation ({data_csv})")
    if metrics_out:
        write_json(metrics_out, {"command": "rnn evaluate", "model": model_path,
                                 "data": str(data_csv), "metrics": metrics})


@rnn.command("predict", context_settings=CONTEXT, epilog=examples(
    "nablanet rnn predict jv/japanese_vowels_test.csv -m jv.safetensors",
    "nablanet rnn predict jv/japanese_vowels_test.csv -m jv.safetensors -o pred.csv",
    "nablanet rnn predict 'jv/japanese_vowels_*.csv' -m jv.safetensors -o pred.csv --workers 2",
))
@click.argument("data", nargs=-1, required=True)
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A model saved by 'nablanet rnn train --model-out'.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="CSV file to write [default: standard output].")
@click.option("--proba", is_flag=True,
              help="multiclass: add the probability of each class, columns p0..p{K-1} "
              "(binary: the score is already the probability of 1).")
@click.option("--threshold", type=float, default=None,
              help="binary: the decision threshold of the label, in [0, 1] [default: the "
              "saved one].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Score the files on a local Dask cluster of this many worker processes, "
              "one task per file [default: in this process].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Score the files on a running Dask cluster (e.g. tcp://10.0.0.5:8786); "
              "its workers must read the files' paths [default: none].")
@verbosity_options
def rnn_predict(data, model_path, output, proba, threshold, workers, scheduler):
    """Predict for every sequence of the files DATA (CSV or Parquet; file names or glob
    patterns, scored and written in the order given). Their feature columns x1..xF must
    be the model's; label columns, in either layout, may be present (they are ignored)
    or not.

    Writes one CSV: name,t and the predictions. Regression: y1..yL in the data's units;
    binary: the score (the sigmoid output) and the 0/1 label at the threshold;
    multiclass: the class index (and with --proba, p0..p{K-1}). With a model trained by
    'rnn train --target last', one row per sequence (t: its last step), else one per step.

    CSV files are read, scored and written in chunks of whole sequences, so memory does
    not grow with their size (a Parquet file is read whole); the rows of a sequence must
    be contiguous. The output is the same, bit for bit, in one process or on Dask.
    """
    import functools

    from nablanet.scoring import score_files

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    paths = expand_paths(data)
    check_outputs({"--output": output}, {**{f"DATA {p}": p for p in paths},
                                         "--model": model_path})
    check_model_kind(model_path, "rnn predict")
    scorer = load_scorer(model_path, threshold)
    scorer.columns(proba=proba)  # --proba on regression: refused before reading the data
    score = functools.partial(scorer.score, proba=proba)
    rows = score_files(paths, score, output, workers=workers, scheduler=scheduler)
    log.info("%s written to %s", plural(rows, "prediction"), output or "standard output")


def expand_paths(patterns) -> list[str]:
    """The files named by ``patterns`` in order: a name as given, a glob pattern (``*``,
    ``?``, ``[``) as its sorted matches.

    Raises
    ------
    click.BadParameter
        For a pattern that matches no file, or a name that is not a file.
    """
    import glob
    import os

    paths = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not found:
                raise click.BadParameter(f"{pattern!r} matches no file", param_hint="DATA")
            paths += found
        elif not os.path.isfile(pattern):
            raise click.BadParameter(f"no such file: {pattern}", param_hint="DATA")
        else:
            paths.append(pattern)
    return paths


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def check_threshold(task: str, threshold: float | None) -> float:
    """The ``--threshold`` for ``task`` (see :func:`nablanet.models.scorer.check_threshold`).

    Raises
    ------
    click.BadParameter
        Naming --threshold, the task and the value.
    """
    from nablanet.models.scorer import check_threshold as check

    try:
        return check(task, threshold)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--threshold") from None


def _n_outputs(task: str, train, test) -> int:
    """Output units for ``task`` regression or binary, the binary labels checked
    (multiclass labels go through :func:`nablanet.datasets.sequences.class_indices`)."""
    if task == "regression":
        return train.n_labels
    if train.n_labels != 1:
        raise ValueError(f"--task {task}: expected one label column (y1), found "
                         f"{train.n_labels}: {train.label_names}")
    labels = np.concatenate([*train.labels, *test.labels])
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"--task binary: expected labels 0 or 1, found "
                         f"{float(labels[bad][0]):g} (use --task regression or multiclass)")
    return 1


def _arrays(data):
    """Padded ``X (n, T, F)``, labels ``Y (n, T, L)`` and ``mask (n, T)``, float64 in
    the data's units (the model scales them, then casts to its dtype)."""
    from nablanet.datasets.sequences import pad

    X, mask = pad(data.features, dtype=np.float64)
    Y, _ = pad(data.labels, dtype=np.float64)
    return X, Y, mask


def _valid(model, out, Y, mask):
    """Outputs and targets at the labelled steps: all valid steps, or the last."""
    if model.target == "every":
        return out[mask], Y[mask]
    return out, Y[np.arange(len(Y)), mask.sum(axis=1) - 1]


def _report(model, meta: dict, X, Y, mask, title: str) -> dict:
    from nablanet.metrics import (
        binary_classification_metrics,
        multiclass_metrics,
        regression_metrics,
        report_text,
    )

    task, threshold = meta["task"], meta["threshold"]
    out, y = _valid(model, model.predict_proba(X, mask), Y, mask)
    if task == "binary":
        metrics = binary_classification_metrics(y[:, 0], out[:, 0], threshold)
    elif task == "multiclass":
        metrics = multiclass_metrics(y[:, 0].astype(np.int64), out.argmax(axis=1),
                                     n_classes=model.n_outputs)
    else:
        metrics = regression_metrics(y, out, threshold)  # the model gives data units
        title += ", errors in the data's units"
    click.echo(report_text(metrics, title))
    return metrics


def _true_and_predicted(model, meta: dict, X, Y, mask) -> dict:
    out, y = _valid(model, model.predict_proba(X, mask), Y, mask)
    if meta["task"] == "binary":
        pred = (out[:, 0] >= meta["threshold"]).astype(np.int64)
    else:
        pred = out.argmax(axis=1)
    return {"y_true": y[:, 0].astype(np.int64), "y_pred": pred}


def load_scorer(model_path, threshold: float | None = None) -> SequenceScorer:
    """The :class:`~nablanet.models.scorer.SequenceScorer` of a file saved by ``rnn
    train``, with ``--threshold`` (if given) in place of the saved one."""
    scorer = SequenceScorer.load(model_path)
    if threshold is not None:
        scorer.threshold = check_threshold(scorer.task, threshold)
    return scorer


def _read_for(scorer: SequenceScorer, data_csv):
    """The sequences of ``data_csv`` (CSV or Parquet), with the model's features."""
    from nablanet.datasets.sequences import read_sequence_file

    data = read_sequence_file(data_csv)
    scorer.check_features(data.feature_names, data_csv)
    return data

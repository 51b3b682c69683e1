"""``nablanet rnn ...`` and ``nablanet data ...``: recurrent networks on sequence CSV files.

The CSV format is the Rust seed's (``name,t,x1..xF,y1..yL``, see
:mod:`nablanet.datasets.sequences`). Features are min-max scaled with bounds fitted on
the training sequences only; regression labels too (predictions and reports are given
back in the original units). Classification labels are used as they are: 0/1 for
``--task binary``, class indices 0..K-1 for ``--task multiclass``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from nablanet.cli import (
    CONTEXT,
    _check_outputs,
    _check_writable,
    _make_optimizer,
    _training_controls,
    _write_json,
    cli,
    optimizer_options,
)

log = logging.getLogger("nablanet")

TASKS = {  # task: (output activation, default loss)
    "binary": ("sigmoid", "mse"),
    "multiclass": ("softmax", "cross_entropy"),
    "regression": ("identity", "mse"),
}


@cli.group(context_settings=CONTEXT)
def rnn():
    """Recurrent networks (RNN, LSTM, GRU) on sequence CSV files."""


@rnn.command("train", context_settings=CONTEXT)
@click.argument("data_csv", type=click.Path(dir_okay=False))
@click.option("--test-data", type=click.Path(dir_okay=False),
              help="Use this CSV as the test set instead of a split of DATA_CSV.")
@click.option("--cell", type=click.Choice(["rnn", "lstm", "gru"]), default="rnn",
              show_default=True, help="Recurrent cell.")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stacked recurrent layers.")
@click.option("--hidden", type=click.IntRange(min=1), default=10, show_default=True,
              help="Hidden units per layer.")
@click.option("--activation", type=click.Choice(["tanh", "relu", "sigmoid"]), default="tanh",
              show_default=True, help="Hidden activation of the vanilla RNN cell.")
@click.option("--task", type=click.Choice(list(TASKS)), default="binary", show_default=True,
              help="binary: sigmoid output, 0/1 labels; multiclass: softmax output, class "
              "index labels; regression: linear output, scaled labels.")
@click.option("--loss", type=click.Choice(["mse", "binary_cross_entropy", "cross_entropy"]),
              default=None, help="Loss [default: mse for binary (the seed's) and "
              "regression, cross_entropy for multiclass].")
@click.option("--target", type=click.Choice(["every", "last"]), default="every",
              show_default=True, help="Label every step (many-to-many) or only the last.")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sequences per update (1 = the seed's semantics).")
@click.option("--train-ratio", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True, help="Share of sequences used for training.")
@click.option("--eval-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Evaluate on train and test every this many epochs.")
@click.option("--threshold", type=float, default=None,
              help="Decision threshold (binary, default 0.5) or relative tolerance for "
              "'within threshold' (regression, default 0.1).")
@optimizer_options("sgd", 0.001)
def rnn_train(data_csv, test_data, cell, layers, hidden, activation, task, loss, target,
              epochs, batch_size, train_ratio, eval_every, threshold, **o):
    """Train a recurrent network on DATA_CSV (rows name,t,x1..xF,y1..yL).

    Prints the seed's per-epoch line (Epoch 10: Loss = ... | Train Accuracy: ... | Test
    Accuracy: ...) and final reports for the training and test sequences.
    """
    from nablanet.datasets.sequences import MinMaxScaler, read_sequence_csv, train_test_split
    from nablanet.models import GRU, LSTM, RNN

    _check_outputs(o)
    train = read_sequence_csv(data_csv)
    if test_data:
        test = read_sequence_csv(test_data)
        if (test.feature_names, test.label_names) != (train.feature_names, train.label_names):
            raise ValueError(f"{test_data}: columns {test.feature_names + test.label_names} "
                             f"differ from {data_csv}'s")
    else:
        train, test = train_test_split(train, train_ratio, seed=o["seed"])
    log.info("data: %d training and %d test sequences, %d features, %d labels",
             len(train), len(test), train.n_features, train.n_labels)
    n_outputs = _n_outputs(task, train, test)
    scaler = MinMaxScaler().fit(train)
    output_activation, default_loss = TASKS[task]
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell]
    extra = {"activation": activation} if cell == "rnn" else {}
    model = cls(train.n_features, hidden, n_outputs, num_layers=layers,
                output_activation=output_activation, loss=loss or default_loss,
                target=target, optimizer=_make_optimizer(o), seed=o["seed"],
                dtype=o["dtype"], **extra)
    threshold = _threshold(task, threshold)
    meta = {"task": task, "threshold": threshold, "scaler": scaler.to_dict(),
            "feature_names": train.feature_names, "label_names": train.label_names}
    schedule, stopping = _training_controls(o, epochs)
    Xtr, Ytr, Mtr = _arrays(train, scaler, task, model.dtype)
    Xte, Yte, Mte = _arrays(test, scaler, task, model.dtype)
    log.info("%s(%d -> %d x %d -> %d), %s, %s", cls.__name__, train.n_features, hidden,
             layers, n_outputs, model.loss.name, model.optimizer)
    history = model.fit(Xtr, Ytr, Mtr, epochs=epochs, batch_size=batch_size,
                        validation_data=(Xte, Yte, Mte), schedule=schedule,
                        early_stopping=stopping, eval_every=eval_every,
                        threshold=threshold if task == "binary" else 0.5,
                        backend=o["backend"], threads=o["threads"], shuffle=o["shuffle"])
    reports = {
        "train": _report(model, meta, Xtr, Ytr, Mtr, scaler, "Train Evaluation"),
        "test": _report(model, meta, Xte, Yte, Mte, scaler, "Test Evaluation"),
    }
    log.info("trained in %.1f s", history.total_seconds)
    if o["save_path"]:
        from nablanet.serialization import save

        save(model, o["save_path"], cli=meta)
        log.info("saved the model to %s", o["save_path"])
    if o["metrics_out"]:
        _write_json(o["metrics_out"], {"command": "rnn train", "data": str(data_csv),
                                       "test_data": test_data, "config": model.get_config(),
                                       "optimizer": model.optimizer.config(), **reports,
                                       "history": history.to_dict()})
    if o["plot_path"]:
        from nablanet.plotting import plot_training

        kwargs = {}
        if task != "regression":
            kwargs = _true_and_predicted(model, meta, Xte, Yte, Mte)
        plot_training(o["plot_path"], history, **kwargs)


@rnn.command("evaluate", context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A model saved by 'nablanet rnn train --save'.")
@click.argument("data_csv", type=click.Path(dir_okay=False))
@click.option("--threshold", type=float, default=None, help="Override the saved threshold.")
@click.option("--metrics-out", type=click.Path(dir_okay=False), help="Write JSON here.")
def rnn_evaluate(model_path, data_csv, threshold, metrics_out):
    """Evaluate a saved recurrent model on DATA_CSV and print the report."""
    model, meta, scaler = _load(model_path)
    data = _read_for(meta, data_csv)
    if threshold is not None:
        meta["threshold"] = threshold
    X, Y, M = _arrays(data, scaler, meta["task"], model.dtype)
    metrics = _report(model, meta, X, Y, M, scaler, f"Evaluation ({data_csv})")
    if metrics_out:
        _write_json(metrics_out, {"command": "rnn evaluate", "model": model_path,
                                  "data": str(data_csv), "metrics": metrics})


@rnn.command("predict", context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.argument("data_csv", type=click.Path(dir_okay=False))
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="CSV to write: name,t and the predictions (in the original units).")
def rnn_predict(model_path, data_csv, output):
    """Predict for every sequence of DATA_CSV (labels columns, if present, are ignored).

    Regression writes y1..yL; binary writes the score and the 0/1 class; multiclass the
    class index. With a model trained on --target last, one row per sequence."""
    import polars as pl

    from nablanet.atomic import atomic_write_bytes
    from nablanet.datasets.sequences import pad

    model, meta, scaler = _load(model_path)
    _check_writable(output)
    data = _read_for(meta, data_csv)
    X, M = pad(scaler.transform(data).features, dtype=model.dtype)
    out = model.predict_proba(X, M)
    lengths = M.sum(axis=1)
    task, threshold = meta["task"], meta["threshold"]
    names = np.asarray(data.names, dtype=object)
    if model.target == "every":
        names, t, out = np.repeat(names, lengths), np.concatenate(data.times), out[M]
    else:
        t = np.array([times[-1] for times in data.times])
    columns = {"name": names, "t": t}
    if task == "regression":
        out = scaler.inverse_transform_labels(out)
        columns.update({n: out[:, k] for k, n in enumerate(meta["label_names"])})
    elif task == "binary":
        columns.update(score=out[:, 0], label=(out[:, 0] >= threshold).astype(np.int64))
    else:
        columns["label"] = out.argmax(axis=1)
    frame = pl.DataFrame(columns)
    atomic_write_bytes(output, frame.write_csv().encode())
    log.info("wrote %d predictions to %s", len(frame), output)


# --------------------------------------------------------------------------------------
# nablanet data
# --------------------------------------------------------------------------------------
@cli.group(context_settings=CONTEXT)
def data():
    """Data sets: convert real data into the sequence CSV format."""


@data.command("convert", context_settings=CONTEXT)
@click.argument("dataset", type=click.Choice(["japanese-vowels", "elnino"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--window", type=click.IntRange(min=1), default=12, show_default=True,
              help="elnino: months per sequence.")
@click.option("--test-years", type=click.IntRange(min=1), default=10, show_default=True,
              help="elnino: final years held out for testing.")
def convert(dataset, out_dir, window, test_years):
    """Write DATASET as train and test CSV files into OUT_DIR.

    japanese-vowels: the UEA JapaneseVowels speaker data (12 features, 9 classes, 270/370
    sequences of 7-29 steps), from the copy the aeon package ships. elnino: monthly
    sea-surface temperatures (statsmodels), windows of --window months whose label at
    each step is the next month; the last --test-years years are held out.
    Needs: pip install 'nablanet[data]'.
    """
    from nablanet.datasets.convert import convert_elnino, convert_japanese_vowels

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if dataset == "japanese-vowels":
        paths = convert_japanese_vowels(out_dir)
    else:
        paths = convert_elnino(out_dir, window=window, test_years=test_years)
    for p in paths:
        click.echo(str(p))


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _n_outputs(task: str, train, test) -> int:
    labels = np.concatenate([*train.labels, *test.labels])
    if task == "regression":
        return train.n_labels
    if train.n_labels != 1:
        raise ValueError(f"--task {task}: expected one label column (y1), found "
                         f"{train.n_labels}: {train.label_names}")
    if task == "binary":
        bad = ~np.isin(labels, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"--task binary: expected labels 0 or 1, found "
                             f"{float(labels[bad][0]):g} (use --task regression or multiclass)")
        return 1
    if (labels < 0).any() or (np.mod(labels, 1) != 0).any():
        raise ValueError("--task multiclass: expected class indices 0, 1, 2, ... as labels")
    return int(labels.max()) + 1


def _threshold(task: str, threshold: float | None) -> float:
    if threshold is None:
        return 0.1 if task == "regression" else 0.5
    return threshold


def _arrays(data, scaler, task: str, dtype):
    """Padded, scaled ``X (n, T, F)``, labels ``Y (n, T, L)`` and ``mask (n, T)``."""
    from nablanet.datasets.sequences import pad

    scaled = scaler.transform(data)
    X, mask = pad(scaled.features, dtype=dtype)
    Y, _ = pad(scaled.labels if task == "regression" else data.labels, dtype=dtype)
    return X, Y, mask


def _valid(model, out, Y, mask):
    """Outputs and targets at the labelled steps: all valid steps, or the last."""
    if model.target == "every":
        return out[mask], Y[mask]
    return out, Y[np.arange(len(Y)), mask.sum(axis=1) - 1]


def _report(model, meta: dict, X, Y, mask, scaler, title: str) -> dict:
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
        metrics = regression_metrics(scaler.inverse_transform_labels(y),
                                     scaler.inverse_transform_labels(out), threshold)
    click.echo(report_text(metrics, title))
    return metrics


def _true_and_predicted(model, meta: dict, X, Y, mask) -> dict:
    out, y = _valid(model, model.predict_proba(X, mask), Y, mask)
    if meta["task"] == "binary":
        pred = (out[:, 0] >= meta["threshold"]).astype(np.int64)
    else:
        pred = out.argmax(axis=1)
    return {"y_true": y[:, 0].astype(np.int64), "y_pred": pred}


def _load(model_path):
    from nablanet.datasets.sequences import MinMaxScaler
    from nablanet.models import RecurrentNetwork
    from nablanet.serialization import load, read_cli

    model = load(model_path, expect=RecurrentNetwork)
    meta = read_cli(model_path)
    needed = ("task", "threshold", "scaler", "feature_names", "label_names")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise ValueError(f"{model_path}: not saved by 'nablanet rnn train' (no {missing})")
    return model, meta, MinMaxScaler.from_dict(meta["scaler"])


def _read_for(meta: dict, data_csv):
    from nablanet.datasets.sequences import read_sequence_csv

    data = read_sequence_csv(data_csv)
    expected = meta["feature_names"]
    if data.feature_names != expected:
        raise ValueError(f"{data_csv}: expected feature columns {expected}, found "
                         f"{data.feature_names}")
    return data

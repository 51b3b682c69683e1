"""Sweeps (``nablanet tune``): the space file's checks, the trial's objective, and whole
sweeps on real Dask clusters: a ``dask scheduler`` with two ``dask worker`` processes on
127.0.0.1, the driver killed and restarted, a worker killed mid-trial, and the local
cluster against a serial run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nablanet.tune import Space, load_space, objective_value

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
    "NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"}

SPACE = """\
command = "train"
data = "{data}"
trials = {trials}
sampler = "{sampler}"
seed = 7

[objective]
metric = "val_accuracy"

[options]
sizes = "784,10,10"
epochs = {epochs}
backend = "numpy"

[params]
{params}
"""
GRID = 'lr = { type = "categorical", choices = [0.5, 2.0, 4.0] }\n' \
       'batch-size = { type = "categorical", choices = [10, 50] }'
RANDOM = 'lr = { type = "log_uniform", low = 0.3, high = 5.0 }\n' \
         'batch-size = { type = "int", low = 10, high = 50, step = 20 }'


def write_space(tmp_path: Path, data, trials=6, sampler="random", params=RANDOM,
                epochs=1, name="sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(SPACE.format(data=data, trials=trials, sampler=sampler, params=params,
                                 epochs=epochs))
    return path


def nablanet(*args, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nablanet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def optuna_study(out_dir: Path):
    """The sweep's study, read from its journal file as a second process would (None
    before the driver created it)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(out_dir / "study.journal")))
    names = [s.study_name for s in storage.get_all_studies()]
    return optuna.load_study(study_name=names[0], storage=storage) if names else None


def trials_of(out_dir: Path) -> list:
    """The study's trials (none before the driver created the study)."""
    study = optuna_study(out_dir)
    return study.get_trials() if study is not None else []


def complete(trials) -> list:
    return [t for t in trials if t.state.name == "COMPLETE"]


# ------------------------------------------------------------------------------------
# The space file
# ------------------------------------------------------------------------------------
GOOD = {"command": '"train"', "data": '"mnist"'}


def space_text(top: dict, tables: str) -> str:
    return "".join(f"{k} = {v}\n" for k, v in top.items()) + tables


OBJ = '[objective]\nmetric = "val_accuracy"\n'
PARAMS = '[params]\nlr = { type = "log_uniform", low = 0.1, high = 1.0 }\n'


@pytest.mark.parametrize(("top", "tables", "key"), [
    ({**GOOD, "bogus": 1}, OBJ + PARAMS, "bogus: expected one of"),
    ({"data": '"mnist"'}, OBJ + PARAMS, "command: expected one of"),
    ({**GOOD, "command": '"evaluate"'}, OBJ + PARAMS, "command: expected one of"),
    ({"command": '"train"'}, OBJ + PARAMS, "data: expected"),
    ({**GOOD, "sampler": '"cmaes"'}, OBJ + PARAMS, "sampler: expected one of"),
    ({**GOOD, "trials": 0}, OBJ + PARAMS, "trials: expected an integer >= 1"),
    ({**GOOD, "trials": '"6"'}, OBJ + PARAMS, "trials: expected an integer"),
    ({**GOOD, "seeds": "[]"}, OBJ + PARAMS, "seeds: expected a non-empty list"),
    ({**GOOD, "seeds": "[1, 1]"}, OBJ + PARAMS, "seeds: expected distinct"),
    (GOOD, PARAMS, "objective: expected a table"),
    (GOOD, '[objective]\nmetric = "test_accuracy"\n' + PARAMS,
     "objective.metric: expected a validation metric"),
    (GOOD, OBJ + 'direction = "up"\n' + PARAMS, "objective.direction: expected"),
    (GOOD, OBJ + '[options]\nseed = 3\n' + PARAMS, "options.seed: expected no such option"),
    (GOOD, OBJ + '[options]\ntest-data = "t.csv"\n' + PARAMS, "options.test-data"),
    (GOOD, OBJ + '[options]\nsizes = [784, 10]\n' + PARAMS, "options.sizes: expected a"),
    (GOOD, OBJ + '[options]\nlr = 0.1\n' + PARAMS, "params.lr: expected an option not"),
    (GOOD, OBJ + "[params]\n", "params: expected at least one"),
    (GOOD, OBJ + "[params]\nlr = 0.1\n", "params.lr: expected a table"),
    (GOOD, OBJ + '[params]\nlr = { type = "normal" }\n', "params.lr.type: expected one"),
    (GOOD, OBJ + '[params]\nlr = { type = "uniform", low = 1, high = 1 }\n',
     "params.lr.high: expected a value > low"),
    (GOOD, OBJ + '[params]\nlr = { type = "log_uniform", low = 0, high = 1 }\n',
     "params.lr.low: expected a value > 0"),
    (GOOD, OBJ + '[params]\nlr = { type = "uniform", low = "a", high = 1 }\n',
     "params.lr.low: expected a number"),
    (GOOD, OBJ + '[params]\nepochs = { type = "int", low = 1.5, high = 3 }\n',
     "params.epochs.low: expected an integer"),
    (GOOD, OBJ + '[params]\nepochs = { type = "int", low = 1, high = 3, step = 0 }\n',
     "params.epochs.step: expected an integer >= 1"),
    (GOOD, OBJ + '[params]\nlr = { type = "uniform", low = 0, high = 1, step = 2 }\n',
     "params.lr.step: expected one of"),
    (GOOD, OBJ + '[params]\nlr = { type = "categorical", choices = [] }\n',
     "params.lr.choices: expected a non-empty list"),
    (GOOD, OBJ + '[params]\nlr = { type = "categorical", choices = [1, 1] }\n',
     "params.lr.choices: expected distinct"),
    ({**GOOD, "sampler": '"grid"'}, OBJ + PARAMS, "params.lr.type: expected 'categorical' or"),
    ({**GOOD, "sampler": '"grid"', "trials": 3},
     OBJ + '[params]\nlr = { type = "categorical", choices = [1, 2] }\n',
     "trials: expected at most the grid's 2"),
    (GOOD, OBJ + '[params]\n"--lr" = { type = "uniform", low = 0, high = 1 }\n',
     "params.--lr: expected an option's long name"),
    (GOOD, OBJ + '[options]\nhistory-out = "h.jsonl"\n' + PARAMS, "options.history-out"),
    ({**GOOD, "pruner": '"median"'}, OBJ + PARAMS, "pruner: expected a table"),
    (GOOD, OBJ + PARAMS + '[pruner]\ntype = "hyperband"\n', "pruner.type: expected one of"),
    (GOOD, OBJ + PARAMS + '[pruner]\nwarmup_epochs = 1\n', "pruner.type: expected one of"),
    (GOOD, OBJ + PARAMS + '[pruner]\ntype = "median"\nwarmup_epochs = -1\n',
     "pruner.warmup_epochs: expected an integer >= 0"),
    (GOOD, OBJ + PARAMS + '[pruner]\ntype = "median"\nstartup_trials = 1.5\n',
     "pruner.startup_trials: expected an integer >= 0"),
    (GOOD, OBJ + PARAMS + '[pruner]\ntype = "median"\npatience = 2\n',
     "pruner.patience: expected one of"),
])
def test_bad_space_file_names_the_key(tmp_path, top, tables, key):
    path = tmp_path / "s.toml"
    path.write_text(space_text(top, tables))
    with pytest.raises(ValueError, match="^" + str(path).replace(".", r"\.")) as err:
        load_space(path)
    assert key in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_toml_and_missing_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("command = train\n")
    with pytest.raises(ValueError, match=r"not a valid TOML file.*line 1"):
        load_space(path)
    with pytest.raises(FileNotFoundError, match="no such space file"):
        load_space(tmp_path / "missing.toml")


def test_space_defaults_and_command_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "s.toml"
    path.write_text(space_text({"command": '"train"', "data": '"data"'},
                               '[objective]\nmetric = "val_loss"\n[options]\nshuffle = false\n'
                               "epochs = 2\n" + PARAMS))
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        space = load_space("s.toml")
    finally:
        os.chdir(cwd)
    assert isinstance(space, Space)
    assert (space.name, space.sampler, space.trials, space.seeds) == ("s", "tpe", 20, (1,))
    assert space.direction == "minimize"  # a loss
    assert space.data == str(data)  # absolute: the workers may run elsewhere
    assert space.argv({"lr": 0.25}, 5) == [
        "train", str(data), "--no-shuffle", "--epochs", "2", "--validation-split", "0.1",
        "--threads", "1", "--lr", "0.25", "--seed", "5"]


def test_rnn_space_gets_no_validation_split(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(space_text({"command": '"rnn train"', "data": '"train.csv"',
                                "seeds": "[1, 2]"}, OBJ + PARAMS))
    space = load_space(path)
    assert "validation-split" not in space.options
    assert space.argv({"lr": 0.5}, 2)[:3] == ["rnn", "train", "train.csv"]


def test_objective_value_reads_the_kept_epoch():
    epochs = [{"epoch": 0, "val_loss": 0.5}, {"epoch": 1, "val_loss": 0.3},
              {"epoch": 2, "val_loss": 0.4}]
    assert objective_value({"history": {"epochs": epochs, "best_epoch": None}},
                           "val_loss") == 0.4
    assert objective_value({"history": {"epochs": epochs, "best_epoch": 1}}, "val_loss") == 0.3
    with pytest.raises(RuntimeError, match=r"'val_accuracy' is not in .*\['val_loss'\]"):
        objective_value({"history": {"epochs": epochs}}, "val_accuracy")
    with pytest.raises(RuntimeError, match="not finite"):
        objective_value({"history": {"epochs": [{"epoch": 0, "val_loss": None}]}},
                        "val_loss")


def test_cli_bad_option_is_one_line_before_anything_runs(tmp_path):
    path = write_space(tmp_path, "mnist", params='activation = { type = "categorical", '
                       'choices = ["relu", "swish"] }')
    result = nablanet("tune", path, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and "--activation" in lines[0] and "swish" in lines[0]
    assert not (tmp_path / "sweep-tune").exists()
    path.write_text(path.read_text().replace("[objective]", "[objective]\ndirection = 1"))
    result = nablanet("tune", path, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "objective.direction" in result.stderr


# ------------------------------------------------------------------------------------
# Whole sweeps on Dask
# ------------------------------------------------------------------------------------
@pytest.fixture
def cluster(dask_cluster):
    """The shared cluster of conftest.py (a scheduler and two workers on 127.0.0.1)."""
    pytest.importorskip("optuna")
    return dask_cluster


@pytest.mark.slow
def test_grid_sweep_on_a_dask_cluster(cluster, tmp_path, mnist_10k_dir):
    path = write_space(tmp_path, mnist_10k_dir, sampler="grid", params=GRID)
    result = nablanet("tune", path, "--scheduler", cluster.address, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "sweep-tune"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["complete"], summary["failed"]) == (6, 0)
    trials = complete(trials_of(out))
    assert sorted((t.params["lr"], t.params["batch-size"]) for t in trials) == [
        (lr, b) for lr in (0.5, 2.0, 4.0) for b in (10, 50)]  # the whole grid, once each
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number
    # the printed command reproduces the best trial's run
    command = result.stdout.strip().splitlines()[-1]
    assert command.startswith("nablanet train ") and f"--lr {best.params['lr']}" in command
    assert "top trials" in result.stdout
    from nablanet import load

    model = load(out / "best.safetensors")
    assert model.sizes == [784, 10, 10]
    metrics = json.loads((out / "trials" / f"{best.number:05d}" /
                          "metrics-seed1.json").read_text())
    assert metrics["history"]["epochs"][-1]["val_accuracy"] == best.value
    assert (out / "tune.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_killed_driver_resumes_without_duplicates(cluster, tmp_path, mnist_10k_dir):
    path = write_space(tmp_path, mnist_10k_dir)
    out = tmp_path / "sweep-tune"
    args = [sys.executable, "-m", "nablanet", "tune", str(path), "--scheduler",
            cluster.address]
    driver = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(complete(trials_of(out) if (out / "study.journal").exists() else [])) < 3:
        assert driver.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = trials_of(out)
    kept = {t.number: (t.params, t.value) for t in complete(before)}
    running = [t.number for t in before if t.state.name == "RUNNING"]
    assert len(kept) >= 3
    result = nablanet("tune", path, "--scheduler", cluster.address, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = trials_of(out)
    done = complete(after)
    assert len(done) == 6
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == 6  # no configuration ran twice
    assert {t.number: (t.params, t.value) for t in done if t.number in kept} == kept
    stopped = optuna_study(out).user_attrs["stopped"]
    for number in running:  # marked failed and replaced: retried once if it had started
        dead = after[number]
        assert dead.state.name == "FAIL" and not stopped[str(number)]["counted"]
        retries = [t for t in done if t.user_attrs.get("retry_of") == number]
        if set(dead.params) == {"lr", "batch-size"}:
            assert len(retries) == 1 and retries[0].params == dead.params
        else:  # killed between ask and submit: it never ran, a new trial took its place
            assert retries == []


@pytest.mark.slow
def test_killed_worker_loses_no_trial(cluster, tmp_path, mnist_10k_dir):
    from distributed import Client

    path = write_space(tmp_path, mnist_10k_dir, trials=4, epochs=2)
    driver = subprocess.Popen(
        [sys.executable, "-m", "nablanet", "tune", str(path), "--scheduler", cluster.address],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Client(cluster.address, timeout="30s") as client:
        deadline = time.monotonic() + 120
        while True:
            busy = [w for w, keys in client.processing().items()
                    if any("nablanet-trial" in str(k) for k in keys)]
            if busy:
                break
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    time.sleep(0.5)  # well inside the trial's run
    cluster.workers[busy[0]].send_signal(signal.SIGKILL)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr
    summary = json.loads((tmp_path / "sweep-tune" / "summary.json").read_text())
    assert (summary["complete"], summary["failed"]) == (4, 0)


@pytest.mark.slow
def test_local_cluster_matches_a_serial_run(tmp_path, idx_dir, monkeypatch):
    pytest.importorskip("optuna")
    pytest.importorskip("distributed")
    from nablanet.tune import tune

    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])
    import optuna

    path = write_space(tmp_path, idx_dir, trials=4)
    url = f"sqlite:///{tmp_path / 'serial.db'}"  # --storage: a database instead of the journal
    tune(path, out_dir=tmp_path / "w1", workers=1, storage=url)
    serial = optuna.load_study(study_name="sweep", storage=url).get_trials()
    tune(path, out_dir=tmp_path / "w2", workers=2)
    parallel = trials_of(tmp_path / "w2")
    runs = [{t.number: (t.params, t.value) for t in complete(trials)}
            for trials in (serial, parallel)]
    assert len(runs[0]) == 4 and not (tmp_path / "w1" / "study.journal").exists()
    assert runs[1] == runs[0]


@pytest.mark.slow
def test_median_pruner_stops_the_slow_learners_early(tmp_path, mnist_10k_dir, monkeypatch):
    pytest.importorskip("optuna")
    pytest.importorskip("distributed")
    from nablanet.tune import tune

    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])
    lrs = 'lr = { type = "categorical", choices = [3.0, 2.0, 0.002, 0.001] }'
    # 60 short epochs (about 0.05 s each): the pruner acts within a fraction of a second
    path = write_space(tmp_path, mnist_10k_dir, trials=4, sampler="grid", params=lrs,
                       epochs=60)
    path.write_text(path.read_text() + '[pruner]\ntype = "median"\nstartup_trials = 1\n')
    out = tmp_path / "out"
    summary = tune(path, out_dir=out, workers=1)
    # seed 7 draws the grid as lr 3.0, 0.002, 2.0, 0.001; one worker runs them in order
    trials = {t.params["lr"]: t for t in trials_of(out)}
    first = trials[3.0]
    assert list(trials) == [3.0, 0.002, 2.0, 0.001]
    assert first.state.name == "COMPLETE"  # nothing to compare it with: it runs whole
    metrics = json.loads((out / "trials" / "00000" / "metrics-seed1.json").read_text())
    assert first.intermediate_values == {e["epoch"]: e["val_accuracy"]
                                         for e in metrics["history"]["epochs"]}
    for lr in (0.002, 0.001):  # far below the median at the same epoch: stopped early
        t = trials[lr]
        assert t.state.name == "PRUNED"
        last = max(t.intermediate_values)
        assert last <= t.user_attrs["pruned_at_epoch"] < 60
        assert t.intermediate_values[last] < first.intermediate_values[last]
        assert not (out / "trials" / f"{t.number:05d}").exists()  # no model saved
    assert summary["pruned"] >= 2 and summary["complete"] + summary["pruned"] == 4


@pytest.mark.slow
def test_failed_trials_are_recorded_with_their_error(tmp_path):
    pytest.importorskip("optuna")
    pytest.importorskip("distributed")
    path = write_space(tmp_path, tmp_path / "no-such-data", trials=2)
    result = nablanet("tune", path, "--workers", "1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "nablanet: error: no trial of study 'sweep' completed")
    trials = trials_of(tmp_path / "sweep-tune")
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all("no-such-data" in t.user_attrs["error"] for t in trials)
    summary = json.loads((tmp_path / "sweep-tune" / "summary.json").read_text())
    assert (summary["complete"], summary["failed"]) == (0, 2)


def test_a_trial_left_running_is_retried_once():
    optuna = pytest.importorskip("optuna")
    from nablanet.tune import counted_trials, recover_interrupted

    study = optuna.create_study()
    first = study.ask()
    first.suggest_float("lr", 0.1, 1.0)
    recover_interrupted(study, ["lr"])  # the driver died while `first` ran
    states = [t.state.name for t in study.get_trials()]
    assert states == ["FAIL", "WAITING"]
    retry = study.ask()
    retry.suggest_float("lr", 0.1, 1.0)
    assert retry.params == first.params and retry.user_attrs == {"retry_of": 0}
    recover_interrupted(study, ["lr"])  # ... and again while its retry ran: no third one
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "FAIL"]
    assert [t.number for t in counted_trials(study)] == [1]  # the retry counts as failed


def test_a_trial_stopped_before_it_was_submitted_is_replaced_not_retried():
    optuna = pytest.importorskip("optuna")
    from nablanet.tune import counted_trials, recover_interrupted

    study = optuna.create_study()
    study.ask()  # the driver died between ask and the parameters' draw
    recover_interrupted(study, ["lr"])
    assert [t.state.name for t in study.get_trials()] == ["FAIL"]  # nothing queued
    assert counted_trials(study) == []
    assert "before this trial was submitted" in study.user_attrs["stopped"]["0"]["error"]
    ran = study.ask()
    ran.suggest_float("lr", 0.1, 1.0)
    recover_interrupted(study, ["lr"])  # trial 1 ran: queued again as trial 2
    study.ask()  # ... and the driver died again before the retry drew its parameters
    recover_interrupted(study, ["lr"])
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs == {"retry_of": 1}
    retry = study.ask()
    assert retry.suggest_float("lr", 0.1, 1.0) == ran.params["lr"]
    assert counted_trials(study) == []


@pytest.mark.slow
def test_rnn_sweep_scores_the_held_out_share(tmp_path, japanese_vowels, monkeypatch):
    pytest.importorskip("optuna")
    pytest.importorskip("distributed")
    from nablanet.tune import tune

    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])
    path = tmp_path / "rnn.toml"
    path.write_text(f"""\
command = "rnn train"
data = "{japanese_vowels[0]}"
trials = 2
sampler = "random"
[objective]
metric = "val_loss"
[options]
task = "multiclass"
target = "last"
epochs = 2
batch-size = 32
optimizer = "adam"
backend = "numpy"
[params]
cell = {{ type = "categorical", choices = ["rnn", "gru"] }}
lr = {{ type = "log_uniform", low = 0.001, high = 0.01 }}
""")
    summary = tune(path, workers=1)
    assert summary["direction"] == "minimize" and summary["complete"] == 2
    best = summary["best"]
    metrics = json.loads((tmp_path / "rnn-tune" / "trials" / f"{best['number']:05d}" /
                          "metrics-seed1.json").read_text())
    assert metrics["command"] == "rnn train" and metrics["test_data"] is None
    assert metrics["history"]["epochs"][-1]["val_loss"] == best["value"]
    assert best["command"].startswith(f"nablanet rnn train {japanese_vowels[0]} ")

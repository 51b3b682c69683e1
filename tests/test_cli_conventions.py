"""The CLI convention, checked on the click objects in-process (``from nablanet.cli
import cli``): every command attached, help text and a default on every option, runnable
examples, -v/-q after the command, old spellings deprecated but working, ``info``."""

from __future__ import annotations

import logging
import re
import shlex

import click
import pytest
from click.testing import CliRunner

from nablanet.cli import COMMANDS, cli, main


def leaf(path: str) -> click.Command:
    command = cli
    for name in path.split():
        command = command.commands[name]
    return command


def all_leaves(group: click.Group = cli, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_leaves(command, f"{prefix}{name} ")
        else:
            found.append(prefix + name)
    return found


#: every command; a new one is held to the convention by the tests below
LEAVES = all_leaves()


def test_the_root_group_has_every_command():
    assert {"train", "evaluate", "predict", "rnn train", "rnn evaluate", "rnn predict",
            "data convert", "info"} <= set(LEAVES)
    assert sorted(cli.commands) == sorted(c.name for c in COMMANDS)


def test_every_command_runs_under_clirunner():
    runner = CliRunner()
    for path in LEAVES:
        result = runner.invoke(cli, [*path.split(), "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: cli {path}" in result.output


@pytest.mark.parametrize("path", LEAVES)
def test_every_option_has_help_and_a_default(path):
    command = leaf(path)
    ctx = click.Context(command, info_name=path, **command.context_settings)
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden or param.name == "help":
            continue
        assert param.help, f"{path} {param.opts[0]}: no help text"
        if param.count or (param.is_flag and not param.secondary_opts):
            continue  # -v/-q and on/off flags: off by default
        record = param.get_help_record(ctx)[1]
        assert "[default:" in record or "[required]" in record or "default:" in param.help, (
            f"{path} {param.opts[0]}: no default shown: {record}")


@pytest.mark.parametrize("path", LEAVES)
def test_every_help_ends_with_runnable_examples(path):
    command = leaf(path)
    lines = [line.strip() for line in command.epilog.splitlines()]
    assert lines[:2] == ["\b", "Examples:"]
    examples = lines[2:]
    assert 2 <= len(examples) <= 3
    for example in examples:
        args = shlex.split(example.split(" > ")[0])
        assert args[0] == "nablanet"
        group, args = cli, args[1:]
        while isinstance(group, click.Group) and args and args[0] in group.commands:
            group, args = group.commands[args[0]], args[1:]
        assert isinstance(group, click.Command)
        if "--help" not in args:  # parses: options exist, values are valid
            group.make_context(group.name, args)


def test_data_inputs_are_positional_and_the_model_is_m():
    for path in ["evaluate", "predict", "rnn evaluate", "rnn predict"]:
        params = {p.name: p for p in leaf(path).params}
        assert "-m" in params["model_path"].opts and "--model" in params["model_path"].opts
        assert any(isinstance(p, click.Argument) for p in params.values())
    for path in ["predict", "rnn predict"]:
        output = next(p for p in leaf(path).params if p.name == "output")
        assert output.opts == ["-o", "--output"] and not output.required


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbosity_before_or_after_the_command(where):
    args = ["info"]
    args = ["-q", "-q", *args] if where == "before" else [*args, "-q", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert logging.getLogger("nablanet").getEffectiveLevel() == logging.ERROR
    CliRunner().invoke(cli, ["info", "-v"])
    assert logging.getLogger("nablanet").getEffectiveLevel() == logging.DEBUG


def test_info_reports_versions_backend_blas_cpu_and_data(capsys):
    main(["info"])
    out = capsys.readouterr().out
    for name in ("nablanet", "Python", "NumPy", "Numba", "SciPy", "backend auto", "BLAS",
                 "CPU", "data mnist", "data fashion-mnist"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "NABLANET_DATA" in out


def test_option_spellings_are_one_style():
    outputs = {o for path in LEAVES for p in leaf(path).params if isinstance(p, click.Option)
               and not p.hidden for o in p.opts if o.endswith("-out")}
    assert outputs == {"--model-out", "--metrics-out", "--history-out", "--plot-out",
                       "--profile-out", "--study-out", "--weights-plot-out",
                       "--misclassified-plot-out"}
    hidden = {o for path in LEAVES for p in leaf(path).params if isinstance(p, click.Option)
              and p.hidden for o in p.opts}
    assert hidden == {"--save", "--plot", "--profile", "--output", "--dataset", "--test-data",
                      "--layers", "--train-ratio"}


def _without_default_note(text: str) -> str:
    return re.sub(r" \[default: [^\]]*\]$", "", text)


def test_train_and_rnn_train_share_one_table_of_options():
    """Every option of options.SHARED_OPTIONS is the same on both training commands:
    spellings, type, help (but for the note of a per-command default) and default (but
    where the table leaves it to the command); and every option the two have under one
    name is in the table, so that a concept is defined once."""
    from nablanet.cli.options import PER_COMMAND, SHARED_OPTIONS

    commands = {path: {p.name: p for p in leaf(path).params} for path in ("train",
                                                                          "rnn train")}
    train, rnn = commands["train"], commands["rnn train"]
    for name, (_, kwargs) in SHARED_OPTIONS.items():
        a, b = train[name], rnn[name]
        assert (a.opts, a.secondary_opts) == (b.opts, b.secondary_opts), name
        assert a.type.to_info_dict() == b.type.to_info_dict(), name
        assert _without_default_note(a.help) == _without_default_note(b.help), name
        assert a.help.startswith(kwargs["help"]), name
        if kwargs["default"] != PER_COMMAND:
            assert a.default == b.default == kwargs["default"], name
    common = {n for n in set(train) & set(rnn) if not n.startswith("deprecated_")}
    assert common - {"verbose", "quiet"} == set(SHARED_OPTIONS)


def test_a_shared_option_is_given_its_default_by_the_table_or_the_command():
    from nablanet.cli.options import shared_option

    with pytest.raises(TypeError, match="epochs"):
        shared_option("epochs")
    with pytest.raises(TypeError, match="seed"):
        shared_option("seed", 3)


#: ``--word`` in a text: an option's name
OPTION_NAME = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")

#: a command named in a help text ("nablanet rnn train", "'train"): the options after it,
#: to the end of its sentence, are that command's
COMMAND_NAMED = re.compile(r"(?:nablanet |')(" + "|".join(
    sorted(map(re.escape, LEAVES), key=len, reverse=True)) + r")\b")


def options_of(command: click.Command) -> set[str]:
    """Every spelling ``command`` takes: its options' (hidden old ones too), --help."""
    return {"--help"} | {o for p in command.params if isinstance(p, click.Option)
                         for o in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("path", LEAVES)
def test_every_option_a_help_text_names_exists_on_the_command_it_names(path):
    """In a command's help, epilogue and options' help, ``--x`` is an option of that
    command or of the command named before it in the same sentence ('nablanet train
    --model-out')."""
    command = leaf(path)
    texts = [command.help or "", command.epilog or ""] + [
        p.help or "" for p in command.params if isinstance(p, click.Option)]
    for text in texts:
        for sentence in re.split(r"\.\s|\n\s*\n|\n  (?=nablanet )", text):
            owner = path
            for token in re.finditer(rf"{COMMAND_NAMED.pattern}|{OPTION_NAME.pattern}",
                                     sentence):
                if token[1]:
                    owner = token[1]
                else:
                    assert token[0] in options_of(command) | options_of(leaf(owner)), (
                        f"{path}: {token[0]} is not an option of '{owner}': {sentence!r}")


def test_every_option_the_source_names_exists_on_some_command():
    """Every ``--x`` in a string of the package (messages, log lines, help, docstrings)
    is an option of some nablanet command."""
    import ast
    from pathlib import Path

    import nablanet

    known = set().union(*(options_of(leaf(path)) for path in LEAVES),
                        *(p.opts for p in cli.params))
    not_options = {"--option": "tune's docstring: the form of a trial's command line",
                   "--no-": "the prefix tune.space puts before a false flag"}
    wrong = []
    for source in sorted(Path(nablanet.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                wrong += [f"{source.name}:{node.lineno}: {name}"
                          for name in OPTION_NAME.findall(node.value)
                          if name not in known and name not in not_options]
    assert not wrong


def test_the_missing_matplotlib_message_names_the_plot_options(monkeypatch):
    import sys

    from nablanet.plotting import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"\(--plot-out, --weights-plot-out, "
                                          r"--misclassified-plot-out\) needs matplotlib"):
        require_matplotlib()


def _example_lines() -> list[list[str]]:
    return [shlex.split(line.strip())[1:] for path in LEAVES
            for line in leaf(path).epilog.splitlines() if line.strip().startswith("nablanet ")]


def test_the_examples_read_files_that_other_examples_write():
    """A model an example reads (-m) is one another example writes (--model-out); the
    sequence files of the rnn examples are those that a 'data convert' example writes."""
    examples = _example_lines()
    written = {args[args.index("--model-out") + 1] for args in examples if "--model-out" in args}
    converted = {args[3] for args in examples if args[:2] == ["data", "convert"]}
    for args in examples:
        if "-m" in args:
            assert args[args.index("-m") + 1] in written, args
        if args[0] == "rnn":
            data = [a for i, a in enumerate(args) if i >= 2 and a.endswith(".csv")
                    and not args[i - 1].startswith("-")]  # positional: DATA_CSV, ...
            assert data and all(a.split("/")[0] in converted for a in data), args


def test_usage_and_help_say_what_dataset_is():
    result = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert "Usage: cli evaluate [OPTIONS] DATASET\n" in result.output  # required
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert "DATASET is 'mnist', 'fashion-mnist'" in " ".join(result.output.split())

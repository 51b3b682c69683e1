"""``nablanet tune SPACE.toml``: a hyper-parameter sweep (Optuna search, Dask trials).

The space file and the outputs are described in :mod:`nablanet.tune`. Needs
``pip install 'nablanet[tune]'``. The root group, whose parser checks the tuned command's
options, comes from the click context (this module imports nothing from it).
"""

from __future__ import annotations

import click

from nablanet.cli.options import CONTEXT, examples, verbosity_options


@click.command("tune", context_settings=CONTEXT, epilog=examples(
    "nablanet tune examples/tune-mnist.toml",
    "nablanet tune examples/tune-mnist.toml --workers 1 --trials 4",
    "nablanet tune examples/tune-mnist.toml --scheduler tcp://127.0.0.1:8786",
))
@click.argument("space_file", type=click.Path(dir_okay=False))
@click.option("--study-out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the study journal, the trials, the best model, "
              "summary.json and tune.png [default: NAME-tune next to SPACE_FILE].")
@click.option("--storage", metavar="URL",
              help="Optuna storage URL (sqlite:///sweep.db, postgresql://...) "
              "[default: a journal file in --study-out].")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run the trials on this Dask scheduler ('dask scheduler' and "
              "'dask worker' processes) [default: a local cluster].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local cluster, one thread each [default: one "
              "per core].")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Finished trials wanted [default: the space file's 'trials'].")
@verbosity_options
def tune(space_file, out_dir, storage, scheduler, workers, trials):
    """Search the options of 'nablanet train' or 'nablanet rnn train' described in
    SPACE_FILE (TOML), running the trials on Dask.

    Running the same command again resumes the study: finished trials are kept, a trial
    that was running when the sweep stopped is retried once. Prints the top trials and
    the best configuration as a ready-to-run command.
    """
    from rich.console import Console

    from nablanet.tune import summary_table
    from nablanet.tune import tune as run_sweep

    root = click.get_current_context().find_root().command
    summary = run_sweep(space_file, out_dir=out_dir, storage=storage, scheduler=scheduler,
                        workers=workers, trials=trials,
                        check_argv=lambda argv: _check_argv(root, argv))
    console = Console()
    if not console.is_terminal:  # a pipe or a file: do not fold the table at 80 columns
        console = Console(width=160)
    console.print(summary_table(summary))
    best = summary["best"]
    console.print(f"best {summary['metric']} {best['value']:.6g} (trial {best['number']}); "
                  f"model saved to {best['model']}; run it again with:", soft_wrap=True)
    click.echo(best["command"])


def _check_argv(root: click.Group, argv: list[str]) -> None:
    """Parse a trial's command line with the command's own parser (below ``root``); a bad
    option is a ValueError naming it."""
    command: click.Command | None = root
    args = list(argv)
    while isinstance(command, click.Group):
        name = args.pop(0)
        command = command.get_command(click.Context(root), name)
    assert command is not None  # argv names one of root's commands
    try:
        command.make_context(" ".join(argv[:2]), args, resilient_parsing=False)
    except click.ClickException as exc:
        raise ValueError(f"options or params: {exc.format_message()}") from None

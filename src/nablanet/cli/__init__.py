"""The ``nablanet`` command: the root group and the entry point ``nablanet.cli:main``.

This is the only module that attaches commands: each command group lives in its own
module (``train``: train/evaluate/predict, ``rnn``, ``data``, ``info``) and is listed in
:data:`COMMANDS`. ``from nablanet.cli import cli`` is the complete command, for click's
``CliRunner``, documentation generators or other tools.

A user mistake (missing file, bad option value, data that do not fit the model, not
enough memory) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

import click

from nablanet.cli.data import data
from nablanet.cli.export import export
from nablanet.cli.info import info
from nablanet.cli.options import CONTEXT, setup_logging
from nablanet.cli.rnn import rnn
from nablanet.cli.runs import ARGV
from nablanet.cli.train import evaluate, predict, train
from nablanet.cli.tune import tune

__all__ = ["COMMANDS", "cli", "main"]


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="nablanet")
@click.option("-v", "--verbose", count=True, show_default=False,
              help="More log output (repeatable; also after the command).")
@click.option("-q", "--quiet", count=True, show_default=False,
              help="Less log output (repeatable; also after the command).")
def cli(verbose: int, quiet: int) -> None:
    """nablanet: neural networks from scratch on NumPy.

    Feedforward networks trained by backpropagation, as in Michael Nielsen's online book
    "Neural Networks and Deep Learning" (its chapter 1 network is the default of 'train'),
    and recurrent networks (RNN, LSTM, GRU) trained by backpropagation through time on
    sequence CSV files, in the format and with the reports of RNN-Rust (a from-scratch
    Rust RNN; 'rnn train --rnn-rust' runs its configuration).

    \b
    Conventions, the same in every command:
      - data inputs are positional: nablanet train DATASET, nablanet rnn train DATA_CSV
      - the model to read is --model / -m
      - predictions go to --output / -o, or to standard output without it
      - files a run writes: --model-out, --metrics-out, --plot-out, --profile-out
      - -v / -q (more / less log output) go before or after the command
      - every file written is logged; a mistake is one line on stderr, exit status 2

    \b
    Examples:
      nablanet info
      nablanet train fashion-mnist --epochs 1 --model-out net.safetensors
      nablanet rnn train --help
    """
    setup_logging(verbose, quiet)


#: every command and command group of ``nablanet``; a new one is added here
COMMANDS: list[click.Command] = [train, evaluate, predict, rnn, data, export, tune, info]
for _command in COMMANDS:
    cli.add_command(_command)


def main(argv=None) -> None:
    """Run the CLI; turn user errors into one line on stderr and exit status 2."""
    ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=argv, prog_name="nablanet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("nablanet: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"nablanet: error: {exc.format_message()}", err=True)
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        click.echo(f"nablanet: error: not enough memory{detail}; use smaller sizes or "
                   "mini-batches", err=True)
        sys.exit(2)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        click.echo(f"nablanet: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("nablanet: interrupted", err=True)
        sys.exit(130)

"""``nablanet data ...``: real data sets written in the sequence CSV format."""

from __future__ import annotations

from pathlib import Path

import click

from nablanet.cli.options import CONTEXT, examples, verbosity_options


@click.group(context_settings=CONTEXT)
@verbosity_options
def data():
    """Data sets: convert real data into the sequence CSV format of 'nablanet rnn'."""


@data.command("convert", context_settings=CONTEXT, epilog=examples(
    "nablanet data convert japanese-vowels jv",
    "nablanet data convert elnino en --window 12 --test-years 10",
))
@click.argument("dataset", type=click.Choice(["japanese-vowels", "elnino"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--window", type=click.IntRange(min=1), default=12,
              help="elnino: months per sequence.")
@click.option("--test-years", type=click.IntRange(min=1), default=10,
              help="elnino: final years held out for testing.")
@verbosity_options
def convert(dataset, out_dir, window, test_years):
    """Write DATASET as a training and a test CSV file into OUT_DIR (created if needed);
    print their paths.

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
    for p in paths:  # each file's "wrote" line is the writer's
        click.echo(str(p))

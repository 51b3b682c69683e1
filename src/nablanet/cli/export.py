"""``nablanet export``: a saved model as an ONNX graph, for onnxruntime and every other
ONNX runtime (the conversion table is :mod:`nablanet.interop.onnx`), or as dependency-free
Rust or C source (:mod:`nablanet.interop.codegen`)."""

from __future__ import annotations

from pathlib import Path

import click

from nablanet.cli.options import CONTEXT, examples, verbosity_options
from nablanet.cli.outputs import check_outputs, write_bytes

#: output suffix -> format
SUFFIXES = {".onnx": "onnx", ".rs": "rust", ".c": "c"}


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet export -m net.safetensors -o net.onnx",
    "nablanet export -m net.safetensors -o net.rs",
    "nablanet export -m jv.safetensors -o jv.c --program",
))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A model saved by nablanet ('train', 'rnn train' or model.save).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .onnx, .rs (Rust) or .c (C99, with a .h beside it).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "rust", "c"]), default=None,
              help="Output format [default: from the suffix of --output].")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True,
              help="ONNX only: element type of the graph. onnxruntime runs convolutional and "
                   "recurrent graphs in float32 only. (Rust and C keep the model's dtype.)")
@click.option("--program", is_flag=True,
              help="Rust and C: add a main that scores a sequence CSV as 'nablanet rnn "
                   "predict' does (a model saved by 'rnn train'), or a .npy file of images "
                   "as 'nablanet predict' does (a model saved by 'train').")
@verbosity_options
def export(model_path, output, fmt, dtype, program):
    """Export the model in --model as an ONNX graph or as Rust or C source.

    The ONNX graph takes X (batch, ...) and, for recurrent models, sequence_lens (the
    valid steps of each sequence), and gives Y, the model's output activations. Needs the
    onnx extra: pip install 'nablanet[onnx]'.

    Rust and C: one source file (and a header for C) with the weights as constants and a
    predict function, using only the language's standard library (C: C99 and <math.h>).
    predict takes one sample, or one sequence (n_steps x features), and gives what
    predict_proba gives. With --program the file is a scorer: rustc -O model.rs, or
    cc -O2 model.c -lm, then ./model DATA.csv writes the CSV of 'nablanet rnn predict'
    (recurrent models), or ./model IMAGES.npy the labels of 'nablanet predict' (image
    classifiers).

    A model saved by 'nablanet rnn train' carries its min-max scaling: the graph and the
    source take raw features and, for regression, give the data's units, as 'nablanet
    rnn predict' does.
    """
    suffix = Path(output).suffix.lower()
    if fmt is None:
        if suffix not in SUFFIXES:
            raise click.BadParameter(f"expected a file ending in {', '.join(SUFFIXES)}, or "
                                     f"--format; got {output!r}", param_hint="--output")
        fmt = SUFFIXES[suffix]
    if fmt == "onnx":
        if program:
            raise click.BadParameter("--program is for Rust and C output",
                                     param_hint="--program")
        _onnx(model_path, output, dtype)
    else:
        _source(model_path, output, fmt, program)


def _onnx(model_path, output, dtype) -> None:
    from nablanet.interop.onnx import to_onnx
    from nablanet.models import RecurrentNetwork
    from nablanet.models.scorer import upgrade_scaling
    from nablanet.serialization import load, read_cli

    check_outputs({"--output": output}, {"--model": model_path})
    model = load(model_path)
    if isinstance(model, RecurrentNetwork):  # an earlier release's 'rnn train' file
        try:
            upgrade_scaling(model, read_cli(model_path))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{model_path}: bad CLI field ({exc})") from None
    proto = to_onnx(model, dtype=dtype)
    write_bytes(output, proto.SerializeToString(), "ONNX graph")


def _source(model_path, output, fmt: str, program: bool) -> None:
    from nablanet.cli.train import load_classifier
    from nablanet.interop.codegen import generate
    from nablanet.interop.codegen.walk import check_names
    from nablanet.models import RecurrentNetwork
    from nablanet.models.scorer import SequenceScorer
    from nablanet.serialization import load, read_cli

    out = Path(output)
    paths = {".rs": out} if fmt == "rust" else {".c": out.with_suffix(".c"),
                                                 ".h": out.with_suffix(".h")}
    if fmt == "c" and out.suffix != ".c":
        raise click.BadParameter(f"--format c: expected a file ending in .c, got {output!r}",
                                 param_hint="--output")
    check_outputs({f"--output ({s})": str(p) for s, p in paths.items()},
                  {"--model": model_path})
    options: dict = {}
    model = load(model_path)
    if isinstance(model, RecurrentNetwork):
        if "task" in read_cli(model_path):  # saved by 'rnn train': task, threshold
            scorer = SequenceScorer.load(model_path)
            model = scorer.model
            check_names(scorer.feature_names, "x", model.n_inputs,
                        f"{model_path}: field 'feature_names'")
            if scorer.task == "regression":  # the scorer's columns y1..yL
                check_names(scorer.label_names, "y", model.n_outputs,
                            f"{model_path}: field 'label_names'")
            options = {"task": scorer.task, "threshold": scorer.threshold}
    else:
        model, input_shape = load_classifier(model_path)
        options = {"input_shape": input_shape}
    files = generate(model, fmt, name=out.stem, program=program, **options)
    for suffix, text in files.items():
        write_bytes(paths[suffix], text.encode(), f"{fmt.capitalize()} source"
                    if suffix != ".h" else "C header")

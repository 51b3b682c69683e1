"""``nablanet export``: a saved model as an ONNX graph, for onnxruntime and every other
ONNX runtime (the conversion table is :mod:`nablanet.interop.onnx`)."""

from __future__ import annotations

import click

from nablanet.cli.options import CONTEXT, examples, verbosity_options
from nablanet.cli.outputs import check_outputs, write_bytes


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet train fashion-mnist --epochs 1 --model-out net.safetensors",
    "nablanet export -m net.safetensors -o net.onnx",
    "nablanet export -m net.safetensors -o net64.onnx --dtype float64",
))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A model saved by nablanet ('train', 'rnn train' or model.save).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The ONNX file to write.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True,
              help="Element type of the graph. onnxruntime runs convolutional and recurrent "
                   "graphs in float32 only.")
@verbosity_options
def export(model_path, output, dtype):
    """Export the model in --model as an ONNX graph.

    The graph takes X (batch, ...) and, for recurrent models, sequence_lens (the valid
    steps of each sequence), and gives Y, the model's output activations. A model saved
    by 'nablanet rnn train' carries its min-max scaler: the graph applies it first, so it
    takes raw features. Needs the onnx extra: pip install 'nablanet[onnx]'.
    """
    from nablanet.interop.onnx import to_onnx
    from nablanet.preprocessing import MinMaxScaler
    from nablanet.serialization import load, read_cli

    check_outputs({"--output": output}, {"--model": model_path})
    model = load(model_path)
    meta = read_cli(model_path)
    scaler = MinMaxScaler.from_dict(meta["scaler"]) if "scaler" in meta else None
    proto = to_onnx(model, dtype=dtype, scaler=scaler)
    write_bytes(output, proto.SerializeToString(), "ONNX graph")

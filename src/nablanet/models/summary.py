"""The table of a model's layers that :meth:`Sequential.summary
<nablanet.models.sequential.Sequential.summary>` returns: each layer's output shape
(found by the layers' own shape check on one sample) and parameter count (the model's
scaling layers, if any, first and last), then the head, the total and the parameters'
memory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["summary_table"]


def summary_table(model, input_shape: tuple[int, ...] | None = None) -> str:
    """The table of :meth:`Sequential.summary
    <nablanet.models.sequential.Sequential.summary>` for ``model``."""
    shape = input_shape if input_shape is not None else model.sample_shape
    if shape is None:
        raise ValueError("input_shape: expected the per-sample input shape (this "
                         "model does not know it)")
    rows, current = [], (1, *shape)
    if model.input_scaling is not None:
        rows.append(("input_scaling MinMaxScaling", "(n, " + ", ".join(map(str, shape)) + ")", 0))
    try:
        for i, layer in enumerate(model.layers):
            current = layer.allocate(current)
            rows.append((f"({i}) {type(layer).__name__}",
                         "(n, " + ", ".join(map(str, current[1:])) + ")",
                         layer.count_params()))
    except ValueError as exc:
        raise ValueError(f"input_shape: {exc}") from None
    finally:
        model._allocated = None
    if model.output_scaling is not None:
        rows.append(("output_scaling MinMaxScaling",
                     "(n, " + ", ".join(map(str, current[1:])) + ")", 0))
    total = model.count_params()
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{type(model).__name__}: input (n, {', '.join(map(str, shape))})",
             f"{'layer':<{width}}{'output shape':<22}{'parameters':>12}"]
    lines += [f"{name:<{width}}{out:<22}{count:>12,}" for name, out, count in rows]
    itemsize = np.dtype(model.dtype).itemsize
    lines += [f"head: {model.output_activation.name} output, {model.loss.name} loss",
              f"total parameters: {total:,} ({np.dtype(model.dtype).name}, "
              f"{total * itemsize / 2**10:,.1f} KiB)"]
    return "\n".join(lines)

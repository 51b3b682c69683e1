"""A :class:`~nablanet.models.sequential.Sequential`'s configuration: what
``get_config`` gives and ``from_config`` takes (the layers by registered name, the
head, the seed, the dtype, the input shape, and the scaling layers at the model's
edges), and its parameter tensors by name, as a model file stores them.

The functions are the model's methods of the same names (assigned in its class body;
``from_config`` as a classmethod); subclasses with other constructor arguments
(``Network``, the recurrent models) override ``get_config`` and ``from_config``.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from nablanet.layers.scaling import MinMaxScaling
from nablanet.registry import get, name_of

__all__ = ["edge_layer", "from_config", "get_config", "scaling_config", "tensors"]


def get_config(model) -> dict:
    """Constructor arguments, JSON-ready: the layers as ``{"name", "config"}`` by their
    registered names, the head, seed, dtype and per-sample input shape (None while
    unknown; not the optimizer)."""
    return {
        "layers": [{"name": name_of("layer", type(layer)), "config": layer.get_config()}
                   for layer in model.layers],
        "output_activation": model.output_activation.name,
        "loss": model.loss.name,
        "seed": model.seed,
        "dtype": np.dtype(model.dtype).name,
        "input_shape": None if model.input_shape is None else list(model.input_shape),
        **model.scaling_config(),
    }


def scaling_config(model) -> dict:
    """The ``input_scaling`` / ``output_scaling`` entries of :meth:`get_config`, as
    ``{"name", "config"}``, for those the model has (none: an empty dict, so a model
    without them has the config of earlier releases)."""
    return {key: {"name": name_of("layer", type(layer)), "config": layer.get_config()}
            for key, layer in (("input_scaling", model.input_scaling),
                               ("output_scaling", model.output_scaling))
            if layer is not None}


def from_config(cls, config: dict):
    """Build a model from :meth:`get_config`'s dict; each layer class is looked up by
    its registered name.

    Raises
    ------
    ValueError
        For a malformed config or an unknown layer name (naming it).
    """
    config = dict(config)
    specs = config.pop("layers", None)
    if not isinstance(specs, list):
        raise ValueError("config.layers: expected a list of {name, config}")
    layers = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            raise ValueError(f"config.layers[{i}]: expected {{name, config}}, got {spec!r}")
        layer_cls = get("layer", cast(str, spec.get("name")))  # get rejects a non-name
        try:
            layers.append(layer_cls.from_config(spec["config"]))
        except TypeError as exc:
            raise ValueError(f"config.layers[{i}]: {exc}") from None
    return cls(layers, **config)


def tensors(model) -> dict[str, np.ndarray]:
    """The parameters by name, ``layers.<i>.<param>`` (the arrays themselves)."""
    return {f"layers.{i}.{name}": p for i, layer in enumerate(model.layers)
            for name, p in zip(layer.param_names, layer.params(), strict=True)}


def edge_layer(layer, name: str) -> MinMaxScaling | None:
    """``input_scaling`` / ``output_scaling`` as a scaling layer: None, a
    :class:`~nablanet.layers.scaling.MinMaxScaling`, or its ``{"name", "config"}`` (from
    a saved config).

    Raises
    ------
    ValueError
        Naming ``name``: not a scaling layer or a malformed spec.
    """
    if layer is None or isinstance(layer, MinMaxScaling):
        return layer
    if isinstance(layer, dict) and isinstance(layer.get("config"), dict):
        layer_cls = get("layer", cast(str, layer.get("name")))
        if issubclass(layer_cls, MinMaxScaling):
            try:
                return cast(MinMaxScaling, layer_cls.from_config(layer["config"]))
            except TypeError as exc:
                raise ValueError(f"{name}: {exc}") from None
    raise ValueError(f"{name}: expected a MinMaxScaling layer or its {{name, config}}, got "
                     f"{layer!r:.200}")

"""Saving and loading models: a safe, versioned file format that knows only names.

A model file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file (no
pickle): the parameter arrays by name and a string metadata table with

- ``format``: ``"nablanet"``;
- ``format_version``: :data:`FORMAT_VERSION` (3); files from a newer version are refused,
  version-1 files (nablanet 0.1.0) are read and upgraded in memory; version 1 and 2
  files carry no training state (the model loads with a fresh optimizer, logged);
- ``model``: the name the model class is registered under (``"Network"``, ``"RNN"``,
  ``"Sequential"``, ...: :mod:`nablanet.registry`, kind ``"model"``);
- ``config``: the model's :meth:`get_config` as JSON (containers include their layers'
  names and configs);
- ``cli`` (optional): JSON written by the command line (task, threshold, column names,
  ...; earlier releases also the data scaler, which models now carry as layers), read
  back with :func:`read_cli`; the library never interprets it;
- ``training`` (version 3, optional): the model's ``training_checkpoint()`` JSON
  (optimizer configuration and step count, the generator's state, epoch count,
  schedule, early stopping, backend, data fingerprint), so ``fit`` can resume exactly.

Arrays are named ``<prefix>.<parameter>`` by the model's :meth:`tensors`
(``layers.0.W``, ``layers.0.b``, ... for a layer stack); the training state's arrays
(optimizer moments, early stopping's best parameters) are ``training.<name>``.

Loading is: look the model name up in the registry (a file never chooses what Python
imports), check the config (types, and sizes bounded *before* anything is allocated),
``from_config``, then assign every array with its shape and dtype checked and its values
finite. Every error names the file and the field. Files are written to a temporary name
and renamed (:mod:`nablanet.atomic`), so a crash never leaves a half-written model.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from nablanet.atomic import atomic_write_bytes
from nablanet.registry import get, name_of

__all__ = ["FORMAT_VERSION", "MAX_PARAMS", "assign", "load", "read_cli", "save", "to_bytes"]

log = logging.getLogger(__name__)

FORMAT = "nablanet"
FORMAT_VERSION = 3
#: prefix of the training state's arrays
TRAINING = "training."
#: a config asking for more parameters than this (or any size above it) is refused
MAX_PARAMS = 10**8


def save(model, path, *, cli: dict | None = None) -> None:
    """Write ``model`` to ``path`` (the bytes of :func:`to_bytes`), whole or not at all.

    Parameters
    ----------
    model : a registered model (``get_config()``, ``tensors()``)
    path : path-like
    cli : dict, optional
        JSON-ready settings of the command line, stored in the file's ``cli`` section.

    Raises
    ------
    ValueError
        If the model's class is not registered, or ``cli`` is not JSON-ready.
    OSError
        If the directory cannot be written; no partial file is left behind.
    """
    atomic_write_bytes(path, to_bytes(model, cli=cli))


def to_bytes(model, *, cli: dict | None = None) -> bytes:
    """The model file's bytes (see :func:`save`), e.g. to keep a snapshot in memory.

    Raises
    ------
    ValueError
        If the model's class is not registered, or ``cli`` is not JSON-ready.
    """
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model": name_of("model", type(model)),
        "config": json.dumps(model.get_config()),
    }
    if cli is not None:
        try:
            metadata["cli"] = json.dumps(cli)
        except TypeError as exc:
            raise ValueError(f"cli: expected JSON-ready values ({exc})") from None
    tensors = {k: np.ascontiguousarray(v) for k, v in model.tensors().items()}
    if hasattr(model, "training_checkpoint"):
        training, arrays = model.training_checkpoint()
        metadata["training"] = json.dumps(training)
        tensors.update({TRAINING + k: np.ascontiguousarray(v) for k, v in arrays.items()})
    return safetensors.numpy.save(tensors, metadata=metadata)


def load(path, *, expect: type | None = None):
    """Load a model saved by :func:`save` (or by nablanet 0.1.0, format version 1).

    Parameters
    ----------
    path : path-like
    expect : class, optional
        The model must be an instance of this class (``Network``, ``RNN``, ...).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and the field: not a nablanet file, a bad or newer
        ``format_version``, an unknown model or layer name, a bad config (wrong types,
        sizes above :data:`MAX_PARAMS`), a model of another class than ``expect``,
        missing, unexpected, mis-shaped, mis-typed or non-finite arrays.
    """
    name, config, tensors, _, training = _read(path)
    try:
        cls = get("model", name)
    except ValueError as exc:
        raise ValueError(f"{path}: model: {exc}") from None
    if expect is not None and not issubclass(cls, expect):
        raise ValueError(f"{path}: holds a {name}, expected a {expect.__name__}")
    try:
        _check_sizes(config, "config")
        model = cls.from_config(config)
        arrays = {k[len(TRAINING):]: tensors.pop(k) for k in list(tensors)
                  if k.startswith(TRAINING)}
        assign(model.tensors(), tensors)
        if training is not None:
            model.restore_training(training, arrays)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if training is None:
        log.info("%s: carries no training state (format version < 3, or not written by "
                 "a model's save): fit starts a fresh run with %r", path, model.optimizer)
    return model


def model_class(path) -> type:
    """The registered class of the model saved in ``path``, without building it.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load`, for the header and an unknown model name.
    """
    name = _read(path)[0]
    try:
        return get("model", name)
    except ValueError as exc:
        raise ValueError(f"{path}: model: {exc}") from None


def read_cli(path) -> dict:
    """The file's command-line section (``{}`` if none); for version-1 recurrent-model
    files, what their ``config["metadata"]`` held.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load`, for the header; also for a ``cli`` section that is not a JSON
        object.
    """
    return _read(path)[3]


def assign(dest: dict[str, np.ndarray], src: dict[str, np.ndarray]) -> None:
    """Copy ``src`` arrays into the same-named ``dest`` arrays, checking names, shapes,
    dtypes and that every value is finite.

    Raises
    ------
    ValueError
        Naming the missing, unexpected, mis-shaped, mis-typed or non-finite arrays.
    """
    missing, extra = sorted(set(dest) - set(src)), sorted(set(src) - set(dest))
    if missing or extra:
        raise ValueError(f"arrays do not match the configuration: missing {missing}, "
                         f"unexpected {extra}")
    for key, d in dest.items():
        s = src[key]
        if s.shape != d.shape:
            raise ValueError(f"array {key!r}: expected shape {d.shape}, found {s.shape}")
        if s.dtype != d.dtype:
            raise ValueError(f"array {key!r}: expected dtype {d.dtype}, found {s.dtype}")
        if not np.isfinite(s).all():
            raise ValueError(f"array {key!r}: expected finite values, found NaN or infinity")
        d[...] = s


# --------------------------------------------------------------------------------------
def _read(path) -> tuple[str, dict, dict[str, np.ndarray], dict, dict | None]:
    """``(model name, config, tensors, cli section, training section or None)`` of a
    file, header checked and a version-1 file upgraded to the current layout."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a nablanet model file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a nablanet model file (no 'format: nablanet' header)")
    raw = meta.get("format_version", "")
    version = int(raw) if raw.isdigit() and raw.isascii() else 0
    if version < 1:
        raise ValueError(f"{path}: format_version: expected a positive integer, "
                         f"found {raw!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written by a newer nablanet (format version {version}; this version "
            f"reads up to {FORMAT_VERSION})"
        )
    config = _json_object(path, meta, "config")
    if config is None:
        raise ValueError(f"{path}: config: missing model configuration")
    cli = _json_object(path, meta, "cli") or {}
    name = meta.get("model", "")
    training = _json_object(path, meta, "training") if version >= 3 else None
    if version == 1:
        name, config, tensors, cli = _upgrade_v1(path, name, config, tensors)
    return name, config, tensors, cli, training


def _json_object(path: Path, meta: dict, field: str) -> dict | None:
    if field not in meta:
        return None
    try:
        value = json.loads(meta[field])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: {field}: corrupt JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {field}: expected a JSON object, found "
                         f"{type(value).__name__}")
    return value


def _upgrade_v1(path: Path, name: str, config: dict, tensors: dict):
    """Format version 1 (nablanet 0.1.0): ``Network`` arrays were ``weights.i`` and
    ``biases.i``; recurrent models kept the CLI's settings in ``config["metadata"]`` and
    their layer count in ``config["layers"]`` (now ``num_layers``); their arrays were
    ``layers.i.W_x`` ... ``W_y``, ``b_y`` (the head is now layer ``num_layers``)."""
    config = dict(config)
    cli = config.pop("metadata", {})
    if not isinstance(cli, dict):
        raise ValueError(f"{path}: config.metadata: expected a JSON object")
    if name in ("RNN", "LSTM", "GRU") and "layers" in config:
        config["num_layers"] = config.pop("layers")
    if name == "Network":
        renamed = {}
        for key, value in tensors.items():
            kind, _, index = key.partition(".")
            param = {"weights": "W", "biases": "b"}.get(kind)
            renamed[f"layers.{index}.{param}" if param and index.isdigit() else key] = value
        tensors = renamed
    elif name in ("RNN", "LSTM", "GRU"):
        head = config.get("num_layers", 1)
        tensors = {{"W_y": f"layers.{head}.W", "b_y": f"layers.{head}.b"}.get(k, k): v
                   for k, v in tensors.items()}
    return name, config, tensors, cli


def _check_sizes(config, where: str) -> None:
    """Refuse numbers in a config that would ask for more than :data:`MAX_PARAMS`
    parameters, before anything is allocated: every integer, and the product of the
    sizes of each layer-like dict (``n_in * n_out``, ``n_hidden * n_inputs``, ...)."""
    if isinstance(config, dict):
        sizes = []
        for key, value in config.items():
            if key == "seed":  # any integer is a valid seed; it allocates nothing
                continue
            _check_sizes(value, f"{where}.{key}")
            if isinstance(value, int) and not isinstance(value, bool) and key.startswith("n_"):
                sizes.append(value)
            if key == "sizes" and isinstance(value, list) and len(value) > 1 \
                    and all(isinstance(v, int) for v in value):
                pairs = sum(a * b for a, b in itertools.pairwise(value))
                if pairs > MAX_PARAMS:
                    raise ValueError(f"{where}.sizes: asks for {pairs} weights, more than "
                                     f"{MAX_PARAMS}")
        if len(sizes) > 1 and math.prod(sorted(sizes)[-2:]) > MAX_PARAMS:
            raise ValueError(f"{where}: sizes {sizes} ask for more than {MAX_PARAMS} "
                             "parameters")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            _check_sizes(value, f"{where}[{i}]")
    elif isinstance(config, int) and not isinstance(config, bool) and abs(config) > MAX_PARAMS:
        raise ValueError(f"{where}: {config} is larger than {MAX_PARAMS}")
    elif isinstance(config, float) and not math.isfinite(config):
        raise ValueError(f"{where}: expected a finite number, found {config}")

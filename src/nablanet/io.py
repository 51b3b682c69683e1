"""Saving and loading models: a safe, versioned file format (no pickle).

A model file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: the
parameter arrays by name (``weights.0``, ``biases.0``, ... for a ``Network``) and a
string metadata table with

- ``format``: ``"nablanet"``;
- ``format_version``: this module's :data:`FORMAT_VERSION` (files from a newer version
  are refused);
- ``model``: the class name (``Network``, ``RNN``, ...);
- ``config``: the model's constructor arguments as JSON (plus, for sequence models, the
  data scaler).

Files are written to a temporary name in the target directory and renamed, so a crash
never leaves a half-written model. Loading checks the format, the version, the class,
that every expected array is present with the expected shape and dtype, and nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

__all__ = [
    "FORMAT_VERSION", "assign", "atomic_output", "atomic_write_bytes", "load", "read", "save",
]

FORMAT = "nablanet"
FORMAT_VERSION = 1


def save(model, path) -> None:
    """Write ``model`` (anything with ``config()`` and ``tensors()``) to ``path``.

    Raises
    ------
    OSError
        If the directory cannot be written; no partial file is left behind.
    """
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model": type(model).__name__,
        "config": json.dumps(model.config()),
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in model.tensors().items()}
    atomic_write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata))


def read(path) -> tuple[str, dict, dict[str, np.ndarray]]:
    """Read a model file: ``(class name, config dict, tensors)``, checking the header.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a nablanet model file, or is from a newer format version.
    """
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
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ValueError(f"{path}: bad format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written by a newer nablanet (format version {version}; this version "
            f"reads up to {FORMAT_VERSION})"
        )
    try:
        config = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: missing or corrupt model configuration ({exc})") from None
    return meta.get("model", ""), config, tensors


def load(path, expect: type | None = None):
    """Load a model saved by :func:`save`.

    Parameters
    ----------
    path : path-like
    expect : class, optional
        Require this model class (``Network``, ``RNN``, ...).

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`read`; also for a model of another class than ``expect`` and for
        arrays whose names or shapes do not match the configuration.
    """
    name, config, tensors = read(path)
    classes = _model_classes()
    if name not in classes:
        raise ValueError(f"{path}: unknown model class {name!r}")
    cls = classes[name]
    if expect is not None and not issubclass(cls, expect):
        raise ValueError(f"{path}: holds a {name}, expected a {expect.__name__}")
    try:
        return cls.from_saved(config, tensors)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def assign(dest: dict[str, np.ndarray], src: dict[str, np.ndarray]) -> None:
    """Copy ``src`` arrays into the same-named ``dest`` arrays, checking names and shapes.

    Raises
    ------
    ValueError
        Naming the missing, unexpected or mis-shaped arrays.
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
        d[...] = s


@contextmanager
def atomic_output(path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``
    (with the usual permissions), on any error it is removed. So a file is either
    written whole or not at all.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def _model_classes() -> dict[str, type]:
    from nablanet.mlp import Network
    from nablanet.rnn import MODELS

    return {c.__name__: c for c in (Network, *MODELS)}

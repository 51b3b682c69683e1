"""Output paths of the commands: checked before any work (never an input, never
twice, creatable), written whole or not at all, and logged.

Every name here is public: the command modules import them, never each other's.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from nablanet.atomic import atomic_write_bytes

log = logging.getLogger("nablanet")

#: temporaries of our own naming (see ``atomic_output``) older than this are stale:
#: left by a process killed while writing, removed on the next write of the same path
STALE_TEMP_SECONDS = 60.0


# --------------------------------------------------------------------------------------
# Output paths: checked before the work, written whole, logged
# --------------------------------------------------------------------------------------
def _input_files(path: Path) -> list[Path]:
    """An input as the files it stands for: a directory is the files directly in it."""
    if path.is_dir():
        return [p.resolve() for p in path.iterdir() if p.is_file()]
    return [path.resolve()] if path.exists() else []


def _remove_stale_temporaries(path: Path) -> None:
    """Remove ``.NAME.XXXXXXXX.tmp`` files (our temporaries for ``path``) left by a
    writer killed more than :data:`STALE_TEMP_SECONDS` ago."""
    prefix, now = f".{path.name}.", time.time()
    for p in path.parent.iterdir():
        name = p.name
        if (name.startswith(prefix) and name.endswith(".tmp")
                and len(name) == len(prefix) + 12 and p.is_file()):
            try:
                if now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                    p.unlink()
                    log.debug("removed the stale temporary %s", p)
            except FileNotFoundError:
                pass


def check_outputs(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Check every output path of a command before its work starts.

    Each output is resolved (symlinks, ``..``) and refused when it is one of the inputs
    (a directory input stands for the files in it) or another output; its directory
    must exist and a file must be creatable there: the temporary file the write will use
    is created and removed. Stale temporaries of ours for that path are removed.

    Parameters
    ----------
    outputs : mapping of option name to path or None
        E.g. ``{"--model-out": "net.safetensors", "--metrics-out": None}``.
    inputs : mapping of a description to path or None
        E.g. ``{"DATASET": "data/", "--model": "net.safetensors"}``; names that are not
        existing paths (``mnist``) are ignored.

    Raises
    ------
    click.BadParameter
        Naming the option and the user's path, and the input or output it collides
        with, or why it cannot be created.
    """
    taken: dict[Path, str] = {}
    for name, value in inputs.items():
        if value is not None:
            path = Path(os.fspath(value)).expanduser()
            what = f"a file of the input {name} ({value})" if path.is_dir() else \
                f"the input {name}"
            for f in _input_files(path):
                taken.setdefault(f, what)
    for option, value in outputs.items():
        if value is None:
            continue
        given = os.fspath(value)
        path = Path(given).expanduser().resolve()
        if path in taken:
            raise click.BadParameter(f"{given} is {taken[path]}: refusing to overwrite it",
                                     param_hint=option)
        if path.is_dir():
            raise click.BadParameter(f"{given} is a directory, expected a file name",
                                     param_hint=option)
        if not path.parent.is_dir():
            raise click.BadParameter(f"{given}: the directory {Path(given).parent} does not "
                                     "exist", param_hint=option)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                       dir=path.parent)
        except OSError as exc:
            raise click.BadParameter(f"{given}: cannot create a file in "
                                     f"{Path(given).parent or '.'} ({exc.strerror})",
                                     param_hint=option) from None
        os.close(fd)
        os.unlink(tmp)
        _remove_stale_temporaries(path)
        taken[path] = f"also {option}"


@contextmanager
def writing(path, what: str = "") -> Iterator[None]:
    """Around the write of an output: an ``OSError`` names the user's ``path`` (not a
    temporary name); success is logged as ``wrote PATH (what)``."""
    try:
        yield
    except OSError as exc:
        raise OSError(f"{path}: could not write it ({exc.strerror or exc})") from None
    log.info("wrote %s%s", path, f" ({what})" if what else "")


def write_bytes(path, data: bytes, what: str = "") -> None:
    """Write ``data`` to ``path`` whole or not at all, and log it."""
    with writing(path, what):
        atomic_write_bytes(path, data)


def write_json(path, payload: dict, what: str = "metrics") -> None:
    """Write ``payload`` as indented JSON (NumPy values made plain) to ``path``."""
    from nablanet.metrics import to_jsonable

    write_bytes(path, json.dumps(to_jsonable(payload), indent=2).encode(), what)


"""The fuzz worker: reads one input file per request, under a memory cap, and reports.

Run by :class:`tests.fuzz.harness.Worker` as ``python worker.py MEMORY_BYTES``. Each line
on stdin is ``{"target": ..., "path": ...}``; each answer on stdout is one JSON line:
``{"outcome": "accepted", "violation": null | "what the result got wrong"}`` or
``{"outcome": "raised", "mro": [exception class names], "message": str}``. Anything the
libraries print goes to stderr, so stdout carries only answers.

Targets are the public entry points a user's file reaches: the IDX reader, the images
path of ``predict`` (``.npy``), the sequence-CSV reader and the model loader. Where a
newer entry point does not exist (when measuring the code before a fix), the target
falls back to what the code did then, so that counts before and after are comparable.
"""

from __future__ import annotations

import json
import os
import resource
import sys

import numpy as np

#: The IDX reader's bound in the worker: a mutated header may declare up to what a
#: gzip bomb case can hold (3 GiB); reading that much is legitimate but slow, so the
#: worker lowers the bound to keep every case well inside the time and memory limits.
IDX_MAX_BYTES = 256 << 20


def _idx(path):
    import inspect

    from nablanet.datasets.idx import read_idx

    if "max_bytes" in inspect.signature(read_idx).parameters:
        array = read_idx(path, max_bytes=IDX_MAX_BYTES)
    else:  # before the bound existed
        array = read_idx(path)
    if not (isinstance(array, np.ndarray) and array.dtype.isnative and array.flags.writeable):
        return f"not a writable native-order array: {type(array).__name__}"
    return None


def _images(path):
    try:
        from nablanet.datasets.mnist import read_image_file
    except ImportError:  # before the .npy reader: what `predict` did
        X = np.load(path, allow_pickle=False)
        if X.ndim >= 2:
            X = X.reshape(len(X), -1)
        X = X / 255.0 if np.issubdtype(X.dtype, np.integer) else X
    else:
        X = read_image_file(path)
    if not (X.ndim == 2 and X.size and X.dtype.kind == "f"):
        return f"not non-empty (n, pixels) floats: {X.dtype} {X.shape}"
    if not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1):
        return "values not finite in [0, 1]"
    return None


def _csv(path):
    from nablanet.datasets.sequences import read_sequence_csv

    data = read_sequence_csv(path)
    if len(data.features) == 0:
        return "no sequences"
    for name, arrays in (("features", data.features), ("labels", data.labels)):
        if not all(np.isfinite(a).all() and len(a) for a in arrays):
            return f"empty or non-finite {name}"
    if any(np.any(np.diff(t) <= 0) for t in getattr(data, "times", None) or []):
        return "step indices t not strictly increasing within a sequence"
    return None


def _parameters(model):
    if hasattr(model, "tensors"):
        return list(model.tensors().values())
    return [p for p in model.params()]


def _model(path):
    import nablanet

    model = nablanet.load(path)
    arrays = _parameters(model)
    bad = sum(int((~np.isfinite(a)).sum()) for a in arrays if a.dtype.kind in "fc")
    return f"{bad} non-finite parameters accepted" if bad else None


def _selftest(path):
    """For the harness's own tests: the file says ``sleep SECONDS``, ``alloc BYTES`` or
    ``exit CODE``."""
    import time

    action, amount = open(path).read().split()
    if action == "sleep":
        time.sleep(float(amount))
    elif action == "alloc":
        bytearray(int(amount))
    else:
        os._exit(int(amount))
    return None


TARGETS = {"idx": _idx, "images": _images, "csv": _csv, "model": _model, "selftest": _selftest}


def main() -> None:
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library output goes to stderr; stdout carries only answers
    import nablanet  # noqa: F401 - imported once, before the first request is timed

    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"outcome": "accepted",
                      "violation": TARGETS[request["target"]](request["path"])}
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            answer = {"outcome": "raised", "mro": [c.__name__ for c in type(exc).__mro__],
                      "message": str(exc)[:2000]}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()

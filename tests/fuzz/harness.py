"""Fuzzing harness: a capped worker subprocess, outcome classes, mutation strategies.

Each fuzz case is a file written into a scratch directory and handed to a long-lived
worker process (``worker.py``) that runs the target under ``RLIMIT_AS`` and answers
with what happened; a case that does not answer within the time limit is a hang, a
worker that dies is a crash, and either way the worker is restarted. One worker serves
thousands of cases, so a case costs milliseconds, not an interpreter start.

Outcome classes (:data:`OUTCOMES`), the counts the suite reports:

``accepted``      the target returned a result that meets its contract;
``refused``       it raised a documented exception whose message names the file;
``unnamed``       a documented exception whose message does not name the file;
``undocumented``  any other exception (MemoryError, a library's own error type, ...);
``bad_accept``    it returned, but the result breaks the contract (NaN parameters, ...);
``hang``          no answer within the time limit;
``crash``         the worker died (a signal, or the memory cap hit outside Python).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import select
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

#: Run options, from the environment:
#: ``NABLANET_FUZZ_EXAMPLES`` cases per target (default 1000: about a minute in all);
#: ``NABLANET_FUZZ_SEED`` a seed for a random run (default: derandomized, the same cases
#: every run); ``NABLANET_FUZZ_TALLY`` write the outcome counts there as JSON and do not
#: fail on unclean outcomes (to count before and after a fix); ``NABLANET_FUZZ_TIMEOUT``
#: seconds a case may take before it is a hang (default 10); ``NABLANET_FUZZ_MEMORY`` the
#: worker's address-space cap in bytes (default 2 GiB).
EXAMPLES = int(os.environ.get("NABLANET_FUZZ_EXAMPLES", "1000"))
SEED = os.environ.get("NABLANET_FUZZ_SEED")
TALLY_PATH = os.environ.get("NABLANET_FUZZ_TALLY")
TIMEOUT = float(os.environ.get("NABLANET_FUZZ_TIMEOUT", "10"))
MEMORY = int(os.environ.get("NABLANET_FUZZ_MEMORY", str(2 << 30)))

WORKER = Path(__file__).with_name("worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"

OUTCOMES = ("accepted", "refused", "unnamed", "undocumented", "bad_accept", "hang", "crash")
CLEAN = ("accepted", "refused")

#: Exception types each target documents (names in the exception's MRO).
DOCUMENTED = {
    "idx": ("ValueError",),
    "images": ("ValueError", "TypeError"),
    "csv": ("ValueError",),
    "model": ("ValueError",),
}


class Worker:
    """A worker subprocess running fuzz cases under a memory cap and a time limit.

    Parameters
    ----------
    memory : int
        ``RLIMIT_AS`` of the worker, bytes.
    timeout : float
        Seconds a case may take before it counts as a hang (the worker is then killed
        and restarted).
    log : pathlib.Path
        File collecting the workers' stderr.
    """

    def __init__(self, memory: int, timeout: float, log: Path):
        self.memory, self.timeout, self.log = memory, timeout, log
        self.process = None

    def _start(self) -> None:
        # The caller's PYTHONPATH first: it may point at another copy of the code (to
        # count outcomes before a fix); this checkout's src as the fallback.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [*filter(None, [os.environ.get("PYTHONPATH")]), str(SRC)]))
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "POLARS_MAX_THREADS",
                    "NUMBA_NUM_THREADS"):
            env[var] = "1"
        with self.log.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER), str(self.memory)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, bufsize=0)

    def run(self, target: str, path: Path) -> dict:
        """Run one case; the answer dict of ``worker.py``, or ``{"outcome": "hang"|"crash"}``.

        The first case after a (re)start also waits for the worker's imports.
        """
        fresh = self.process is None or self.process.poll() is not None
        if fresh:
            self._start()
        request = json.dumps({"target": target, "path": str(path)}).encode() + b"\n"
        try:
            self.process.stdin.write(request)
        except BrokenPipeError:
            return self._died()
        limit = self.timeout + (30 if fresh else 0)
        ready, _, _ = select.select([self.process.stdout], [], [], limit)
        if not ready:
            self.close()
            return {"outcome": "hang", "message": f"no answer in {limit:g} s"}
        line = self.process.stdout.readline()
        if not line:
            return self._died()
        return json.loads(line)

    def _died(self) -> dict:
        code = self.process.wait()
        self.process = None
        return {"outcome": "crash", "message": f"worker exited with status {code}"}

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def classify(target: str, answer: dict, path: Path) -> str:
    """The outcome class of a worker's ``answer`` for the case file ``path``."""
    if answer["outcome"] == "accepted":
        return "bad_accept" if answer["violation"] else "accepted"
    if answer["outcome"] != "raised":
        return answer["outcome"]
    if not set(answer["mro"]) & set(DOCUMENTED[target]):
        return "undocumented"
    return "refused" if path.name in answer["message"] else "unnamed"


class Tally:
    """Outcome counts per target, with the first example of each unclean outcome."""

    def __init__(self):
        self.counts: dict[str, Counter] = {}
        self.examples: dict[str, dict[str, str]] = {}
        self.digests: dict[str, hashlib._Hash] = {}

    def add(self, target: str, outcome: str, answer: dict, data: bytes) -> None:
        self.counts.setdefault(target, Counter())[outcome] += 1
        self.digests.setdefault(target, hashlib.sha256()).update(
            hashlib.sha256(data).digest())
        if outcome not in CLEAN:
            first = self.examples.setdefault(target, {})
            text = str(answer.get("message", answer.get("violation")))
            kind = outcome
            if "mro" in answer:  # one example per exception type and message shape
                kind += f": {answer['mro'][0]}: {re.sub(r'0x[0-9a-f]+|[0-9]+', 'N', text)[:30]}"
            first.setdefault(kind, f"{text:.300} | input {data[:300]!r}")

    def as_dict(self) -> dict:
        return {target: {"cases": sum(c.values()), **{o: c[o] for o in OUTCOMES},
                         "inputs_sha256": self.digests[target].hexdigest()[:16],
                         "examples": self.examples.get(target, {})}
                for target, c in self.counts.items()}


# --------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------
#: 32-bit values that break size arithmetic: zero, one, powers of two, sign boundaries.
INTERESTING_U32 = (0, 1, 2, 255, 256, 784, 2**16, 2**24, 2**31 - 1, 2**31, 2**32 - 1)


@st.composite
def mutated(draw, seeds: list[bytes], tokens: tuple[bytes, ...], max_ops: int = 4) -> bytes:
    """One of ``seeds`` with 1 to ``max_ops`` random edits.

    Edits: flip a bit, set a byte, insert random bytes or a token, overwrite with a
    token or a big-endian interesting 32-bit value, delete or duplicate a range,
    truncate. Positions shrink toward the start of the file.
    """
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(
            ("flip", "set", "insert", "token", "overwrite", "u32", "delete", "dup", "cut")))
        at = draw(st.integers(0, 2**16)) % (len(data) + 1)
        span = draw(st.integers(1, 64))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(tokens))
        elif op == "overwrite":
            token = draw(st.sampled_from(tokens))
            data[at:at + len(token)] = token
        elif op == "u32":
            data[at:at + 4] = struct.pack(">I", draw(st.sampled_from(INTERESTING_U32)))
        elif op == "delete":
            del data[at:at + span]
        elif op == "dup":
            data[at:at] = data[at:at + span]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@functools.cache
def bomb() -> bytes:
    """A gzip member of 256 MiB of zeros (about 256 KB), built once."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 << 20)
    return b"".join([*(deflate.compress(zeros) for _ in range(16)), deflate.flush()])


@st.composite
def gzipped(draw, strategy) -> bytes:
    """``strategy``'s bytes, gzip'd half the time (so mutated inside the compression);
    one gzip'd case in 16 is followed by 12 members inflating to 3 GiB of zeros."""
    data = draw(strategy)
    if not draw(st.booleans()):
        return data
    data = gzip.compress(data, mtime=0)
    return data + bomb() * 12 if draw(st.integers(0, 15)) == 15 else data


# --------------------------------------------------------------------------------------
# Seeds: small valid files of each format
# --------------------------------------------------------------------------------------
def idx_file(array: np.ndarray) -> bytes:
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes[array.dtype.str[1:]]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def idx_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    return [
        idx_file(rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)),
        idx_file(rng.integers(0, 10, 20, dtype=np.uint8)),
        idx_file(rng.standard_normal((4, 5)).astype(np.float32)),
        idx_file(rng.integers(-500, 500, (2, 3, 4)).astype(np.int16)),
        idx_file(rng.standard_normal(6)),
    ]


IDX_TOKENS = (b"\x00\x00\x08\x03", b"\x00\x00\x0e\x01", b"\x00\x00\x00\x00", b"\xff" * 4,
              b"\x1f\x8b", b"\x1f\x8b\x08\x00" + bytes(6))


def npy_file(header: str, data: bytes) -> bytes:
    """A .npy version 1.0 file with ``header`` (the dict's text), padded as NumPy does."""
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def npy_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    arrays = [
        rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        rng.random((3, 784)),
        rng.random((2, 784)).astype(np.float32),
        rng.integers(0, 256, (2, 784)).astype(">i4"),
        np.asfortranarray(rng.random((784, 2))).T,
    ]
    seeds = []
    for array in arrays:
        order = array.flags.f_contiguous and not array.flags.c_contiguous
        header = (f"{{'descr': '{array.dtype.str}', 'fortran_order': {order}, "
                  f"'shape': {array.shape}, }}")
        seeds.append(npy_file(header, array.tobytes(order="F" if order else "C")))
    return seeds


NPY_TOKENS = (b"nan", b"inf", b"'|O'", b"'<c16'", b"'<U4'", b"'|b1'", b"True", b"(0, 784)",
              b"(100000, 100000)", b"(-1,)", b"()", b"(2, 28, 28)", b"\x00\x00\xc0\x7f",
              b"\x00\x00\x00\x00\x00\x00\xf0\x7f", b"PK\x03\x04", b"[('a', '<f8')]")


@st.composite
def npy_cases(draw) -> bytes:
    """A .npy seed whose header fields or values are replaced, or its bytes mutated."""
    seeds = npy_seeds()
    if draw(st.booleans()):
        return draw(mutated(seeds, NPY_TOKENS))
    data = seeds[draw(st.integers(0, len(seeds) - 1))]
    size = struct.unpack("<H", data[8:10])[0]
    header, body = data[10:10 + size], data[10 + size:]
    text = header.decode("latin1").strip()
    field = draw(st.sampled_from(("descr", "shape", "fortran_order", "value")))
    if field == "descr":
        descr = draw(st.sampled_from(("'<f8'", "'>f8'", "'<f2'", "'<c16'", "'|O'", "'<U1'",
                                      "'|b1'", "'<i8'", "'|u1'", "'<M8[s]'", "'|V8'",
                                      "[('a', '<f8')]", "('<f8', (2,))", "'<q9'")))
        text = re.sub(r"'descr': [^,]+,", f"'descr': {descr},", text)
    elif field == "shape":
        dims = draw(st.lists(st.sampled_from((0, 1, 2, 28, 784, 2**31, 2**63)), max_size=4))
        text = re.sub(r"'shape': \([^)]*\)", f"'shape': {tuple(dims)}", text)
    elif field == "fortran_order":
        text = text.replace("False", "True") if "False" in text else text.replace("True", "0")
    else:
        values = bytearray(body)
        bad = draw(st.sampled_from((b"\x00\x00\x00\x00\x00\x00\xf8\x7f",
                                    b"\x00\x00\x00\x00\x00\x00\xf0\xff", b"\x00\x00\xc0\x7f",
                                    b"\x00\x00\x00\x00\x00\x00\x00@", b"\x00\x01\x00\x00")))
        at = draw(st.integers(0, max(len(values) - len(bad), 0)))
        values[at:at + len(bad)] = bad
        body = bytes(values)
    return npy_file(text, body)


def csv_seeds() -> list[bytes]:
    rng = np.random.default_rng(2)
    rows = ["name,t,x1,x2,y1"]
    for s in range(4):
        for t in range(3 + s):
            rows.append(f"s{s},{t},{rng.random():.4g},{rng.normal():.4g},{s % 3}")
    plain = "\n".join(rows) + "\n"
    quoted = plain.replace("name,t,x1,x2,y1", '"name","t","x1","x2","y1"')
    shuffled = "\n".join([rows[0], *rows[:0:-1]]) + "\n"
    two_labels = "name,t,x1,y1,y2\na,0,1.5,0,1\na,1,2.5,1,0\nb,0,-3,0.25,0.75\n"
    return [s.encode() for s in (plain, quoted, plain.replace("\n", "\r\n"), shuffled,
                                 two_labels)]


CSV_TOKENS = (b"nan", b"inf", b"-inf", b"1e999", b"1e9", b"-1", b"2.5", b'"', b'""', b"\r",
              b"\r\n", b"\n", b",", b",,", b"\xff\xfe", b"\xc3", b"9223372036854775808",
              b"-9223372036854775809", b"x0", b"y0", b"x3", b"name", b"t", b" ", b"\t",
              b"\x00", b"\xef\xbb\xbf", b"0x10", b"1_000", b"+1", b"1e-400")


def model_seeds(directory: Path) -> list[bytes]:
    """Small saved models of every kind, as bytes."""
    import nablanet

    models = [nablanet.Network([4, 3, 2], seed=0),
              nablanet.RNN(2, 3, 2, seed=0),
              nablanet.LSTM(2, 3, 1, seed=0),
              nablanet.GRU(2, 2, 3, layers=2, seed=0)]
    seeds = []
    for i, model in enumerate(models):
        path = directory / f"seed-{i}.model"
        nablanet.save(model, path)
        seeds.append(canonical(path.read_bytes()))
    return seeds


def canonical(data: bytes) -> bytes:
    """A safetensors file with its header's keys sorted.

    safetensors writes the metadata in hash-map order, which changes from one process to
    the next; sorted, the same models and the same draws give the same bytes.
    """
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    ordered = {key: dict(sorted(value.items())) if key == "__metadata__" else value
               for key, value in sorted(header.items())}
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + size:]


#: Values a mutated configuration field takes: types and sizes a loader must check.
JSON_VALUES = (0, -1, 1, 2, 10**9, 10**12, 2**63, 1.5, -0.0, float("nan"), float("inf"),
               "", "x", "relu", "float16", None, True, [], [0], [4, 10**9, 2], {}, {"a": 1})


@st.composite
def model_cases(draw, seeds: list[bytes]) -> bytes:
    """A saved model whose metadata, configuration or arrays are changed, or bytes mutated."""
    import safetensors.numpy

    kind = draw(st.sampled_from(("bytes", "config", "metadata", "array")))
    if kind == "bytes":
        return draw(mutated(seeds, (b"{", b"}", b'"', b"\xff", b"F64", b"F32", b"I64",
                                    struct.pack("<Q", 2**40), b"[0, 99999999]", b"nan")))
    data = draw(st.sampled_from(seeds))
    size = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8:8 + size]).get("__metadata__", {})
    tensors = safetensors.numpy.load(data)
    if kind == "config":
        config = json.loads(meta["config"])
        _mutate_json(draw, config)
        meta["config"] = json.dumps(config)
    elif kind == "metadata":
        key = draw(st.sampled_from([*sorted(meta), "extra"]))
        meta[key] = draw(st.sampled_from(("", "-5", "2", "1", "nablanet", "Network", "RNN",
                                          "Sequential", "os.system", "{", "null", "[]")))
    else:
        name = draw(st.sampled_from(sorted(tensors)))
        array = tensors[name]
        change = draw(st.sampled_from(("nan", "inf", "shape", "dtype", "drop", "extra")))
        if change in ("nan", "inf") and array.size:
            array = array.copy()
            array.flat[draw(st.integers(0, array.size - 1))] = np.nan if change == "nan" \
                else np.inf
        elif change == "shape":
            array = array.reshape(-1)[: max(array.size - 1, 0)]
        elif change == "dtype":
            array = array.astype(draw(st.sampled_from((np.float32, np.float16, np.int64))))
        elif change == "drop":
            del tensors[name]
            return canonical(safetensors.numpy.save(tensors, metadata=meta))
        else:
            name += ".extra"
        tensors[name] = array
    return canonical(safetensors.numpy.save(tensors, metadata=meta))


def _mutate_json(draw, node) -> None:
    """Replace one leaf (or one whole container) of a JSON tree in place."""
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(st.sampled_from(JSON_VALUES))
        return


#: The session's outcome counts (one object, shared by the conftest and the tests).
TALLY = Tally()

"""The IDX file format of MNIST and Fashion-MNIST: read and write, raw or gzip.

An IDX file is a header followed by the values of one n-dimensional array in C
(row-major) order, big-endian (LeCun, Cortes and Burges, "The MNIST database",
http://yann.lecun.com/exdb/mnist/):

* a 4-byte magic number: two zero bytes, a type code, a dimension count ``ndim``;
* ``ndim`` big-endian unsigned 32-bit sizes, one per dimension;
* the values, big-endian.

Type codes: 0x08 unsigned byte, 0x09 signed byte, 0x0B short (2 bytes),
0x0C int (4 bytes), 0x0D float (4 bytes), 0x0E double (8 bytes).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from nablanet.atomic import atomic_output

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian NumPy dtype of the values in the file.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def _decompress(path: Path, raw: bytes) -> tuple[bytes, bool]:
    """Inflate every gzip member of ``raw``; return the bytes and whether the stream ended cleanly.

    A stream cut short returns what could be inflated and ``False``; corrupt data
    (a bad deflate block, a CRC or length mismatch in the trailer) raises ``ValueError``.
    """
    members = []
    while raw:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            members.append(inflater.decompress(raw))
        except zlib.error as err:
            raise ValueError(f"{path}: corrupt gzip stream: {err}") from None
        if not inflater.eof:
            return b"".join(members), False
        raw = inflater.unused_data
        if raw and not raw.startswith(GZIP_MAGIC):
            raise ValueError(f"{path}: {len(raw)} bytes of trailing garbage after the gzip stream")
    return b"".join(members), True


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, raw or gzip-compressed, into a NumPy array.

    Compression is detected from the file's first two bytes (the gzip magic number
    1f 8b), not from its name.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        A new, writable array in native byte order with the shape the header declares,
        e.g. ``(60000, 28, 28)`` uint8 for MNIST training images and ``(60000,)`` uint8
        for its labels. The dtype follows the header's type code: uint8, int8, int16,
        int32, float32 or float64.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a well-formed IDX file: a bad magic number, an unknown type
        code, zero dimensions, a header or data section shorter than the header says
        (truncated file or truncated gzip stream), bytes beyond the declared data, or a
        corrupt gzip stream. The message starts with the file's path and says what was
        wrong and what was found.
    """
    path = Path(path)
    raw = path.read_bytes()
    complete = True
    if raw.startswith(GZIP_MAGIC):
        raw, complete = _decompress(path, raw)
    cut = "" if complete else " (the gzip stream ends before its end-of-stream marker)"

    if len(raw) < 4:
        raise ValueError(
            f"{path}: truncated: {len(raw)} bytes, too short for the 4-byte IDX magic number{cut}"
        )
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number 0x{raw[:4].hex()}, "
            "expected two zero bytes, a type code and a dimension count"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x} ({dt.name})" for c, dt in IDX_DTYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}, expected one of {known}")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated: the header declares {ndim} dimensions ({header} header bytes), "
            f"found {len(raw)} bytes{cut}"
        )

    dtype = IDX_DTYPES[code]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = dtype.itemsize * math.prod(shape)
    found = len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else f"{found - expected} trailing bytes"
        raise ValueError(
            f"{path}: {problem}: header says {'x'.join(map(str, shape))} {dtype.name} = "
            f"{expected} bytes of data, found {found}{cut}"
        )
    if not complete:
        raise ValueError(
            f"{path}: truncated gzip stream: the {expected} bytes of data are all there "
            "but the stream ends before its end-of-stream marker"
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file, atomically.

    The file is written under a temporary name in the destination directory and
    renamed into place, so a reader never sees a half-written file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Existing files are replaced.
    array : numpy.ndarray
        Array of 1 to 255 dimensions, each smaller than 2**32, of dtype uint8, int8,
        int16, int32, float32 or float64 (any byte order), e.g. ``(n, 28, 28)`` uint8
        images or ``(n,)`` uint8 labels.
    compress : bool, optional
        Gzip the file. By default, gzip when ``path`` ends with ``.gz``. The gzip header
        carries no timestamp, so equal arrays give byte-identical files.

    Raises
    ------
    TypeError
        If the array's dtype has no IDX type code.
    ValueError
        If the array has 0 or more than 255 dimensions, or a dimension of 2**32 or more.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        names = ", ".join(dt.name for dt in IDX_DTYPES.values())
        raise TypeError(f"write_idx: array dtype {array.dtype} has no IDX type code; use {names}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, found {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx: every dimension must be < 2**32, found shape {array.shape}")
    if compress is None:
        compress = path.suffix == ".gz"

    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        if compress:
            with gzip.GzipFile(filename=path.name, mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(payload)
        else:
            f.write(payload)

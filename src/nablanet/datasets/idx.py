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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nablanet.atomic import atomic_output
from nablanet.validation import declared_array

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


#: Largest data section :func:`read_idx` allocates unless told otherwise: 2 GiB.
MAX_BYTES = 2**31

#: Most bytes a deflate stream can inflate to per compressed byte (RFC 1951: a 258-byte
#: match costs at least 2 bits); a gzip file cannot hold more data than this allows.
DEFLATE_MAX_RATIO = 1032

_CHUNK = 1 << 20


class _Inflater:
    """The inflated bytes of a (multi-member) gzip file, read on demand, never more than asked.

    ``read(n)`` returns ``n`` bytes, or fewer at the end of the stream: then ``cut``
    says whether the stream ended before its end-of-stream marker. Corrupt data (a bad
    deflate block, a CRC or length mismatch) and bytes after the last member that do not
    start another member raise ``ValueError`` naming ``path``.
    """

    def __init__(self, file, path: Path):
        self.file, self.path = file, path
        self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.pending = b""
        self.cut = False

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0:
            if self.inflater.eof:  # a member ended: another one, trailing garbage, or the end
                rest = self.inflater.unused_data
                if len(rest) < len(GZIP_MAGIC):
                    rest += self.file.read(_CHUNK)
                if not rest:
                    break
                if not rest.startswith(GZIP_MAGIC):
                    size = len(rest) + len(self.file.read())
                    raise ValueError(
                        f"{self.path}: {size} bytes of trailing garbage after the gzip stream"
                    )
                self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self.pending = rest
            if not self.pending:
                self.pending = self.file.read(_CHUNK)
                if not self.pending:
                    self.cut = True
                    break
            try:
                out = self.inflater.decompress(self.pending, min(n, _CHUNK))
            except zlib.error as err:
                raise ValueError(f"{self.path}: corrupt gzip stream: {err}") from None
            self.pending = b"" if self.inflater.eof else self.inflater.unconsumed_tail
            parts.append(out)
            n -= len(out)
        return b"".join(parts)


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one IDX file, raw or gzip-compressed, into a NumPy array.

    Compression is detected from the file's first two bytes (the gzip magic number
    1f 8b), not from its name. The sizes in the header are checked before anything is
    allocated: against ``max_bytes``, and against what the file can hold (its size, or
    :data:`DEFLATE_MAX_RATIO` times it for gzip). A gzip stream is inflated no further
    than the declared size (plus at most 1 MiB to count trailing bytes), so a small file
    that inflates to gigabytes costs no memory.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file, e.g. ``train-images-idx3-ubyte.gz``.
    max_bytes : int, default MAX_BYTES (2 GiB)
        Largest data section accepted, in bytes.

    Returns
    -------
    numpy.ndarray
        A new, writable array in native byte order with the shape the header declares,
        e.g. ``(60000, 28, 28)`` uint8 for MNIST training images and ``(60000,)`` uint8
        for its labels. The dtype follows the header's type code: uint8, int8, int16,
        int32, float32 or float64. A dimension may be 0 (an empty array).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a well-formed IDX file: a bad magic number, an unknown type
        code, zero dimensions, a data section larger than ``max_bytes``, a header or data
        section shorter than the header says (truncated file or truncated gzip stream),
        bytes beyond the declared data, or a corrupt gzip stream. The message starts
        with the file's path and says what was wrong and what was found.
    """
    path = Path(path)
    with path.open("rb") as file:
        file_size = os.fstat(file.fileno()).st_size
        gzipped = file.read(2) == GZIP_MAGIC
        file.seek(0)
        read: Callable[[int], bytes]
        if gzipped:
            stream = _Inflater(file, path)
            read, capacity = stream.read, DEFLATE_MAX_RATIO * file_size
        else:
            stream, read, capacity = None, file.read, file_size

        def cut() -> str:
            if stream is not None and stream.cut:
                return " (the gzip stream ends before its end-of-stream marker)"
            return ""

        magic = read(4)
        if len(magic) < 4:
            raise ValueError(
                f"{path}: truncated: {len(magic)} bytes, too short for the 4-byte IDX magic "
                f"number{cut()}"
            )
        zero, code, ndim = int.from_bytes(magic[:2], "big"), magic[2], magic[3]
        if zero != 0:
            raise ValueError(
                f"{path}: not an IDX file: magic number 0x{magic.hex()}, "
                "expected two zero bytes, a type code and a dimension count"
            )
        if code not in IDX_DTYPES:
            known = ", ".join(f"0x{c:02x} ({dt.name})" for c, dt in IDX_DTYPES.items())
            raise ValueError(
                f"{path}: unknown IDX type code 0x{code:02x}, expected one of {known}"
            )
        if ndim == 0:
            raise ValueError(f"{path}: the IDX header declares 0 dimensions, expected at least 1")
        dims = read(4 * ndim)
        header = 4 + 4 * ndim
        if len(dims) < 4 * ndim:
            raise ValueError(
                f"{path}: truncated: the header declares {ndim} dimensions ({header} header "
                f"bytes), found {4 + len(dims)} bytes{cut()}"
            )

        dtype = IDX_DTYPES[code]
        shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
        expected = dtype.itemsize * math.prod(shape)
        dims_text = "x".join(map(str, shape))
        declared = f"header says {dims_text} {dtype.name} = {expected} bytes of data"
        if expected > max_bytes:
            raise ValueError(
                f"{path}: too large: {declared}, more than the {max_bytes} allowed "
                "(read_idx's max_bytes)"
            )
        if expected > capacity - header:
            what = f"a {file_size}-byte gzip file holds at most {capacity - header}" if gzipped \
                else f"found {file_size - header}"
            raise ValueError(f"{path}: truncated: {declared}, {what}")

        array, buffer = declared_array(str(path), shape, dtype, declared)
        found = 0
        while found < expected:
            chunk = read(min(expected - found, _CHUNK))
            if not chunk:
                break
            buffer[found:found + len(chunk)] = chunk
            found += len(chunk)
        if found == expected and stream is None:
            found = file_size - header
        elif found == expected:
            found += len(read(_CHUNK))
            if found > expected and read(1):
                raise ValueError(
                    f"{path}: more than {found - expected} trailing bytes: {declared}; the "
                    "gzip stream inflates further"
                )
        if found != expected:
            problem = "truncated" if found < expected else f"{found - expected} trailing bytes"
            raise ValueError(f"{path}: {problem}: {declared}, found {found}{cut()}")
        if stream is not None and stream.cut:
            raise ValueError(
                f"{path}: truncated gzip stream: the {expected} bytes of data are all there "
                "but the stream ends before its end-of-stream marker"
            )
    if dtype.byteorder != array.dtype.byteorder and dtype.itemsize > 1:
        array.byteswap(inplace=True)
    return array


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

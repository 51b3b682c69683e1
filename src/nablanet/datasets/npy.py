"""NumPy ``.npy`` files read defensively: the header is checked before anything is allocated.

``numpy.load`` trusts the header: a shape of ``(10**12,)`` in a 100-byte file asks for
terabytes, a ``.npz`` archive named ``.npy`` comes back as a lazy archive object, and a
pickled object array needs ``allow_pickle``. :func:`read_npy` parses the header with
NumPy's own parser (:func:`numpy.lib.format.read_magic`,
:func:`numpy.lib.format.read_array_header_1_0` / ``_2_0``), accepts plain numeric arrays
only, checks the declared size against a bound and against the file's size, then reads
the values into an array it allocated itself.

Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from nablanet.validation import check_finite, declared_array

__all__ = ["MAX_BYTES", "read_npy"]

#: Largest array :func:`read_npy` allocates unless told otherwise: 2 GiB.
MAX_BYTES = 2**31

_ZIP_MAGIC = b"PK\x03\x04"
_HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}


def read_npy(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one ``.npy`` file holding a numeric array with finite values.

    Parameters
    ----------
    path : str or os.PathLike
        The file, as written by :func:`numpy.save` (format versions 1.0 and 2.0).
    max_bytes : int, default MAX_BYTES (2 GiB)
        Largest array accepted, in bytes.

    Returns
    -------
    numpy.ndarray
        A new, writable, C-contiguous array in native byte order with the shape and the
        dtype of the header: bool, integer, float or complex.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a ``.npy`` file (a ``.npz`` archive is named as such), its
        header is malformed or of an unsupported version, its dtype is not numeric
        (objects, strings, records), its array is larger than ``max_bytes``, the file
        holds fewer or more bytes than the header declares, or a value is NaN or
        infinite (the count and the first index are given). Every message starts with
        the file's path.
    """
    path = Path(path)
    with path.open("rb") as file:
        file_size = os.fstat(file.fileno()).st_size
        start = file.read(len(_ZIP_MAGIC))
        if start == _ZIP_MAGIC:
            raise ValueError(
                f"{path}: a .npz archive (zip), not a .npy array; extract the array first"
            )
        file.seek(0)
        try:
            version = npy_format.read_magic(file)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                raise ValueError(
                    f"format version {version[0]}.{version[1]}, expected 1.0 or 2.0"
                )
            shape, fortran_order, dtype = reader(file)
        except MemoryError:
            raise
        except Exception as err:  # NumPy's header parser raises many types (tokenize, ast)
            raise ValueError(
                f"{path}: not a valid .npy file: {type(err).__name__}: {err}"
            ) from None
        if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(
                f"{path}: expected a numeric array (bool, integer, float or complex), "
                f"found dtype {dtype}"
            )
        if any(d < 0 for d in shape):
            raise ValueError(f"{path}: the header declares a negative dimension: {shape}")
        size = dtype.itemsize * math.prod(shape)
        declared = f"the header declares {shape} {dtype} = {size} bytes"
        if size > max_bytes:
            raise ValueError(
                f"{path}: too large: {declared}, more than the {max_bytes} allowed "
                "(read_npy's max_bytes)"
            )
        found = file_size - file.tell()
        if found != size:
            problem = "truncated" if found < size else f"{found - size} trailing bytes"
            raise ValueError(f"{path}: {problem}: {declared}, found {found}")
        order = shape[::-1] if fortran_order else shape
        array, view = declared_array(str(path), order, dtype, declared)
        if file.readinto(view) != size:
            raise ValueError(f"{path}: truncated while reading: {declared}")
    if dtype.byteorder not in "=|":
        array.byteswap(inplace=True)
    if fortran_order:
        array = np.ascontiguousarray(array.T)
    check_finite(array, str(path))
    return array

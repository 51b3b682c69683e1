"""The defensive .npy reader: round trips, hostile headers refused before allocation."""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from nablanet.datasets.npy import read_npy


def npy_bytes(header: str, data: bytes = b"", version: int = 1) -> bytes:
    """A .npy file built by hand: magic, version, padded header dict, data."""
    text = header.encode("latin1")
    size_len = 2 if version == 1 else 4
    pad = -(6 + 2 + size_len + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(text).to_bytes(size_len, "little") + text + data


@pytest.mark.parametrize("dtype", ["u1", "<i2", ">i4", "<f4", ">f8", "<c16", "?"])
@pytest.mark.parametrize("shape", [(0,), (5,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("fortran", [False, True])
def test_round_trip(tmp_path, dtype, shape, fortran):
    array = (np.arange(np.prod(shape)).reshape(shape) % 7).astype(dtype)
    if fortran:
        array = np.asfortranarray(array)
    path = tmp_path / "a.npy"
    np.save(path, array)
    back = read_npy(path)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == array.dtype.newbyteorder("=") and back.dtype.isnative
    assert back.flags.c_contiguous and back.flags.writeable


def test_version_2(tmp_path):
    path = tmp_path / "v2.npy"
    path.write_bytes(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                               np.array([1.0, 2.0]).tobytes(), version=2))
    np.testing.assert_array_equal(read_npy(path), [1.0, 2.0])


def write(tmp_path, content: bytes, name="images.npy"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", b"",
         r"too large: the header declares \(100000, 100000\) float64 = 80000000000 bytes"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 1000), }", bytes(80),
         r"truncated: the header declares \(1000, 1000\) float64 = 8000000 bytes, found 80"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", bytes(20),
         r"4 trailing bytes: the header declares \(2,\) float64 = 16 bytes, found 20"),
        ("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", bytes(16),
         "expected a numeric array .* found dtype object"),
        ("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", bytes(16),
         "found dtype .*'a'"),
        ("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", bytes(24),
         "found dtype <U3"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2**40,), }", b"",
         "not a valid .npy file"),
        ("{'descr': '<f8', 'shape': (2,), }", bytes(16), "not a valid .npy file"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3), }", b"",
         "negative dimension"),
        ("{'descr': '<q9', 'fortran_order': False, 'shape': (2,), }", b"",
         "not a valid .npy file"),
    ],
)
def test_bad_header(tmp_path, header, data, message):
    path = write(tmp_path, npy_bytes(header, data))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=message) as info:
            read_npy(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(str(path))
    assert peak < 2**20  # refused from the header, before allocating


def test_not_npy(tmp_path):
    with pytest.raises(ValueError, match=r"images\.npy: not a valid \.npy file"):
        read_npy(write(tmp_path, b"hello world, not numpy"))
    with pytest.raises(ValueError, match=r"npy file: ValueError: format version 3\.0"):
        read_npy(write(tmp_path, b"\x93NUMPY\x03\x00" + bytes(60)))
    with pytest.raises(ValueError, match=r"not a valid \.npy file"):
        read_npy(write(tmp_path, b""))


def test_npz_named_npy(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(3))
    assert zipfile.is_zipfile(buffer)
    with pytest.raises(ValueError, match=r"images\.npy: a \.npz archive"):
        read_npy(write(tmp_path, buffer.getvalue()))


def test_pickled_object_array_refused(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="found dtype object"):
        read_npy(path)


def test_non_finite_count_and_first_index(tmp_path):
    X = np.zeros((4, 3), np.float32)
    X[2, 1], X[3, 0] = np.inf, np.nan
    path = tmp_path / "images.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match=r"images\.npy: 2 non-finite values .* \(2, 1\) is inf"):
        read_npy(path)


def test_max_bytes(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.zeros(10))
    assert read_npy(path, max_bytes=80).shape == (10,)
    with pytest.raises(ValueError, match="more than the 79 allowed"):
        read_npy(path, max_bytes=79)


def test_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_npy(tmp_path / "nope.npy")


def test_empty_array_whose_other_dimensions_overflow(tmp_path):
    # Found by the fuzz suite: like the IDX reader's case.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2**62, 2**62), }"
    header = header.replace("2**62", str(2**62))
    with pytest.raises(ValueError, match=r"images\.npy: bad dimensions"):
        read_npy(write(tmp_path, npy_bytes(header)))


def test_header_tokenizer_errors_are_named(tmp_path):
    # Found by the fuzz suite: NumPy's header parser raised tokenize.TokenError.
    content = npy_bytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2, ")
    with pytest.raises(ValueError, match=r"images\.npy: not a valid \.npy file"):
        read_npy(write(tmp_path, content))

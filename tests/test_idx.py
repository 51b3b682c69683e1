"""IDX reader and writer: round trips, malformed files, the shared MNIST sample."""

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nablanet.datasets.idx import read_idx, write_idx

SAMPLE_DIR = Path(__file__).parents[2] / "shared/data/mnist-10k"


def idx_bytes(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """An IDX file built by hand: magic, big-endian dimensions, data."""
    dims = b"".join(d.to_bytes(4, "big") for d in shape)
    return bytes([0, 0, code, len(shape)]) + dims + data


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 2, 3), (2, 1, 3, 2)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, shape, name):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / name
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # a writable copy
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_known_bytes_big_endian(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([[1, 2, 3], [256, -1, 7]], dtype="<i2"))
    expected = idx_bytes(0x0B, (2, 3), bytes.fromhex("0001 0002 0003 0100 ffff 0007"))
    assert path.read_bytes() == expected


def test_gzip_detected_by_magic_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "no-extension"
    write_idx(path, array, compress=True)
    np.testing.assert_array_equal(read_idx(path), array)
    raw = tmp_path / "raw.gz"
    write_idx(raw, array, compress=False)
    np.testing.assert_array_equal(read_idx(raw), array)


def test_write_is_deterministic_and_replaces(tmp_path):
    path = tmp_path / "x.idx.gz"
    write_idx(path, np.zeros(5, np.uint8))
    first = path.read_bytes()
    write_idx(path, np.ones(5, np.uint8))
    write_idx(path, np.zeros(5, np.uint8))
    assert path.read_bytes() == first


def test_write_rejects_unsupported(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


def write_bad(tmp_path, name: str, content: bytes, gz: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "magic number 0x01000801"),
        (idx_bytes(0x0A, (1,), b"\x05"), "unknown IDX type code 0x0a"),
        (idx_bytes(0x08, (), b""), "0 dimensions"),
        (b"\x00\x00", "too short"),
        (idx_bytes(0x08, (10, 28, 28), b"")[:10], "header declares 3 dimensions"),
        (
            idx_bytes(0x08, (10, 28, 28), bytes(1234)),
            "truncated: header says 10x28x28 uint8 = 7840 bytes of data, found 1234",
        ),
        (idx_bytes(0x0E, (2, 3), bytes(47)), "2x3 float64 = 48 bytes of data, found 47"),
        (idx_bytes(0x08, (2, 3), bytes(9)), "3 trailing bytes: header says 2x3 uint8"),
    ],
)
def test_malformed(tmp_path, gz, content, message):
    name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    path = write_bad(tmp_path, name, content, gz)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert name in str(info.value)


def test_gzip_stream_cut_in_the_middle(tmp_path):
    content = idx_bytes(0x08, (10, 28, 28), np.random.default_rng(1).bytes(7840))
    packed = gzip.compress(content, mtime=0)
    path = write_bad(tmp_path, "t10k-images-idx3-ubyte.gz", packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: truncated") as info:
        read_idx(path)
    assert "gzip stream ends" in str(info.value)
    assert "header says 10x28x28 uint8 = 7840 bytes of data, found" in str(info.value)


def test_gzip_missing_only_its_trailer(tmp_path):
    packed = gzip.compress(idx_bytes(0x08, (4,), b"abcd"), mtime=0)
    path = write_bad(tmp_path, "labels.gz", packed[:-8])
    with pytest.raises(ValueError, match=r"labels\.gz: truncated gzip stream"):
        read_idx(path)


def test_gzip_corrupt(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(0x08, (4,), b"abcd"), mtime=0))
    packed[-5] ^= 0xFF  # the uncompressed length in the trailer
    path = write_bad(tmp_path, "labels.gz", bytes(packed))
    with pytest.raises(ValueError, match=r"labels\.gz: corrupt gzip stream"):
        read_idx(path)
    path.write_bytes(gzip.compress(idx_bytes(0x08, (4,), b"abcd")) + b"junk")
    with pytest.raises(ValueError, match=r"labels\.gz: 4 bytes of trailing garbage"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_shared_mnist_sample():
    images_path = SAMPLE_DIR / "mnist10k-images-idx3-ubyte.gz"
    if not images_path.exists():
        pytest.skip(f"shared MNIST sample not found at {SAMPLE_DIR}")
    images = read_idx(images_path)
    labels = read_idx(SAMPLE_DIR / "mnist10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0


# ------------------------------------------------------------------------------------
# Sizes from the header are bounded before anything is allocated
# ------------------------------------------------------------------------------------
def peak_bytes(fn) -> int:
    """Peak memory traced (Python and NumPy allocations) while ``fn()`` runs or raises."""
    tracemalloc.start()
    try:
        try:
            fn()
        except ValueError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_read_no_further_than_declared(tmp_path):
    # 1000 declared images, then a stream of members that inflates to 256 MiB more.
    header = idx_bytes(0x08, (1000, 28, 28), bytes(784_000))
    member = gzip.compress(bytes(16 << 20), compresslevel=9, mtime=0)
    path = write_bad(tmp_path, "train-images-idx3-ubyte.gz", b"")
    path.write_bytes(gzip.compress(header, mtime=0) + member * 16)
    with pytest.raises(ValueError, match=r"idx3-ubyte\.gz: more than 1048576 trailing bytes: "
                                         r"header says 1000x28x28 uint8 = 784000 bytes"):
        read_idx(path)
    assert peak_bytes(lambda: read_idx(path)) < 8 << 20


def test_declared_size_beyond_what_a_gzip_file_can_hold(tmp_path):
    content = idx_bytes(0x08, (2**31 - 1,), bytes(100))
    path = write_bad(tmp_path, "labels.gz", content, gz=True)
    size = path.stat().st_size
    with pytest.raises(ValueError, match=rf"labels\.gz: truncated: header says 2147483647 uint8 "
                                         rf"= 2147483647 bytes of data, a {size}-byte gzip file"):
        read_idx(path)
    assert peak_bytes(lambda: read_idx(path)) < 4 << 20


def test_declared_size_beyond_the_raw_file(tmp_path):
    path = write_bad(tmp_path, "labels", idx_bytes(0x0E, (2**28,), bytes(16)))
    with pytest.raises(ValueError, match=r"labels: truncated: .* = 2147483648 bytes of data, "
                                         "found 16"):
        read_idx(path)
    assert peak_bytes(lambda: read_idx(path)) < 4 << 20


def test_max_bytes(tmp_path):
    path = write_bad(tmp_path, "images", idx_bytes(0x08, (4096, 4096, 4096), b""))
    with pytest.raises(ValueError, match=r"images: too large: header says 4096x4096x4096 uint8 "
                                         r"= 68719476736 bytes of data, more than the 2147483648"):
        read_idx(path)
    write_idx(path, np.zeros((3, 4), np.int16))
    assert read_idx(path, max_bytes=24).shape == (3, 4)
    with pytest.raises(ValueError, match="more than the 23 allowed"):
        read_idx(path, max_bytes=23)


def test_multi_member_gzip(tmp_path):
    content = idx_bytes(0x0B, (2, 3), np.arange(6, dtype=">i2").tobytes())
    path = write_bad(tmp_path, "x.gz", b"")
    path.write_bytes(b"".join(gzip.compress(content[i:i + 5], mtime=0) for i in range(0, 28, 5)))
    np.testing.assert_array_equal(read_idx(path), np.arange(6).reshape(2, 3))


def test_empty_array_is_valid_idx(tmp_path):
    path = write_bad(tmp_path, "x", idx_bytes(0x08, (0, 28, 28), b""))
    assert read_idx(path).shape == (0, 28, 28)


def test_empty_array_whose_other_dimensions_overflow(tmp_path):
    # Found by the fuzz suite: 0 x (2**32-1)^3 holds no data, but NumPy cannot shape it.
    path = write_bad(tmp_path, "x", idx_bytes(0x08, (0, 2**32 - 1, 2**32 - 1, 2**32 - 1), b""))
    with pytest.raises(ValueError, match=r"^\S*x: bad dimensions: header says 0x4294967295"):
        read_idx(path)

"""IDX reader and MNIST/Fashion-MNIST: decoding tiny files written here, clear errors on bad files, and one
check against the real Fashion-MNIST files from Debian's dataset-fashion-mnist package when installed."""
from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

import anynn
from anynn.datasets import root as R
from anynn.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, FashionMNIST, IdxFormatError, MNIST, read_idx

SYSTEM_DIR = R.SYSTEM_DIR


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = (0x0800 | array.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_gz(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(data)
    return str(path)


def write_split(folder, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    write_gz(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), idx_bytes(images))
    write_gz(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), idx_bytes(labels))


def tiny_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def test_read_idx_header_and_payload(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = write_gz(tmp_path / "x-idx3-ubyte.gz", idx_bytes(images))
    dims, payload = read_idx(path, IMAGES_MAGIC)
    assert dims == (3, 4, 5) and bytes(payload) == images.tobytes()
    raw = tmp_path / "y-idx1-ubyte"
    raw.write_bytes(idx_bytes(np.array([7, 1, 2], dtype=np.uint8)))  # uncompressed files work too
    assert read_idx(raw, LABELS_MAGIC) == ((3,), memoryview(bytes([7, 1, 2])))


@pytest.mark.parametrize("train", [True, False])
def test_mnist_decodes_tiny_files(backend, isolated, train):
    images, labels = tiny_mnist(5 if train else 3, seed=int(train))
    split = "train" if train else "t10k"
    write_split(isolated / "data" / "mnist", split, images, labels)
    ds = MNIST(root=isolated / "data", train=train, download=False)
    assert ds.backend is backend and len(ds) == len(labels)
    assert ds.images.shape == (len(labels), 1, 28, 28) and ds.images.dtype == anynn.uint8
    assert ds.labels.dtype == anynn.int64
    np.testing.assert_array_equal(ds.images.numpy()[:, 0], images)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert ds.classes[3] == "3 - three" and ds.split == ("train" if train else "test")


def test_fashion_mnist_from_env_folder_and_named_backend(isolated, monkeypatch):
    images, labels = tiny_mnist(4)
    write_split(isolated / "env" / "fashion-mnist", "t10k", images, labels)
    monkeypatch.setenv(R.DATA_ENV, str(isolated / "env"))
    ds = FashionMNIST(train=False, download=False, backend="numpy")
    assert ds.backend.name == "numpy" and ds.classes[9] == "Ankle boot"
    np.testing.assert_array_equal(ds.labels.numpy(), labels)


def test_root_folder_itself_is_searched(isolated):
    images, labels = tiny_mnist(2)
    write_split(isolated / "flat", "train", images, labels)
    assert len(MNIST(root=isolated / "flat", download=False)) == 2


def test_wrong_magic_names_file_and_expectation(tmp_path):
    labels_as_images = write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match=r"train-images-idx3-ubyte.gz: magic number 0x00000801, expected "
                                             r"0x00000803 \(IDX images"):
        read_idx(labels_as_images, IMAGES_MAGIC)


def test_truncated_and_overlong_payloads(tmp_path):
    good = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))
    short = write_gz(tmp_path / "short-idx3-ubyte.gz", good[:-5])
    with pytest.raises(IdxFormatError, match=r"short-idx3-ubyte.gz: truncated: the header says 2x3x3 = 18 bytes "
                                             r"of data, the file has 13"):
        read_idx(short, IMAGES_MAGIC)
    long = write_gz(tmp_path / "long-idx3-ubyte.gz", good + b"\0")
    with pytest.raises(IdxFormatError, match="too long"):
        read_idx(long, IMAGES_MAGIC)
    header_only = write_gz(tmp_path / "head-idx3-ubyte.gz", good[:9])
    with pytest.raises(IdxFormatError, match=r"head-idx3-ubyte.gz: header truncated: 9 bytes, expected 16"):
        read_idx(header_only, IMAGES_MAGIC)


def test_bad_and_cut_gzip_files(tmp_path):
    garbage = tmp_path / "garbage-idx1-ubyte.gz"
    garbage.write_bytes(b"this is not gzip at all")
    with pytest.raises(IdxFormatError, match=r"garbage-idx1-ubyte.gz: not a complete gzip file"):
        read_idx(garbage, LABELS_MAGIC)
    full = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    cut = tmp_path / "cut-idx1-ubyte.gz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(IdxFormatError, match=r"cut-idx1-ubyte.gz: not a complete gzip file.*download it again"):
        read_idx(cut, LABELS_MAGIC)


def test_image_label_count_mismatch(backend, isolated):
    images, _ = tiny_mnist(3)
    write_split(isolated, "train", images, np.zeros(2, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="has 3 images but .*train-labels-idx1-ubyte.gz has 2 labels"):
        MNIST(root=isolated, download=False)


def test_missing_files_without_download_lists_searched_folders(isolated):
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(root=isolated / "nowhere", download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "download=True" in message
    assert os.path.join(str(isolated / "system"), "fashion-mnist") in message
    assert os.path.join(str(isolated / "home"), ".cache", "anynn", "fashion-mnist") in message


@pytest.mark.parametrize("train", [False, True])
def test_real_fashion_mnist_from_system_package(backend, isolated, monkeypatch, train):
    folder = os.path.join(SYSTEM_DIR, "fashion-mnist")
    if not os.path.isfile(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")):
        pytest.skip(f"Fashion-MNIST is not installed in {folder} (Debian package dataset-fashion-mnist)")
    monkeypatch.setattr(R, "SYSTEM_DIR", SYSTEM_DIR)
    ds = FashionMNIST(train=train, download=False)
    n = 60000 if train else 10000
    assert ds.folder == folder and len(ds) == n
    assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == anynn.uint8
    labels = ds.labels.numpy()
    assert labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels).tolist() == [n // 10] * 10  # the official splits are balanced
    first = ds.labels[:5].tolist()
    assert first == ([9, 0, 0, 3, 0] if train else [9, 2, 1, 1, 6])  # ankle boot first in both splits
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and int(x.max()) > 0 and int(y) == 9

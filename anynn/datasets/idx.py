"""MNIST and Fashion-MNIST from their IDX files (gzip-compressed, as published).

IDX layout: a big-endian header — magic ``0x0000TTNN`` (TT the element type, 0x08 = uint8; NN the number of
dimensions), then one uint32 per dimension — followed by the raw elements. The header is parsed on the host
with ``struct``; the payload bytes go to the backend once, through ``Backend.from_buffer``.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import Any

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.data.dataset import ImageDataset, as_backend
from anynn.datasets.download import ensure

LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
_KIND = {LABELS_MAGIC: "IDX labels (uint8, 1 dimension)", IMAGES_MAGIC: "IDX images (uint8, 3 dimensions)"}


class IdxFormatError(ValueError):
    """An IDX file is corrupt or not the file expected; the message names the file and what was expected."""


def read_idx(path: str | os.PathLike, magic: int) -> tuple[tuple[int, ...], memoryview]:
    """The dimensions and the raw uint8 payload of an IDX file (``.gz`` files are decompressed).

    ``magic`` is the expected magic number (LABELS_MAGIC or IMAGES_MAGIC); anything else is an error.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < 4:
        raise IdxFormatError(f"{path}: only {len(raw)} bytes, expected an IDX header starting with the magic "
                             f"number 0x{magic:08x} ({_KIND.get(magic, 'IDX')})")
    (found,) = struct.unpack_from(">I", raw, 0)
    if found != magic:
        raise IdxFormatError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                             f"({_KIND.get(magic, 'IDX')}); is this the right file?")
    if len(raw) < header:
        raise IdxFormatError(f"{path}: header truncated: {len(raw)} bytes, expected {header} "
                             f"(magic and {ndim} big-endian uint32 dimensions)")
    dims = struct.unpack_from(f">{ndim}I", raw, 4)
    expected = 1
    for d in dims:
        expected *= d
    payload = len(raw) - header
    if payload != expected:
        what = "truncated" if payload < expected else "too long"
        raise IdxFormatError(f"{path}: {what}: the header says {'x'.join(map(str, dims))} = {expected} bytes of "
                             f"data, the file has {payload}; delete it and download it again")
    return dims, memoryview(raw)[header:]


def _read_bytes(path: str) -> bytes:
    if not path.endswith(".gz"):
        with open(path, "rb") as f:
            return f.read()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise IdxFormatError(f"{path}: not a complete gzip file ({err}); expected a gzip-compressed IDX file "
                             "(e.g. train-images-idx3-ubyte.gz): delete it and download it again") from None


def load_idx(path: str | os.PathLike, magic: int, backend: B.Backend) -> Any:
    """An IDX file as a native uint8 array on ``backend`` (one host-to-device copy)."""
    dims, payload = read_idx(path, magic)
    return backend.from_buffer(payload, D.uint8, dims)


class MNIST(ImageDataset):
    """MNIST handwritten digits: 60,000 training / 10,000 test images, (N, 1, 28, 28) uint8, labels 0-9.

    Files are looked for as described in :mod:`anynn.datasets.root` and downloaded (MD5-checked) if missing
    and ``download`` is true.
    """

    name = "mnist"
    urls = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)
    md5 = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine")

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = True,
                 backend: str | B.Backend | None = None):
        split = "train" if train else "t10k"
        images_file, labels_file = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
        folder = ensure(self.name, {f: self.md5[f] for f in (images_file, labels_file)}, self.urls, root, download)
        backend = as_backend(backend)
        images_path, labels_path = os.path.join(folder, images_file), os.path.join(folder, labels_file)
        images = load_idx(images_path, IMAGES_MAGIC, backend)
        labels = load_idx(labels_path, LABELS_MAGIC, backend)
        if images.shape[0] != labels.shape[0]:
            raise IdxFormatError(f"{images_path} has {images.shape[0]} images but {labels_path} has "
                                 f"{labels.shape[0]} labels; expected one label per image")
        n, h, w = images.shape
        xp = backend.xp
        super().__init__(Tensor._make(xp.reshape(images, (n, 1, h, w)), backend),
                         Tensor._make(xp.astype(labels, backend.dtype(D.int64)), backend),
                         self.CLASSES, split="train" if train else "test", folder=folder)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the MNIST format with 10 kinds of clothing (a harder drop-in replacement)."""

    name = "fashion-mnist"
    urls = ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
    md5 = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


__all__ = ["FashionMNIST", "IMAGES_MAGIC", "IdxFormatError", "LABELS_MAGIC", "MNIST", "load_idx", "read_idx"]

"""CIFAR-10 and CIFAR-100 from the official *binary* versions (no pickle).

Each record is the label byte(s) followed by 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a
row-major 32x32 plane, so a record's pixels are already an image in CHW order.

- CIFAR-10 (``cifar-10-binary.tar.gz``): ``cifar-10-batches-bin/data_batch_1..5.bin`` and ``test_batch.bin``,
  records of 1 + 3072 bytes.
- CIFAR-100 (``cifar-100-binary.tar.gz``): ``cifar-100-binary/train.bin`` and ``test.bin``, records of
  2 + 3072 bytes (coarse label, fine label).

The extracted folder is used if present; otherwise the archive (found or downloaded, MD5-checked) is
extracted next to itself. All files of a split are handed to the backend in one ``from_buffer`` call, and
labels and images are split off on the device.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from typing import Any, Sequence

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.data.dataset import ImageDataset, as_backend
from anynn.datasets import root as R
from anynn.datasets.download import ensure

URLS = ("https://www.cs.toronto.edu/~kriz/",)
PIXELS = 3 * 32 * 32

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables", "household_electrical_devices",
    "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates",
    "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2")
CIFAR100_FINE = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")


class CifarFormatError(ValueError):
    """A CIFAR file or archive is corrupt or not the official binary version; the message names the file."""


class _Cifar(ImageDataset):
    """Shared loading for the two CIFAR datasets; subclasses set the format constants."""

    name: str
    title: str
    archive: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_bytes: int

    def _load(self, root, train: bool, download: bool, backend, label_column: int, classes: Sequence[str]):
        folder = self._locate(root, train, download)
        files = self.train_files if train else self.test_files
        backend = as_backend(backend)
        records = _read_records([os.path.join(folder, f) for f in files], self.label_bytes + PIXELS, backend)
        xp, n = backend.xp, records.shape[0]
        labels = xp.astype(records[:, label_column], backend.dtype(D.int64))
        images = xp.reshape(records[:, self.label_bytes:], (n, 3, 32, 32))
        super().__init__(Tensor._make(images, backend), Tensor._make(labels, backend), classes,
                         split="train" if train else "test", folder=folder)

    def _locate(self, root, train: bool, download: bool) -> str:
        """The extracted folder holding the split's files, extracting the archive if only it is found."""
        needed = self.train_files if train else self.test_files
        for d in R.search_dirs(self.name, root):
            folder = os.path.join(d, self.folder)
            if all(os.path.isfile(os.path.join(folder, f)) for f in needed):
                return folder
        if R.find(self.name, [self.archive], root) is None and not download:
            searched = "\n".join(f"  {d}" for d in R.search_dirs(self.name, root))
            raise FileNotFoundError(f"{self.title}: neither {self.folder}/ (with {', '.join(needed)}) nor "
                                    f"{self.archive} was found in any of:\n{searched}\npass download=True, or put "
                                    "the official binary archive in one of these folders")
        archive_dir = ensure(self.name, {self.archive: self.md5}, URLS, root, download)
        dest = archive_dir if os.access(archive_dir, os.W_OK) else R.download_dir(self.name, root)
        _extract(os.path.join(archive_dir, self.archive), self.folder, self.train_files + self.test_files, dest)
        return os.path.join(dest, self.folder)


class CIFAR10(_Cifar):
    """CIFAR-10: 50,000 training / 10,000 test colour images, (N, 3, 32, 32) uint8, 10 classes."""

    name, title = "cifar-10", "CIFAR-10"
    archive, md5 = "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"
    folder = "cifar-10-batches-bin"
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    label_bytes = 1

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = True,
                 backend: str | B.Backend | None = None):
        self._load(root, train, download, backend, 0, CIFAR10_CLASSES)


class CIFAR100(_Cifar):
    """CIFAR-100: 50,000 / 10,000 colour images with ``label='fine'`` (100 classes) or ``'coarse'`` (20)."""

    name, title = "cifar-100", "CIFAR-100"
    archive, md5 = "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"
    folder = "cifar-100-binary"
    train_files = ("train.bin",)
    test_files = ("test.bin",)
    label_bytes = 2

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, label: str = "fine",
                 download: bool = True, backend: str | B.Backend | None = None):
        if label not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label must be 'fine' (100 classes) or 'coarse' (20 superclasses), "
                             f"got {label!r}")
        self.label = label
        coarse = label == "coarse"
        self._load(root, train, download, backend, 0 if coarse else 1, CIFAR100_COARSE if coarse else CIFAR100_FINE)


def _read_records(paths: list[str], record: int, backend: B.Backend) -> Any:
    """All records of ``paths`` as one native (N, record) uint8 array (a single host-to-device copy)."""
    chunks = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if not data or len(data) % record:
            raise CifarFormatError(f"{path}: {len(data)} bytes is not a whole, non-zero number of {record}-byte "
                                   f"records ({record - PIXELS} label byte(s) + {PIXELS} pixel bytes); is it the "
                                   "official binary version? Delete it and extract/download it again")
        chunks.append(data)
    payload = b"".join(chunks)
    return backend.from_buffer(payload, D.uint8, (len(payload) // record, record))


def _extract(archive: str, folder: str, members: Sequence[str], dest: str) -> None:
    """Copy ``folder/member`` out of a tar archive into ``dest/folder/`` (one pass, each file atomically)."""
    wanted = {f"{folder}/{m}": m for m in members}
    out_dir = os.path.join(dest, folder)
    os.makedirs(out_dir, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    _write_atomic(tar.extractfile(info), os.path.join(out_dir, wanted.pop(info.name)))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise CifarFormatError(f"{archive}: not a readable tar.gz archive ({err}); delete it and download it "
                               "again") from None
    if wanted:
        raise CifarFormatError(f"{archive}: lacks {', '.join(sorted(wanted))}; expected the official binary "
                               f"archive with a {folder}/ folder")


def _write_atomic(source, path: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


__all__ = ["CIFAR10", "CIFAR100", "CIFAR100_COARSE", "CIFAR100_FINE", "CIFAR10_CLASSES", "CifarFormatError"]

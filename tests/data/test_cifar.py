"""CIFAR-10/100 binary format: tiny files and archives written here in the official layout."""
from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest

import anynn
from anynn.datasets.cifar import CIFAR10, CIFAR100, CifarFormatError

C10 = "cifar-10-batches-bin"
C100 = "cifar-100-binary"


def records(labels: np.ndarray, images: np.ndarray) -> bytes:
    """Official record layout: label byte(s), then 1024 red, 1024 green, 1024 blue bytes (rows of 32)."""
    labels = labels.reshape(len(images), -1).astype(np.uint8)
    return b"".join(label.tobytes() + img.astype(np.uint8).tobytes() for label, img in zip(labels, images))


def cifar10_files(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    return {name: (rng.integers(0, 10, 2 if name != "test_batch.bin" else 3),
                   rng.integers(0, 256, (2 if name != "test_batch.bin" else 3, 3, 32, 32)))
            for name in names}


def write_files(folder, files: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, (labels, images) in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(records(labels, images))


def write_archive(path, folder: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_record_layout_is_chw(backend, isolated):
    record = bytearray([3]) + bytearray([10] * 1024 + [20] * 1024 + [30] * 1024)
    record[1 + 1 * 32 + 2] = 99  # red, row 1, column 2
    record[1 + 2048 + 31 * 32 + 0] = 77  # blue, row 31, column 0
    folder = isolated / "cifar-10" / C10
    os.makedirs(folder)
    (folder / "test_batch.bin").write_bytes(bytes(record))
    ds = CIFAR10(root=isolated, train=False, download=False)
    img = ds.images.numpy()[0]
    assert ds.images.shape == (1, 3, 32, 32) and ds.images.dtype == anynn.uint8
    assert img[0, 1, 2] == 99 and img[2, 31, 0] == 77
    assert int(img[0].sum()) == 10 * 1023 + 99 and np.all(img[1] == 20)
    assert ds.labels.tolist() == [3] and ds.classes[3] == "cat"


@pytest.mark.parametrize("train", [True, False])
def test_cifar10_from_extracted_folder(backend, isolated, train):
    files = cifar10_files()
    write_files(isolated / "data" / "cifar-10" / C10, files)
    ds = CIFAR10(root=isolated / "data", train=train, download=False)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    labels = np.concatenate([files[n][0] for n in names])
    images = np.concatenate([files[n][1] for n in names])
    assert ds.backend is backend and len(ds) == len(labels) and ds.labels.dtype == anynn.int64
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    np.testing.assert_array_equal(ds.images.numpy(), images)
    assert len(ds.classes) == 10 and ds.split == ("train" if train else "test")


def test_cifar10_extracts_the_archive_when_only_it_is_present(backend, isolated):
    files = cifar10_files(seed=1)
    members = {name: records(*files[name]) for name in files}
    members["batches.meta.txt"] = b"airplane\n"
    write_archive(isolated / "cifar-10-binary.tar.gz", C10, members)
    ds = CIFAR10(root=isolated, train=False, download=False)
    np.testing.assert_array_equal(ds.images.numpy(), files["test_batch.bin"][1])
    assert ds.folder == str(isolated / C10)
    assert sorted(os.listdir(isolated / C10)) == sorted(n for n in files)  # only the data files, no temp files
    os.remove(isolated / "cifar-10-binary.tar.gz")
    again = CIFAR10(root=isolated, train=True, download=False)  # now read from the extracted folder
    np.testing.assert_array_equal(again.labels.numpy()[:2], files["data_batch_1.bin"][0])


@pytest.mark.parametrize("label", ["fine", "coarse"])
def test_cifar100_fine_and_coarse_labels(backend, isolated, label):
    rng = np.random.default_rng(4)
    coarse, fine = rng.integers(0, 20, 4), rng.integers(0, 100, 4)
    images = rng.integers(0, 256, (4, 3, 32, 32))
    data = records(np.stack([coarse, fine], axis=1), images)
    (isolated / "cifar-100").mkdir()
    archive = isolated / "cifar-100" / "cifar-100-binary.tar.gz"
    write_archive(archive, C100, {"train.bin": data, "test.bin": data[:3074]})
    ds = CIFAR100(root=isolated, train=True, label=label, download=False)
    np.testing.assert_array_equal(ds.labels.numpy(), fine if label == "fine" else coarse)
    np.testing.assert_array_equal(ds.images.numpy(), images)
    assert len(ds.classes) == (100 if label == "fine" else 20)
    assert ds.classes[0] == ("apple" if label == "fine" else "aquatic_mammals")
    test = CIFAR100(root=isolated, train=False, label=label, download=False)
    assert len(test) == 1


def test_bad_record_size_names_the_file(isolated):
    folder = isolated / "cifar-100" / C100
    os.makedirs(folder)
    (folder / "test.bin").write_bytes(b"\0" * (3074 * 2 + 5))
    with pytest.raises(CifarFormatError, match=r"test.bin: 6153 bytes is not a whole, non-zero number of "
                                               r"3074-byte records \(2 label byte\(s\) \+ 3072 pixel bytes\)"):
        CIFAR100(root=isolated, train=False, download=False)


def test_archive_errors(isolated):
    write_archive(isolated / "cifar-10-binary.tar.gz", C10, {"test_batch.bin": b"\0" * 3073})
    with pytest.raises(CifarFormatError, match=r"cifar-10-binary.tar.gz: lacks cifar-10-batches-bin/data_batch_1"):
        CIFAR10(root=isolated, train=False, download=False)
    (isolated / "cifar-100").mkdir()
    (isolated / "cifar-100" / "cifar-100-binary.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(CifarFormatError, match="not a readable tar.gz archive"):
        CIFAR100(root=isolated, download=False)


def test_missing_data_and_bad_options(isolated):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10: neither cifar-10-batches-bin/ .* nor "
                                                r"cifar-10-binary.tar.gz was found"):
        CIFAR10(root=isolated, download=False)
    with pytest.raises(ValueError, match="label must be 'fine'"):
        CIFAR100(root=isolated, label="medium", download=False)


def test_cli_trains_and_evaluates_on_cifar100_coarse_labels(isolated, capsys):
    """`anynn train --dataset cifar100-coarse`: the 20 superclasses, from files in the official binary format."""
    import re

    from anynn.cli import main

    rng = np.random.default_rng(5)
    coarse = np.arange(64) % 20
    fine = coarse * 5 + rng.integers(0, 5, 64)
    images = rng.integers(0, 256, (64, 3, 32, 32))
    images[:, 0] = (coarse * 12)[:, None, None]  # the red plane tells the superclass: learnable in a few steps
    write_files(isolated / "cifar-100" / C100, {"train.bin": (np.stack([coarse, fine], 1), images),
                                                 "test.bin": (np.stack([coarse, fine], 1)[:20], images[:20])})
    ckpt = str(isolated / "coarse.anynn")
    argv = ["train", "--model", "mlp", "--dataset", "cifar100-coarse", "--epochs", "6", "--batch-size", "16",
            "--optimizer", "adam", "--lr", "0.003", "--no-progress", "--no-download", "--data-root", str(isolated),
            "--checkpoint", ckpt]
    assert main(argv) == 0
    trained = float(re.search(r"test accuracy ([\d.]+)%", capsys.readouterr().out).group(1))
    assert trained > 50.0  # 20 classes: chance is 5%
    assert main(["eval", "--checkpoint", ckpt, "--no-download", "--data-root", str(isolated)]) == 0
    out = capsys.readouterr().out
    assert float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) == pytest.approx(trained, abs=0.01)

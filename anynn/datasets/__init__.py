"""Classic datasets as ``ImageDataset``s on the device: MNIST, Fashion-MNIST (IDX), CIFAR-10/100 (binary).

Files are looked up in ``root=``, ``$ANYNN_DATA``, ``~/.cache/anynn`` and ``/usr/share/datasets`` (see
:mod:`anynn.datasets.root`) and downloaded with checksum verification when missing (``download=True``).
"""
from anynn.datasets.cifar import CIFAR10, CIFAR100, CifarFormatError
from anynn.datasets.download import ChecksumError, DownloadError, download_file
from anynn.datasets.idx import MNIST, FashionMNIST, IdxFormatError, read_idx

__all__ = ["CIFAR10", "CIFAR100", "ChecksumError", "CifarFormatError", "DownloadError", "FashionMNIST",
           "IdxFormatError", "MNIST", "download_file", "read_idx"]

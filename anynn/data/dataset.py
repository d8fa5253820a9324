"""Datasets: the abstract ``Dataset``, ``TensorDataset`` (tensors already on the device) and ``ImageDataset``;
PyTorch's ``IterableDataset``, ``Subset``, ``ConcatDataset`` and ``random_split``.

A ``TensorDataset`` keeps whole tensors on its backend, so ``DataLoader`` can cut a batch out of each with one
device-side ``take`` (``dataset.batch(index)``) instead of collecting items one by one on the host.
"""
from __future__ import annotations

import bisect
import itertools
import math
from typing import Any, Iterator, Sequence

from anynn import backends as B
from anynn.autograd.tensor import Tensor


class Dataset:
    """A sized collection of samples; subclasses define ``__getitem__`` and ``__len__`` (as in PyTorch)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class IterableDataset(Dataset):
    """A stream of samples (``__iter__``) rather than indexed ones; a ``DataLoader`` batches them in order."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__()")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate it; it has no samples by index")


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index: int | list[int]) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other: index ``i`` of the whole is found in the one that holds it."""

    def __init__(self, datasets: Sequence[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (it has no length or indices)")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError(f"ConcatDataset: absolute value of index {index} should not exceed dataset length "
                                 f"{len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator: Any = None) -> list[Subset]:
    """Split into non-overlapping ``Subset``s of the given lengths (or fractions of the whole summing to 1,
    the remainder given out one by one from the first split, as PyTorch does), in a random order from the
    current backend's generator, or from ``generator`` (an int seed or a ``torch.Generator``)."""
    from anynn.data.sampler import _permutation, _private_rng

    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1: {frac}")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length of the "
                         f"input dataset ({n}); give lengths that add up to {n}, or fractions that add up to 1")
    order = _permutation(n, _private_rng(generator, "random_split"))
    bounds = list(itertools.accumulate(lengths))
    return [Subset(dataset, order[stop - length:stop]) for stop, length in zip(bounds, lengths)]


class TensorDataset(Dataset):
    """Samples are the rows of equally long tensors on one backend: ``TensorDataset(images, labels)``."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor, e.g. TensorDataset(images, labels)")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected an anynn.Tensor; "
                                "wrap it with anynn.tensor(...)")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor needs a first "
                                 "(sample) axis")
        lengths = [t.shape[0] for t in tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: tensors have different first dimensions {lengths}; each must "
                             "hold one row per sample")
        backend = tensors[0].backend
        for t in tensors[1:]:
            if t.backend is not backend:
                raise ValueError(f"TensorDataset: tensors live on different backends ({backend.name} on "
                                 f"{backend.device_name} and {t.backend.name} on {t.backend.device_name}); "
                                 f"move them with .to('{backend.name}')")
        self.tensors: tuple[Tensor, ...] = tuple(tensors)

    @property
    def backend(self) -> B.Backend:
        """The backend (library and device) all tensors live on."""
        return self.tensors[0].backend

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index, ...] for t in self.tensors)

    def batch(self, index: Tensor | slice) -> tuple[Tensor, ...]:
        """The rows ``index`` (an int64 index tensor on this backend, or a slice) of every tensor, on the device.

        An index tensor costs one ``take`` per tensor; a slice is a view where the library allows it.
        """
        if isinstance(index, Tensor):
            return tuple(t[index] for t in self.tensors)
        return tuple(t[index, ...] for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{t.shape} {t.dtype.name}" for t in self.tensors)
        return f"{type(self).__name__}({shapes}, backend={self.backend.name})"


class ImageDataset(TensorDataset):
    """Labelled images on the device: ``.images`` (N, C, H, W) uint8, ``.labels`` int64, ``.classes`` names.

    Iterating a ``DataLoader`` over it gives ``(images, labels)`` batches; scale the images with
    ``anynn.data.transforms.ToFloat()`` (and ``Normalize``) as the loader's ``transform``.
    """

    def __init__(self, images: Tensor, labels: Tensor, classes: Sequence[str], *, split: str = "",
                 folder: str = ""):
        super().__init__(images, labels)
        self.classes: list[str] = list(classes)
        self.split = split
        self.folder = folder

    @property
    def images(self) -> Tensor:
        return self.tensors[0]

    @property
    def labels(self) -> Tensor:
        return self.tensors[1]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, images={self.images.shape} {self.images.dtype.name}, "
                f"classes={len(self.classes)}, folder={self.folder!r}, backend={self.backend.name})")


def as_backend(backend: str | B.Backend | None) -> B.Backend:
    """A Backend from a name ('torch'), a Backend, or None (the current backend)."""
    if backend is None:
        return B.get_backend()
    if isinstance(backend, B.Backend):
        return backend
    return B.backend_for(backend)


__all__ = ["ConcatDataset", "Dataset", "ImageDataset", "IterableDataset", "Subset", "TensorDataset", "as_backend",
           "random_split"]

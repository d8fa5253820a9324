"""``DataLoader``: batches of a dataset, shuffled on the device, optionally transformed on the device.

For a ``TensorDataset`` (whole tensors already on the device) an epoch is one device-side permutation from the
backend's generator and one ``take`` per tensor per batch: nothing goes back to the host. Other datasets are
read item by item and each batch is stacked.

Reproducible shuffling: with ``seed`` given, epoch ``k``'s order depends only on ``(seed, k)`` (on a given
backend), and it is drawn from a private generator, so it neither consumes nor disturbs the backend's global
stream (dropout, init, augmentation). Each ``iter(loader)`` uses the current epoch and then advances it; a
resumed run calls ``loader.set_epoch(k)`` before iterating to get exactly epoch ``k``'s order again. Without a
seed, orders come from the backend's global generator (reproducible under ``anynn.manual_seed``).

``sampler=`` (e.g. ``anynn.distributed.DistributedSampler``) gives the indices instead: the loader batches
them in the order the sampler yields, ``len(loader)`` counts batches of ``len(sampler)`` indices, and
``loader.set_epoch(k)`` is passed on to the sampler.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.factories import tensor
from anynn.autograd.tensor import Tensor
from anynn.data.dataset import Dataset, TensorDataset
from anynn.ops.shape import stack

Batch = Any


class DataLoader:
    """Iterate ``dataset`` in batches of ``batch_size``; ``len(loader)`` is the number of batches per epoch.

    ``transform`` (e.g. ``transforms.Compose([...])``) is applied on the device to the first field of every
    batch (the inputs), or to the whole batch when samples are single tensors.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Callable[[Tensor], Tensor] | None = None,
                 sampler: Iterable[int] | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"DataLoader: seed must be an int or None, got {seed!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler= and shuffle=True are exclusive: the sampler decides the order "
                             "(DistributedSampler shuffles by itself)")
        if sampler is not None and (not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, got "
                            f"{type(sampler).__name__}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.transform = transform
        self.sampler = sampler
        self.epoch = 0
        self._rng: dict[B.Backend, B.Backend] = {}

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s order (resume a run: ``loader.set_epoch(k)``)."""
        self.epoch = int(epoch)
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.sampler is not None:
            batches = self._sampled_batches()
        elif isinstance(self.dataset, TensorDataset):
            batches = self._tensor_batches(epoch)
        else:
            batches = self._item_batches(epoch)
        return (self._apply_transform(b) for b in batches)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch}"
                + (f", sampler={self.sampler!r})" if self.sampler is not None else ")"))

    # ------------------------------------------------------------ ordering
    def _bounds(self) -> Iterator[tuple[int, int]]:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield start, min(start + self.batch_size, n)

    def _permutation(self, backend: B.Backend, epoch: int) -> Any:
        """A native int64 permutation of the dataset's indices on ``backend``'s device."""
        n = len(self.dataset)
        if self.seed is None:
            return backend.permutation(n)
        rng = self._rng.get(backend)
        if rng is None:  # a twin of the backend: same library and device, its own generator
            rng = self._rng[backend] = type(backend)(backend.device_name)
        rng.manual_seed(epoch_seed(self.seed, epoch))
        return rng.permutation(n)

    # ------------------------------------------------------------- batches
    def _tensor_batches(self, epoch: int) -> Iterator[tuple[Tensor, ...]]:
        dataset: TensorDataset = self.dataset
        if not self.shuffle:
            for start, stop in self._bounds():
                yield dataset.batch(slice(start, stop))
            return
        backend = dataset.backend
        order = self._permutation(backend, epoch)
        for start, stop in self._bounds():
            yield dataset.batch(Tensor._make(order[start:stop], backend))

    def _sampled_batches(self) -> Iterator[Batch]:
        indices = [int(i) for i in self.sampler]
        if len(indices) != len(self.sampler):
            raise RuntimeError(f"DataLoader: the sampler yielded {len(indices)} indices but its len() is "
                               f"{len(self.sampler)}")
        if isinstance(self.dataset, TensorDataset):
            backend = self.dataset.backend
            order = backend.asarray(indices, D.int64)  # one upload per epoch
            for start, stop in self._bounds():
                yield self.dataset.batch(Tensor._make(order[start:stop], backend))
            return
        for start, stop in self._bounds():
            yield collate([self.dataset[i] for i in indices[start:stop]])

    def _item_batches(self, epoch: int) -> Iterator[Batch]:
        n = len(self.dataset)
        if self.shuffle:
            backend = B.get_backend()
            order = backend.to_numpy(self._permutation(backend, epoch)).tolist()  # one host copy per epoch
        else:
            order = range(n)
        for start, stop in self._bounds():
            yield collate([self.dataset[i] for i in order[start:stop]])

    def _apply_transform(self, batch: Batch) -> Batch:
        if self.transform is None:
            return batch
        if isinstance(batch, Tensor):
            return self.transform(batch)
        if isinstance(batch, tuple) and batch:
            return (self.transform(batch[0]),) + batch[1:]
        raise TypeError(f"DataLoader: cannot apply transform to a batch of type {type(batch).__name__}; "
                        "samples should be tensors or tuples whose first field is the input tensor")


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed for ``epoch`` of a loader seeded with ``seed`` (non-negative, below 2**63)."""
    return (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + 1) % (2 ** 63)


def collate(samples: list[Any]) -> Batch:
    """Stack a list of samples into a batch: tuples field by field, tensors along a new first axis."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_stack_field([s[k] for s in samples]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack_field([s[k] for s in samples]) for k in first}
    return _stack_field(samples)


def _stack_field(values: list[Any]) -> Tensor:
    first = values[0]
    if isinstance(first, Tensor):
        return stack(values)
    if isinstance(first, bool):
        return tensor(values, dtype=D.bool_)
    if isinstance(first, int):
        return tensor(values, dtype=D.int64)
    return tensor(values)


__all__ = ["DataLoader", "collate", "epoch_seed"]

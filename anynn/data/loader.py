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

PyTorch's other keywords work as there: ``batch_sampler=`` (lists of indices, one batch each), ``collate_fn=``
(the batch is ``collate_fn(list of samples)``; a TensorDataset is then read item by item), ``batch_size=None``
(single samples, uncollated), an ``IterableDataset`` (batched in the order it yields), ``generator=`` (its
``initial_seed()`` serves as ``seed``). ``num_workers``, ``pin_memory``, ``timeout``, ``worker_init_fn``,
``prefetch_factor`` and ``persistent_workers`` are checked as PyTorch checks them and change nothing: batches
are made in the calling process (see ``DataLoader.__init__``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.factories import tensor
from anynn.autograd.tensor import Tensor
from anynn.data.dataset import Dataset, IterableDataset, TensorDataset
from anynn.ops.shape import stack

Batch = Any


class DataLoader:
    """Iterate ``dataset`` in batches of ``batch_size``; ``len(loader)`` is the number of batches per epoch.

    ``transform`` (e.g. ``transforms.Compose([...])``) is applied on the device to the first field of every
    batch (the inputs), or to the whole batch when samples are single tensors.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Iterable[int] | None = None, batch_sampler: Iterable[list[int]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Batch] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False, pin_memory_device: str = "",
                 seed: int | None = None, transform: Callable[[Tensor], Tensor] | None = None):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int (or None for single samples), got "
                             f"{batch_size!r}")
        if generator is not None and seed is None:
            seed = _seed_of(generator)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"DataLoader: seed must be an int or None, got {seed!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler= and shuffle=True are exclusive: the sampler decides the order "
                             "(DistributedSampler shuffles by itself)")
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value is not None and (not hasattr(value, "__iter__") or not hasattr(value, "__len__")):
                raise TypeError(f"DataLoader: {name} must be an iterable of indices with a length, got "
                                f"{type(value).__name__}")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                             "sampler, and drop_last (the batch sampler decides all four)")
        if isinstance(dataset, IterableDataset) and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset decides its own order; shuffle, sampler and "
                             "batch_sampler are not allowed with it")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative, got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing. let "
                             "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers == 0 and persistent_workers:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.transform = transform
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        # Accepted so PyTorch scripts run unchanged; batches are made in the calling process (a TensorDataset
        # batch is one device-side take that worker processes could not speed up), so no worker starts and
        # worker_init_fn is not called, and nothing needs pinning: the data is read onto its device directly.
        self.num_workers, self.pin_memory, self.timeout = num_workers, bool(pin_memory), timeout
        self.worker_init_fn, self.prefetch_factor = worker_init_fn, prefetch_factor
        self.persistent_workers, self.pin_memory_device = persistent_workers, pin_memory_device
        self.epoch = 0
        self._rng: dict[B.Backend, B.Backend] = {}

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s order (resume a run: ``loader.set_epoch(k)``)."""
        self.epoch = int(epoch)
        for sampler in (self.sampler, self.batch_sampler, getattr(self.batch_sampler, "sampler", None)):
            if sampler is not None and hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if isinstance(self.dataset, IterableDataset):
            batches = self._stream_batches()
        elif self.batch_sampler is not None:
            batches = (self._fetch([int(i) for i in indices]) for indices in self.batch_sampler)
        elif self.batch_size is None:
            batches = self._single_samples(epoch)
        elif self.sampler is not None:
            batches = self._sampled_batches()
        elif self._device_batches:
            batches = self._tensor_batches(epoch)
        else:
            batches = self._item_batches(epoch)
        return (self._apply_transform(b) for b in batches)

    @property
    def _device_batches(self) -> bool:
        """Whether batches are cut on the device (a TensorDataset with the default collation)."""
        return isinstance(self.dataset, TensorDataset) and self.collate_fn is None

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
        if self._device_batches:
            backend = self.dataset.backend
            order = backend.asarray(indices, D.int64)  # one upload per epoch
            for start, stop in self._bounds():
                yield self.dataset.batch(Tensor._make(order[start:stop], backend))
            return
        for start, stop in self._bounds():
            yield self._fetch(indices[start:stop])

    def _item_batches(self, epoch: int) -> Iterator[Batch]:
        n = len(self.dataset)
        if self.shuffle:
            backend = B.get_backend()
            order = backend.to_numpy(self._permutation(backend, epoch)).tolist()  # one host copy per epoch
        else:
            order = range(n)
        for start, stop in self._bounds():
            yield self._fetch(order[start:stop])

    def _fetch(self, indices: list[int]) -> Batch:
        """The batch of samples ``indices``: one device-side take for a TensorDataset, else collated items."""
        if self._device_batches:
            backend = self.dataset.backend
            return self.dataset.batch(Tensor._make(backend.asarray(indices, D.int64), backend))
        return (self.collate_fn or collate)([self.dataset[i] for i in indices])

    def _single_samples(self, epoch: int) -> Iterator[Any]:
        """``batch_size=None``: the samples one by one, uncollated (PyTorch's automatic batching off)."""
        if self.sampler is not None:
            order: Iterable[int] = [int(i) for i in self.sampler]
        elif self.shuffle:
            backend = B.get_backend()
            order = backend.to_numpy(self._permutation(backend, epoch)).tolist()
        else:
            order = range(len(self.dataset))
        for i in order:
            yield self.dataset[i] if self.collate_fn is None else self.collate_fn(self.dataset[i])

    def _stream_batches(self) -> Iterator[Batch]:
        """An IterableDataset's samples in the order it yields them, ``batch_size`` at a time."""
        if self.batch_size is None:
            yield from (s if self.collate_fn is None else self.collate_fn(s) for s in self.dataset)
            return
        batch: list[Any] = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield (self.collate_fn or collate)(batch)
                batch = []
        if batch and not self.drop_last:
            yield (self.collate_fn or collate)(batch)

    def _apply_transform(self, batch: Batch) -> Batch:
        if self.transform is None:
            return batch
        if isinstance(batch, Tensor):
            return self.transform(batch)
        if isinstance(batch, tuple) and batch:
            return (self.transform(batch[0]),) + batch[1:]
        raise TypeError(f"DataLoader: cannot apply transform to a batch of type {type(batch).__name__}; "
                        "samples should be tensors or tuples whose first field is the input tensor")


def get_worker_info() -> None:
    """PyTorch's question "which loader worker is this?": None, the answer in the main process, which is where
    every batch is made here."""
    return None


def _seed_of(generator: Any) -> int:
    """The seed a ``generator=`` stands for: an int, or a ``torch.Generator``'s ``initial_seed()``."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        return generator
    if callable(getattr(generator, "initial_seed", None)):
        return int(generator.initial_seed())
    raise TypeError(f"DataLoader: generator must be an int seed or have initial_seed() (a torch.Generator), got "
                    f"{type(generator).__name__}")


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


default_collate = collate

__all__ = ["DataLoader", "collate", "default_collate", "epoch_seed", "get_worker_info"]

"""Samplers: which indices a ``DataLoader`` reads, in which order (PyTorch's classes and semantics).

``SequentialSampler``, ``RandomSampler``, ``SubsetRandomSampler``, ``WeightedRandomSampler`` and
``BatchSampler`` follow ``torch.utils.data``. Their random draws come from the current backend's generator
(reproducible under ``anynn.manual_seed``) or, with ``generator=`` (an int seed, or a ``torch.Generator`` whose
``initial_seed()`` is used), from a private Python generator that advances from epoch to epoch and touches no
other stream.

``DistributedSampler``: each rank's share of a dataset's indices, epoch by epoch (PyTorch's semantics).

Epoch ``e``'s order is a permutation drawn from ``(seed, e)`` alone, the same on every rank (pure Python: it
does not depend on the backend either). With ``pad`` (the default) it is extended by wrapping around to a
multiple of the world size, or cut down to one with ``drop_last``; rank ``r`` takes ``order[r::world]``. So
batch ``k`` of every rank together is exactly batch ``k`` of one process reading the same order with a batch
``world`` times larger (``DistributedSampler(..., num_replicas=1)``): a distributed run sees the same global
batches as a single-process one.

Each ``iter(sampler)`` uses the current epoch and then advances it, like ``DataLoader`` (so an epoch loop
that forgets ``set_epoch`` still gets a new order every epoch); ``set_epoch(k)`` picks epoch ``k`` (resume).

For evaluation pass ``pad=False``: shards are then disjoint with sizes differing by at most one, so no sample
is counted twice (padding would inflate accuracy); all-reduce the sums of loss and correct answers at the end.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random
from typing import Any, Iterable, Iterator, Sequence

from anynn import backends as B


def _epoch_seed(seed: int, epoch: int) -> int:
    from anynn.data.loader import epoch_seed
    return epoch_seed(seed, epoch)


class Sampler:
    """Base class: an iterable of dataset indices (``__iter__``), usually with a length (``__len__``)."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__()")


def _private_rng(generator: Any, owner: str) -> random.Random | None:
    """A Python generator from ``generator=`` (an int seed or an object with ``initial_seed()``), or None."""
    if generator is None:
        return None
    if isinstance(generator, int) and not isinstance(generator, bool):
        return random.Random(generator)
    if callable(getattr(generator, "initial_seed", None)):
        return random.Random(int(generator.initial_seed()))
    raise TypeError(f"{owner}: generator must be None, an int seed or a generator with initial_seed() (a "
                    f"torch.Generator), got {type(generator).__name__}")


def _permutation(n: int, rng: random.Random | None) -> list[int]:
    """A random order of range(n): from ``rng``, or from the current backend's generator."""
    if rng is not None:
        order = list(range(n))
        rng.shuffle(order)
        return order
    backend = B.get_backend()
    return [int(i) for i in backend.to_numpy(backend.permutation(n)).tolist()]


def _uniforms(count: int, rng: random.Random | None) -> list[float]:
    """``count`` uniform draws in [0, 1): from ``rng``, or from the current backend's generator."""
    if rng is not None:
        return [rng.random() for _ in range(count)]
    from anynn import dtypes as D

    backend = B.get_backend()
    return [float(u) for u in backend.to_numpy(backend.rand((count,), D.float64)).tolist()]


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices each epoch, or ``num_samples`` draws with ``replacement``."""

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got replacement={replacement}")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")
        self._rng = _private_rng(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return iter([min(int(u * n), n - 1) for u in _uniforms(count, self._rng)])
        order: list[int] = []
        while len(order) < count:  # num_samples beyond n: whole permutations one after another (as PyTorch)
            order += _permutation(n, self._rng)
        return iter(order[:count])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self._rng = _private_rng(generator, "SubsetRandomSampler")

    def __iter__(self) -> Iterator[int]:
        return iter([self.indices[i] for i in _permutation(len(self.indices), self._rng)])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (class balancing), with or
    without replacement. Without replacement it is successive sampling, drawn in one pass by the keys
    ``u ** (1 / w)`` (Efraimidis and Spirakis, 2006): the largest ``num_samples`` keys win."""

    def __init__(self, weights: Sequence[float] | Any, num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        values = weights.tolist() if hasattr(weights, "tolist") else list(weights)
        self.weights = [float(w) for w in values]
        if not self.weights or any(not w >= 0 or math.isinf(w) for w in self.weights) or not any(self.weights):
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero, got "
                             f"{self.weights[:8]}{'...' if len(self.weights) > 8 else ''}")
        if not replacement and num_samples > sum(w > 0 for w in self.weights):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                               f"{sum(w > 0 for w in self.weights)} indices of non-zero weight")
        self.num_samples, self.replacement = num_samples, replacement
        self._rng = _private_rng(generator, "WeightedRandomSampler")

    def __iter__(self) -> Iterator[int]:
        if self.replacement:
            total = list(itertools.accumulate(self.weights))
            last = len(total) - 1
            return iter([min(bisect.bisect_right(total, u * total[-1]), last)
                         for u in _uniforms(self.num_samples, self._rng)])
        uniforms = _uniforms(len(self.weights), self._rng)
        keys = [(1.0 - u) ** (1.0 / w) if w > 0 else -1.0 for u, w in zip(uniforms, self.weights)]
        return iter(sorted(range(len(keys)), key=keys.__getitem__, reverse=True)[:self.num_samples])

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless
    ``drop_last``); a ``DataLoader(batch_sampler=...)`` reads one batch per list."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """Indices of ``dataset`` (or of ``range(dataset)`` for an int) for rank ``rank`` of ``num_replicas``
    (default: ``anynn.distributed``'s rank and world size)."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, pad: bool = True):
        if num_replicas is None or rank is None:
            from anynn import distributed as dist
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas}), got {rank!r}")
        if not isinstance(seed, int):
            raise TypeError(f"DistributedSampler: seed must be an int (the same on every rank), got {seed!r}")
        self.size = dataset if isinstance(dataset, int) else len(dataset)
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.pad = bool(shuffle), seed, bool(drop_last), bool(pad)
        self.epoch = 0
        if self.drop_last:
            self.total = (self.size // num_replicas) * num_replicas
        elif self.pad:
            self.total = -(-self.size // num_replicas) * num_replicas
        else:
            self.total = self.size

    def __len__(self) -> int:
        """How many indices this rank gets per epoch."""
        if self.pad or self.drop_last:
            return self.total // self.num_replicas
        return len(range(self.rank, self.total, self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s order (call it with the same value on every rank)."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> list[int]:
        """Epoch ``epoch``'s global order, padded or cut to ``total`` (the same list on every rank)."""
        order = list(range(self.size))
        if self.shuffle:
            random.Random(_epoch_seed(self.seed, epoch)).shuffle(order)
        if self.total <= len(order):
            return order[:self.total]
        if not order:
            return []
        while len(order) < self.total:  # wrap around (more than once if the dataset is smaller than the world)
            order += order[:self.total - len(order)]
        return order

    def indices(self, epoch: int) -> list[int]:
        return self.order(epoch)[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(self.indices(epoch))

    def __repr__(self) -> str:
        return (f"DistributedSampler(size={self.size}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, pad={self.pad}, "
                f"epoch={self.epoch})")


__all__ = ["BatchSampler", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]

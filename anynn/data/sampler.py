"""``DistributedSampler``: each rank's share of a dataset's indices, epoch by epoch (PyTorch's semantics).

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

import random
from typing import Iterator


def _epoch_seed(seed: int, epoch: int) -> int:
    from anynn.data.loader import epoch_seed
    return epoch_seed(seed, epoch)


class DistributedSampler:
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


__all__ = ["DistributedSampler"]

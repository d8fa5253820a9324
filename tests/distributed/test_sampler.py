"""DistributedSampler and DataLoader(sampler=...): pure Python, no MPI needed."""
from __future__ import annotations

import pytest

import anynn
from anynn.data import DataLoader, DistributedSampler, TensorDataset


def shards(size, world, **kw):
    return [DistributedSampler(size, num_replicas=world, rank=r, **kw) for r in range(world)]


def test_shards_are_disjoint_and_cover_the_dataset():
    parts = [list(s) for s in shards(12, 3, seed=1)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert sorted(sum(parts, [])) == list(range(12))


def test_padding_wraps_around_and_drop_last_cuts():
    padded = [list(s) for s in shards(10, 4, seed=2)]
    assert [len(p) for p in padded] == [3, 3, 3, 3]
    flat = sum(padded, [])
    assert set(flat) == set(range(10)) and len(flat) == 12
    dropped = [list(s) for s in shards(10, 4, seed=2, drop_last=True)]
    assert [len(p) for p in dropped] == [2, 2, 2, 2]
    assert len(set(sum(dropped, []))) == 8
    tiny = [list(s) for s in shards(2, 5, shuffle=False)]  # smaller than the world: wraps more than once
    assert tiny == [[0], [1], [0], [1], [0]]


def test_unpadded_shards_for_evaluation_count_every_sample_once():
    parts = shards(10, 4, pad=False, shuffle=False)
    assert [len(s) for s in parts] == [3, 3, 2, 2]
    assert sorted(sum((list(s) for s in parts), [])) == list(range(10))


def test_same_order_on_every_rank_new_order_every_epoch_and_set_epoch():
    a, b = shards(20, 2, seed=7)
    first = DistributedSampler(20, num_replicas=1, rank=0, seed=7).order(0)
    assert list(a) == first[0::2] and list(b) == first[1::2]
    second = list(a)  # each iteration advances the epoch
    assert second != first[0::2] and sorted(second + list(b)) == list(range(20))
    a.set_epoch(0)
    assert list(a) == first[0::2]
    assert DistributedSampler(20, num_replicas=2, rank=0, seed=8).order(0) != first


def test_rank_batches_together_are_the_single_process_batch(backend):
    data = TensorDataset(anynn.arange(24))
    world, local = 3, 2
    loaders = [DataLoader(data, batch_size=local, sampler=s) for s in shards(24, world, seed=3)]
    single = DataLoader(data, batch_size=local * world, sampler=DistributedSampler(24, 1, 0, seed=3))
    assert len(single) == len(loaders[0]) == 4
    for together, *parts in zip(single, *loaders):
        assert sorted(together[0].tolist()) == sorted(sum((p[0].tolist() for p in parts), []))


def test_loader_set_epoch_reaches_the_sampler(backend):
    sampler = DistributedSampler(8, 2, 1, seed=0)
    loader = DataLoader(TensorDataset(anynn.arange(8)), batch_size=4, sampler=sampler)
    loader.set_epoch(5)
    assert sampler.epoch == 5
    assert next(iter(loader))[0].tolist() == sampler.indices(5)


def test_item_dataset_with_a_sampler():
    class Squares(anynn.data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return anynn.tensor(float(i * i))

    batches = list(DataLoader(Squares(), batch_size=2, sampler=DistributedSampler(6, 2, 0, shuffle=False)))
    assert [b.tolist() for b in batches] == [[0.0, 4.0], [16.0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="exclusive"):
        DataLoader(TensorDataset(anynn.arange(4)), shuffle=True, sampler=DistributedSampler(4, 1, 0))
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(4, 2, 2)
    with pytest.raises(TypeError, match="the same on every rank"):
        DistributedSampler(4, 2, 0, seed=None)

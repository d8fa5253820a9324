"""DataLoader and TensorDataset: coverage of an epoch, drop_last, reproducible shuffling, data on the device."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.data import DataLoader, Dataset, TensorDataset, collate
from anynn.data.transforms import ToFloat


def _dataset(n: int = 10) -> TensorDataset:
    rng = np.random.default_rng(0)
    x = anynn.tensor(rng.standard_normal((n, 3)), dtype=anynn.float32)
    y = anynn.tensor(np.arange(n), dtype=anynn.int64)
    return TensorDataset(x, y)


def _order(loader: DataLoader) -> list[int]:
    return [i for _, y in loader for i in y.tolist()]


def test_tensor_dataset_items_and_batch(backend):
    ds = _dataset(6)
    assert len(ds) == 6 and ds.backend is backend
    x, y = ds[4]
    assert x.shape == (3,) and int(y) == 4
    xb, yb = ds.batch(anynn.tensor([5, 0, 2], dtype=anynn.int64))
    assert yb.tolist() == [5, 0, 2]
    np.testing.assert_array_equal(xb.numpy(), ds.tensors[0].numpy()[[5, 0, 2]])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n,batch_size", [(10, 3), (9, 3), (4, 8)])
def test_epoch_covers_dataset_exactly_once(backend, shuffle, n, batch_size):
    loader = DataLoader(_dataset(n), batch_size=batch_size, shuffle=shuffle, seed=1)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)
    sizes = [y.shape[0] for _, y in batches]
    assert sizes[:-1] == [batch_size] * (len(sizes) - 1) and sum(sizes) == n
    order = _order(loader)
    assert sorted(order) == list(range(n))
    if not shuffle:
        assert order == list(range(n))


def test_batch_rows_stay_paired(backend):
    ds = _dataset(7)
    for x, y in DataLoader(ds, batch_size=3, shuffle=True, seed=3):
        np.testing.assert_array_equal(x.numpy(), ds.tensors[0].numpy()[y.numpy()])


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last(backend, shuffle):
    loader = DataLoader(_dataset(10), batch_size=4, shuffle=shuffle, drop_last=True, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    assert all(y.shape == (4,) for _, y in batches)
    assert len(set(_order(loader))) == 8


def test_same_seed_same_order_and_set_epoch_replays(backend):
    n = 50
    a = DataLoader(_dataset(n), batch_size=7, shuffle=True, seed=123)
    b = DataLoader(_dataset(n), batch_size=7, shuffle=True, seed=123)
    epochs_a = [_order(a) for _ in range(3)]
    epochs_b = [_order(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    resumed = DataLoader(_dataset(n), batch_size=7, shuffle=True, seed=123)
    resumed.set_epoch(2)
    assert _order(resumed) == epochs_a[2]
    assert resumed.epoch == 3
    other = DataLoader(_dataset(n), batch_size=7, shuffle=True, seed=124)
    assert _order(other) != epochs_a[0]


def test_seeded_shuffle_leaves_global_generator_alone(backend):
    loader = DataLoader(_dataset(20), batch_size=5, shuffle=True, seed=9)
    anynn.manual_seed(5)
    expected = anynn.rand(4).numpy()
    anynn.manual_seed(5)
    _order(loader)
    np.testing.assert_array_equal(anynn.rand(4).numpy(), expected)


def test_unseeded_shuffle_follows_manual_seed(backend):
    loader = DataLoader(_dataset(30), batch_size=4, shuffle=True)
    anynn.manual_seed(11)
    first = _order(loader)
    anynn.manual_seed(11)
    assert _order(loader) == first


def test_batches_stay_on_the_device_without_host_copies(backend, monkeypatch):
    ds = _dataset(12)

    def no_host_copy(array):
        raise AssertionError("the TensorDataset path copied data to the host")

    monkeypatch.setattr(backend, "to_numpy", no_host_copy)
    for shuffle in (False, True):
        loader = DataLoader(ds, batch_size=5, shuffle=shuffle, seed=0, transform=ToFloat(anynn.float64))
        for x, y in loader:
            assert isinstance(x, anynn.Tensor) and x.backend is backend and backend.is_native(x.array)
            assert y.backend is backend and backend.is_native(y.array)
            assert x.dtype == anynn.float64 and y.dtype == anynn.int64


class _Squares(Dataset):
    """A generic (non-tensor) dataset: item i is (a tensor, an int label, a float)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return anynn.tensor([float(i), float(i * i)], dtype=anynn.float64), i, 0.5 * i


def test_generic_dataset_is_collated(backend):
    loader = DataLoader(_Squares(7), batch_size=3, shuffle=True, seed=2)
    seen = []
    for x, label, half in loader:
        assert x.backend is backend and x.shape[1:] == (2,)
        assert label.dtype == anynn.int64 and half.dtype == anynn.float32
        np.testing.assert_array_equal(x.numpy()[:, 1], label.numpy() ** 2)
        np.testing.assert_allclose(half.numpy(), 0.5 * label.numpy())
        seen += label.tolist()
    assert sorted(seen) == list(range(7)) and len(loader) == 3


def test_generic_and_tensor_datasets_shuffle_alike(backend):
    generic = [y for _, y, _ in (b for b in DataLoader(_Squares(9), batch_size=4, shuffle=True, seed=4))]
    tensors = DataLoader(_dataset(9), batch_size=4, shuffle=True, seed=4)
    assert [i for y in generic for i in y.tolist()] == _order(tensors)


def test_transform_applies_to_inputs_only(backend):
    ds = TensorDataset(anynn.tensor(np.full((4, 2), 255, dtype=np.uint8)), anynn.tensor([0, 1, 2, 3]))
    x, y = next(iter(DataLoader(ds, batch_size=4, transform=ToFloat())))
    assert x.dtype == anynn.float32 and float(x.sum()) == 8.0
    assert y.tolist() == [0, 1, 2, 3]


def test_collate_single_tensors_and_dicts(backend):
    t = [anynn.tensor([1.0, 2.0]), anynn.tensor([3.0, 4.0])]
    assert collate(t).shape == (2, 2)
    out = collate([{"a": 1, "b": t[0]}, {"a": 2, "b": t[1]}])
    assert out["a"].tolist() == [1, 2] and out["b"].shape == (2, 2)


def test_errors_are_clear(backend):
    x = anynn.tensor(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"different first dimensions \[3, 4\]"):
        TensorDataset(x, anynn.tensor(np.zeros(4)))
    with pytest.raises(TypeError, match="anynn.tensor"):
        TensorDataset(x, np.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(TensorDataset(x), batch_size=0)
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


def test_tensor_dataset_rejects_mixed_backends():
    avail = anynn.available()
    if len(avail) < 2:
        pytest.skip(f"needs two backends, only {avail} available here")
    a = anynn.tensor([1.0, 2.0], backend=avail[0])
    b = anynn.tensor([1.0, 2.0], backend=avail[1])
    with pytest.raises(ValueError, match="different backends"):
        TensorDataset(a, b)


# ------------------------------------------------------------- PyTorch's names and keywords (anynn.utils.data)
def _torch_data():
    from helpers import torch_or_skip

    return torch_or_skip().utils.data


def test_utils_data_exports_torch_names():
    from anynn.utils import data as ours

    theirs = _torch_data()
    for name in ours.__all__:
        assert hasattr(theirs, name), name
    assert ours.DataLoader is DataLoader and anynn.utils.data.TensorDataset is TensorDataset


def test_sequential_and_batch_samplers_match_torch(backend):
    from anynn.utils import data as ours

    theirs = _torch_data()
    for drop_last in (False, True):
        mine = ours.BatchSampler(ours.SequentialSampler(range(10)), 3, drop_last)
        ref = theirs.BatchSampler(theirs.SequentialSampler(range(10)), 3, drop_last)
        assert list(mine) == list(ref) and len(mine) == len(ref)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        ours.BatchSampler(range(3), 0, False)


@pytest.mark.parametrize("replacement,num_samples", [(False, None), (False, 25), (True, 7)])
def test_random_sampler_covers_like_torch(backend, replacement, num_samples):
    from anynn.utils import data as ours

    theirs = _torch_data()
    mine = list(ours.RandomSampler(range(10), replacement, num_samples))
    ref = list(theirs.RandomSampler(range(10), replacement, num_samples))
    assert len(mine) == len(ref) and all(0 <= i < 10 for i in mine)
    if not replacement:  # whole permutations one after another, as torch
        for start in range(0, len(mine) - len(mine) % 10, 10):
            assert sorted(mine[start:start + 10]) == list(range(10))
        assert len(set(mine[len(mine) - len(mine) % 10:])) == len(mine) % 10


def test_samplers_follow_manual_seed_or_their_generator(backend):
    from anynn.utils import data as ours

    anynn.manual_seed(5)
    a = list(ours.RandomSampler(range(20)))
    anynn.manual_seed(5)
    assert list(ours.RandomSampler(range(20))) == a and sorted(a) == list(range(20))
    torch = pytest.importorskip("torch")
    seeded = ours.SubsetRandomSampler([3, 5, 7, 9], generator=torch.Generator().manual_seed(1))
    again = ours.SubsetRandomSampler([3, 5, 7, 9], generator=1)
    first = list(seeded)
    assert first == list(again) and sorted(first) == [3, 5, 7, 9]
    assert [list(seeded) for _ in range(3)] == [list(again) for _ in range(3)]  # advances epoch to epoch


def test_weighted_sampler_draws_in_proportion(backend):
    from anynn.utils import data as ours

    weights = [0.0, 1.0, 3.0]
    draws = list(ours.WeightedRandomSampler(weights, 4000, generator=0))
    assert 0 not in draws and abs(draws.count(2) / 4000 - 0.75) < 0.03
    unique = list(ours.WeightedRandomSampler([1.0, 0.0, 5.0, 2.0], 3, replacement=False, generator=0))
    assert sorted(unique) == [0, 2, 3]
    first = [next(iter(ours.WeightedRandomSampler([1.0, 100.0], 1, replacement=False, generator=s)))
             for s in range(200)]
    assert first.count(1) > 190  # the heavy index comes first almost always (probability 100/101)
    with pytest.raises(RuntimeError, match="without replacement"):
        ours.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="weights must be finite"):
        ours.WeightedRandomSampler([0.0, 0.0], 2)


def test_subset_concat_and_random_split_match_torch(backend):
    from anynn.utils import data as ours

    theirs = _torch_data()
    items = list(range(10, 20))
    assert [ours.Subset(items, [4, 1])[i] for i in range(2)] == [theirs.Subset(items, [4, 1])[i] for i in range(2)]
    mine, ref = ours.ConcatDataset([items[:3], items[3:]]), theirs.ConcatDataset([items[:3], items[3:]])
    assert len(mine) == len(ref) and [mine[i] for i in range(-10, 10)] == [ref[i] for i in range(-10, 10)]
    for lengths in ([3, 7], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33]):
        parts = ours.random_split(range(10), lengths, generator=0)
        assert [len(p) for p in parts] == [len(p) for p in theirs.random_split(range(10), lengths)]
        assert sorted(i for p in parts for i in (p[k] for k in range(len(p)))) == list(range(10))
    with pytest.raises(ValueError, match="does not equal the length"):
        ours.random_split(range(10), [3, 3])


def test_loader_keywords_and_their_checks_match_torch(backend):
    theirs = _torch_data()
    ds = _dataset(10)
    loader = DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True, drop_last=True, timeout=5,
                        worker_init_fn=lambda i: None, prefetch_factor=2, persistent_workers=True)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    bad = [dict(num_workers=-1), dict(num_workers=0, prefetch_factor=2), dict(persistent_workers=True),
           dict(batch_size=2, batch_sampler=[[0]]), dict(shuffle=True, batch_sampler=[[0]]),
           dict(drop_last=True, batch_sampler=[[0]]), dict(shuffle=True, sampler=[0, 1])]
    for kwargs in bad:
        with pytest.raises(ValueError):
            theirs.DataLoader(range(10), **kwargs)
        with pytest.raises(ValueError):
            DataLoader(ds, **kwargs)


def test_batch_sampler_collate_fn_and_unbatched_loading(backend):
    from anynn.utils import data as ours

    ds = _dataset(7)
    batches = DataLoader(ds, batch_sampler=ours.BatchSampler(ours.SequentialSampler(ds), 3, False))
    assert [y.tolist() for _, y in batches] == [[0, 1, 2], [3, 4, 5], [6]] and len(batches) == 3
    listed = DataLoader(ds, batch_sampler=[[6, 0], [3]])
    assert [y.tolist() for _, y in listed] == [[6, 0], [3]]
    labels = DataLoader(ds, batch_size=3, collate_fn=lambda samples: [int(y) for _, y in samples])
    assert list(labels) == [[0, 1, 2], [3, 4, 5], [6]]
    single = list(DataLoader(_Squares(3), batch_size=None))
    assert len(single) == 3 and [s[1] for s in single] == [0, 1, 2] and single[2][0].tolist() == [2.0, 4.0]
    assert len(DataLoader(_Squares(3), batch_size=None)) == 3


class _Count(anynn.utils.data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_iterable_dataset_batches_in_order_like_torch(backend):
    theirs = _torch_data()

    class TorchCount(theirs.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    for drop_last in (False, True):
        mine = [b.tolist() for b in DataLoader(_Count(7), batch_size=3, drop_last=drop_last)]
        ref = [b.tolist() for b in theirs.DataLoader(TorchCount(), batch_size=3, drop_last=drop_last)]
        assert mine == ref
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(_Count(3), shuffle=True)


def test_generator_keyword_seeds_the_shuffle(backend):
    torch = pytest.importorskip("torch")
    a = DataLoader(_dataset(12), batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(7))
    b = DataLoader(_dataset(12), batch_size=5, shuffle=True, seed=7)
    assert _order(a) == _order(b) and sorted(_order(a)) == list(range(12))

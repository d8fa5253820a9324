"""Creating tensors: anynn.tensor from anything, the factories, default dtype and seeded random numbers."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn import backends as B
from helpers import assert_close

F32, F64, I64 = anynn.float32, anynn.float64, anynn.int64


@pytest.fixture
def default_dtype():
    """Restore the default float dtype after a test that changes it."""
    saved = anynn.get_default_dtype()
    yield
    anynn.set_default_dtype(saved)


def test_tensor_from_python_data(backend):
    cases = [(1.5, F32, ()), (3, I64, ()), (True, anynn.bool_, ()), ([1.0, 2], F32, (2,)),
             ([[1, 2], [3, 4]], I64, (2, 2)), ([True, False], anynn.bool_, (2,)), ([], F32, (0,)),
             ([[1, 2.5]], F32, (1, 2)), ((1, 2), I64, (2,))]
    for data, dtype, shape in cases:
        t = anynn.tensor(data)
        assert t.backend is backend and backend.is_native(t.array), data
        assert t.dtype is dtype and t.shape == shape, (data, t.dtype, t.shape)
    assert anynn.tensor([1, 2], dtype=F64).dtype is F64
    assert anynn.tensor([1, 2], dtype="float32").dtype is F32


def test_tensor_from_numpy_copies_and_keeps_dtype(backend):
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_):
        host = np.arange(6).reshape(2, 3).astype(dtype)
        t = anynn.tensor(host)
        assert t.dtype is anynn.dtypes.as_dtype(dtype) and t.shape == (2, 3)
        assert_close(t, host)
    host = np.arange(4.0)
    t = anynn.tensor(host)
    host[0] = 99.0
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0], "anynn.tensor must copy"
    assert anynn.tensor(np.arange(4.0)[::-1]).tolist() == [3.0, 2.0, 1.0, 0.0]
    assert anynn.tensor(np.arange(4.0), dtype=F32).dtype is F32


def test_tensor_from_torch_and_strict_arrays(backend):
    torch = pytest.importorskip("torch")
    source = torch.arange(6, dtype=torch.float64).reshape(2, 3).requires_grad_()
    t = anynn.tensor(source)
    assert t.backend is backend and backend.is_native(t.array) and t.dtype is F64
    assert not getattr(t.array, "requires_grad", False), "anynn arrays must never record torch's own autograd"
    assert_close(t, source.detach().numpy())
    xp = pytest.importorskip("array_api_strict")
    s = anynn.tensor(xp.asarray([[1.0, 2.0]], dtype=xp.float32))
    assert s.backend is backend and s.dtype is F32 and s.tolist() == [[1.0, 2.0]]


def test_tensor_from_another_backends_tensor(backend):
    for name in anynn.available():
        other = anynn.tensor([1.0, 2.0], backend=name, requires_grad=True)
        t = anynn.tensor(other)
        assert t.backend is backend and t.dtype is F32 and not t.requires_grad
        assert t.tolist() == [1.0, 2.0]


def test_tensor_on_an_explicit_backend(backend):
    t = anynn.tensor([1.0], backend="numpy")
    assert t.backend is B.backend_for("numpy") and t.device == "cpu"
    assert anynn.zeros(2, backend="numpy").backend is B.backend_for("numpy")
    assert anynn.zeros(2, device=backend.device_name).backend is backend


def test_zeros_ones_full(backend):
    for make, value in ((anynn.zeros, 0.0), (anynn.ones, 1.0)):
        for t in (make(2, 3), make((2, 3)), make([2, 3])):
            assert t.shape == (2, 3) and t.dtype is F32 and t.backend is backend
            assert_close(t, np.full((2, 3), value))
        assert make(4, dtype=I64).dtype is I64
        assert make(2, requires_grad=True).requires_grad
        assert make(()).shape == ()
    f = anynn.full((2, 2), 1.5)
    assert f.dtype is F32 and f.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert anynn.full((2,), 7).dtype is I64 and anynn.full(3, True).dtype is anynn.bool_
    assert anynn.full((2,), 2, dtype=F64).dtype is F64


def test_arange_linspace_eye(backend):
    a = anynn.arange(5)
    assert a.dtype is I64 and a.tolist() == [0, 1, 2, 3, 4]
    assert anynn.arange(1, 7, 2).tolist() == [1, 3, 5]
    b = anynn.arange(0.0, 1.0, 0.25)
    assert b.dtype is F32 and b.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert anynn.arange(3, dtype=F64).dtype is F64
    assert_close(anynn.linspace(0, 1, 5), np.linspace(0, 1, 5), rtol=1e-7)
    assert anynn.linspace(0, 1, 5).dtype is F32
    assert_close(anynn.eye(3), np.eye(3))
    assert anynn.eye(2, 3).shape == (2, 3)


def test_like_factories(backend):
    x = anynn.tensor([[1.0, 2.0, 3.0]], dtype=F64)
    for make, value in ((anynn.zeros_like, 0.0), (anynn.ones_like, 1.0)):
        t = make(x)
        assert t.shape == (1, 3) and t.dtype is F64 and t.backend is backend
        assert_close(t, np.full((1, 3), value))
        assert make(x, dtype=F32).dtype is F32
        assert make(x, requires_grad=True).requires_grad
    assert anynn.full_like(x, 2.5).tolist() == [[2.5, 2.5, 2.5]]


def test_random_factories(backend):
    n = anynn.randn(2, 3)
    u = anynn.rand((4,))
    assert n.shape == (2, 3) and n.dtype is F32 and n.backend is backend
    assert u.shape == (4,) and u.dtype is F32
    assert anynn.randn(3, dtype=F64).dtype is F64 and anynn.randn(3, requires_grad=True).requires_grad
    big = anynn.rand(4000).numpy()
    assert 0.0 <= big.min() and big.max() < 1.0 and abs(big.mean() - 0.5) < 0.03
    normal = anynn.randn(4000, dtype=F64).numpy()
    assert abs(normal.mean()) < 0.06 and abs(normal.std() - 1.0) < 0.06
    r = anynn.randint(2, 5, (100,))
    assert r.dtype is I64 and set(r.tolist()) == {2, 3, 4}
    p = anynn.randperm(10)
    assert p.dtype is I64 and sorted(p.tolist()) == list(range(10))


def test_manual_seed_reproducible_per_backend(backend):
    def draw():
        return (anynn.randn(5).numpy(), anynn.rand(3, dtype=F64).numpy(), anynn.randint(0, 100, (4,)).numpy(),
                anynn.randperm(6).numpy())

    anynn.manual_seed(1234)
    first = draw()
    anynn.manual_seed(1234)
    second = draw()
    anynn.manual_seed(4321)
    third = draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], third[0])


def test_rng_state_round_trip(backend):
    try:
        state = backend.get_rng_state()
    except NotImplementedError as err:  # CuPy's RandomState cannot export its state
        pytest.skip(str(err))
    a = anynn.randn(4).numpy()
    backend.set_rng_state(state)
    np.testing.assert_array_equal(anynn.randn(4).numpy(), a)


def test_default_dtype(backend, default_dtype):
    assert anynn.get_default_dtype() is F32
    anynn.set_default_dtype(anynn.float64)
    assert anynn.get_default_dtype() is F64
    for t in (anynn.tensor([1.0]), anynn.tensor(2.5), anynn.zeros(2), anynn.ones(2), anynn.full((1,), 0.5),
              anynn.randn(2), anynn.rand(2), anynn.arange(0.0, 1.0, 0.5), anynn.eye(2)):
        assert t.dtype is F64
    assert anynn.tensor([1]).dtype is I64
    anynn.set_default_dtype("float32")
    assert anynn.zeros(1).dtype is F32
    with pytest.raises(TypeError, match="floating"):
        anynn.set_default_dtype(anynn.int32)
    with pytest.raises(ValueError, match="unknown dtype"):
        anynn.set_default_dtype("float128")


def test_pytorch_keywords(backend):
    assert anynn.rand(size=(2, 3)).shape == (2, 3) and anynn.randn(size=[4]).shape == (4,)
    assert anynn.zeros(size=(2, 1)).shape == (2, 1) and anynn.ones((2, 3)).shape == (2, 3)
    assert anynn.empty(3, 2).shape == (3, 2) and anynn.full((2,), 7).dtype is I64
    x = anynn.randn(2, 3, dtype=F64, requires_grad=True)
    assert x.requires_grad and x.dtype is F64 and x.is_leaf
    assert anynn.zeros(3, requires_grad=True).requires_grad and anynn.ones(2, requires_grad=True).requires_grad
    assert anynn.arange(start=1, end=4).tolist() == [1, 2, 3] and anynn.arange(0, 1, 0.5, dtype=F64).dtype is F64
    assert anynn.linspace(0, 1, steps=3).tolist() == [0.0, 0.5, 1.0]
    assert anynn.arange(3.0, requires_grad=True).requires_grad
    r = anynn.randint(3, (50,))
    assert r.dtype is I64 and set(r.tolist()) <= {0, 1, 2}
    assert anynn.randint(1, 3, size=(20,)).numpy().min() >= 1 and anynn.randint(5, (2,), dtype=F32).dtype is F32
    like = anynn.ones(2, 3, dtype=F64)
    for make in (anynn.rand_like, anynn.randn_like, anynn.empty_like, anynn.zeros_like, anynn.ones_like):
        made = make(like, device=like.device)
        assert made.shape == (2, 3) and made.dtype is F64 and made.backend is backend
        assert make(like, dtype=F32, requires_grad=True).requires_grad
    assert anynn.full_like(like, 2.0, requires_grad=True).requires_grad
    drawn = anynn.randint_like(like, 3)
    assert drawn.dtype is F64 and set(drawn.tolist()[0]) <= {0.0, 1.0, 2.0}
    assert anynn.randint_like(anynn.tensor([1, 2]), 5, 7).numpy().min() >= 5
    with pytest.raises(TypeError, match="either positionally or as size="):
        anynn.zeros(2, size=(2,))
    with pytest.raises(RuntimeError, match="floating-point"):
        anynn.zeros(2, dtype=I64, requires_grad=True)


def test_normal_with_numbers_and_tensors(backend):
    anynn.manual_seed(3)
    n = anynn.normal(2.0, 3.0, size=(20000,)).numpy()
    assert abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    mean = anynn.tensor([0.0, 10.0, -10.0], dtype=F64)
    draws = anynn.normal(mean, 0.01)
    assert draws.shape == (3,) and draws.dtype is F64 and np.allclose(draws.numpy(), [0, 10, -10], atol=0.1)
    assert anynn.normal(mean, anynn.tensor([[1.0], [2.0]], dtype=F64)).shape == (2, 3)
    assert not anynn.normal(mean.requires_grad_(), 1.0).requires_grad
    with pytest.raises(TypeError, match="size="):
        anynn.normal(0.0, 1.0)


def test_multinomial_frequencies(backend):
    anynn.manual_seed(4)
    weights = anynn.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    draws = anynn.multinomial(weights, 20000, replacement=True).numpy()
    assert draws.shape == (2, 20000) and draws.dtype == np.int64
    assert np.allclose(np.bincount(draws[0], minlength=4) / 20000, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    assert np.allclose(np.bincount(draws[1], minlength=4) / 20000, [0.25] * 4, atol=0.015)
    without = anynn.multinomial(weights, 3).numpy()
    assert all(len(set(row)) == 3 for row in without) and 1 not in without[0]
    firsts = [anynn.multinomial(weights[0], 1).item() for _ in range(2000)]
    assert np.allclose(np.bincount(firsts, minlength=4) / 2000, [0.1, 0.0, 0.6, 0.3], atol=0.04)
    with pytest.raises(ValueError, match="without replacement"):
        anynn.multinomial(weights, 5)
    with pytest.raises(ValueError, match="non-negative"):
        anynn.multinomial(anynn.tensor([0.5, -0.1]), 1)


def test_from_numpy_and_as_tensor_share_memory_on_host_backends(backend):
    from anynn.ops._checks import on_host

    host = np.arange(6.0).reshape(2, 3)
    t = anynn.from_numpy(host)
    assert t.dtype is F64 and t.shape == (2, 3) and t.backend is backend
    host[0, 0] = 42.0
    if on_host(backend):
        assert t.numpy()[0, 0] == 42.0
    shared = anynn.as_tensor(host)
    assert shared.dtype is F64 and anynn.as_tensor(shared) is shared
    assert anynn.as_tensor([1, 2]).dtype is I64 and anynn.as_tensor(shared, dtype=F32).dtype is F32
    with pytest.raises(TypeError, match="numpy.ndarray"):
        anynn.from_numpy([1.0, 2.0])


def test_bernoulli(backend):
    anynn.manual_seed(5)
    p = anynn.full((20000,), 0.3, dtype=F64)
    draws = anynn.bernoulli(p).numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0} and abs(draws.mean() - 0.3) < 0.02
    assert anynn.bernoulli(anynn.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
    assert abs(anynn.bernoulli(p, p=0.9).numpy().mean() - 0.9) < 0.02

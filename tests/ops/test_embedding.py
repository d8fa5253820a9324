"""F.embedding against PyTorch in float64: lookups of any index shape, exact accumulation of repeated indices,
padding_idx, gradcheck, dtypes and errors, on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, leaf, torch_leaf, torch_or_skip


def _compare_with_torch(index, padding_idx=None, index_dtype=anynn.int64, rows=6, dim=3):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((rows, dim))
    w, tw = leaf(weight), torch_leaf(weight)
    idx = anynn.tensor(index, dtype=index_dtype)
    out = F.embedding(idx, w, padding_idx=padding_idx)
    tout = torch.nn.functional.embedding(torch.tensor(index), tw, padding_idx=padding_idx)
    assert out.shape == tuple(tout.shape)
    assert_close(out, tout.detach().numpy())
    g = rng.standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(w.grad, tw.grad.numpy())
    return w.grad.numpy()


@pytest.mark.parametrize("index", [[1, 4, 0], [[0, 5], [3, 3]], 2, [[[1], [1]], [[1], [2]]]])
def test_embedding_matches_torch(backend, index):
    _compare_with_torch(np.array(index))


def test_embedding_accumulates_repeated_indices_exactly(backend):
    index = np.array([2, 2, 2, 0, 2, 5, 0, 2])
    grad = _compare_with_torch(index)
    assert np.all(grad[[1, 3, 4]] == 0.0)


@pytest.mark.parametrize("padding_idx", [2, -4])
def test_embedding_padding_row_gets_no_gradient(backend, padding_idx):
    grad = _compare_with_torch(np.array([[2, 1, 2], [0, 2, 5]]), padding_idx=padding_idx)
    assert np.all(grad[2] == 0.0) and np.any(grad[1] != 0.0)


def test_embedding_int32_indices(backend):
    _compare_with_torch(np.array([3, 1, 3]), index_dtype=anynn.int32)


def test_embedding_keeps_float32(backend):
    w = leaf(np.random.default_rng(1).standard_normal((4, 2)), dtype=anynn.float32)
    out = F.embedding(anynn.tensor([1, 1, 3]), w)
    out.sum().backward()
    assert out.dtype == w.grad.dtype == anynn.float32
    assert_close(w.grad, [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_embedding_gradcheck(backend):
    w = leaf(np.random.default_rng(2).standard_normal((4, 2)))
    idx = anynn.tensor([[0, 3], [3, 3], [1, 0]])
    assert anynn.gradcheck(lambda w: F.embedding(idx, w), [w])
    # padding_idx zeroes a gradient on purpose, so gradcheck it only where it does not apply
    assert anynn.gradcheck(lambda w: F.embedding(idx, w, padding_idx=2), [w])


def test_embedding_errors(backend):
    w = anynn.zeros(5, 2)
    with pytest.raises(TypeError, match=r"embedding got indices of dtype anynn.float32: expected an integer tensor"):
        F.embedding(anynn.tensor([1.0, 2.0]), w)
    with pytest.raises(TypeError, match=r"indices must be an integer anynn Tensor, got list"):
        F.embedding([1, 2], w)
    with pytest.raises(ValueError, match=r"padding_idx must be within \[-5, 5\) .* got 5"):
        F.embedding(anynn.tensor([1]), w, padding_idx=5)
    with pytest.raises(ValueError, match=r"weight must be 2-D"):
        F.embedding(anynn.tensor([1]), anynn.zeros(5))


@pytest.mark.parametrize("bad,fix", [(-1, r"negative indices are not allowed \(unlike Python lists, -1 is not the "
                                          r"last row\)"),
                                     (5, r"make num_embeddings at least 6"),
                                     (7, r"make num_embeddings at least 8")])
def test_embedding_index_out_of_range_names_the_layer(backend, bad, fix):
    """-1 used to return the last row on numpy, 5 gave a raw NumPy IndexError: now anynn's own error."""
    layer = anynn.nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=rf"^Embedding\(5, 2\) got index {bad} at flat position 2: expected indices "
                                         rf"in \[0, 4\] \(num_embeddings=5\); {fix}"):
        layer(anynn.tensor([[0, 1], [bad, 3]]))
    with pytest.raises(IndexError, match=rf"^embedding got index {bad}: expected indices in \[0, 4\]"):
        F.embedding(anynn.tensor([bad]), anynn.zeros(5, 2))


def test_embedding_empty_and_edge_indices(backend):
    layer = anynn.nn.Embedding(5, 2)
    assert layer(anynn.tensor([0, 4])).shape == (2, 2)
    assert layer(anynn.zeros(0, dtype=anynn.int64)).shape == (0, 2)


def test_embedding_check_is_deferred_on_device_backends(monkeypatch):
    """On a GPU the range check must not sync: the indices are clamped, the bad value stays on the device and
    raise_deferred_index_errors raises it at the next synchronisation point (simulated here on numpy)."""
    from anynn.ops import _checks
    from anynn.ops import embedding as E

    monkeypatch.setattr(_checks, "on_host", lambda backend: False)
    monkeypatch.setattr(_checks, "CHECK_VALUES", False)
    _checks.raise_deferred_errors()
    layer = anynn.nn.Embedding(5, 2)
    out = layer(anynn.tensor([1, 9]))  # no error yet, and no out-of-bounds read
    np.testing.assert_array_equal(out.numpy()[1], layer.weight.numpy()[4])
    layer(anynn.tensor([2, 3]))  # a later good batch does not hide the earlier bad one
    with pytest.raises(IndexError, match=r"^Embedding\(5, 2\) got index 9 at flat position 1 \(found at a "
                                         r"synchronisation point: the check is deferred on GPUs; the bad index was "
                                         r"in call 1 since .*make num_embeddings at least 10"):
        E.raise_deferred_index_errors()
    E.raise_deferred_index_errors()  # cleared once raised
    layer(anynn.tensor([0, 4]))
    E.raise_deferred_index_errors()


def test_embedding_constructor_errors():
    with pytest.raises(ValueError, match=r"^Embedding: num_embeddings must be a non-negative int .* got -1"):
        anynn.nn.Embedding(-1, 2)
    with pytest.raises(ValueError, match=r"^Embedding: embedding_dim must be a non-negative int .* got 2.5"):
        anynn.nn.Embedding(3, 2.5)

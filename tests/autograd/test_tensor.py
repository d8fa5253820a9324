"""The Tensor API: attributes, conversion, moves between backends and dtypes, operators, indexing, errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

import anynn
from anynn import backends as B
from helpers import assert_close, leaf

F32 = anynn.float32
F64 = anynn.float64


def _targets() -> list[str]:
    wanted = os.environ.get("ANYNN_TEST_BACKENDS")
    names = [B.canonical_name(n.strip()) for n in wanted.split(",") if n.strip()] if wanted else list(B.NAMES)
    return [n for n in names if B.why_unavailable(n) is None]


def test_attributes(backend):
    x = anynn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert backend.is_native(x.array)
    assert x.grad is None and x.requires_grad is False and x.is_leaf
    assert x.shape == (2, 3) and isinstance(x.shape, tuple)
    assert x.dtype is F32 and x.dtype == anynn.float32
    assert x.device == backend.device_name and x.backend is backend
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2 and x.size() == (2, 3) and x.size(1) == 3
    assert "tensor(" in repr(x) and backend.name in repr(x)
    x.requires_grad_()
    assert x.requires_grad and "requires_grad=True" in repr(x)


def test_item_and_python_conversions(backend):
    assert anynn.tensor(2.5).item() == 2.5 and isinstance(anynn.tensor(2.5).item(), float)
    assert anynn.tensor([7]).item() == 7 and isinstance(anynn.tensor([7]).item(), int)
    assert anynn.tensor(True).item() is True
    assert float(anynn.tensor([[1.5]])) == 1.5 and int(anynn.tensor(3)) == 3
    assert bool(anynn.tensor(1.0) > 0.5)
    assert [0, 1, 2][anynn.tensor(2)] == 2
    with pytest.raises(ValueError, match="one element"):
        anynn.tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="integer"):
        [0, 1][anynn.tensor(1.0)]


def test_numpy_shares_memory_on_host_backends(backend):
    """As PyTorch's numpy() on the CPU: a view of the tensor's memory (a copy only from a GPU)."""
    from anynn.ops._checks import on_host

    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    host = x.numpy()
    assert isinstance(host, np.ndarray) and host.dtype == np.float32
    host[0] = 100.0
    assert x.tolist() == ([100.0, 2.0] if on_host(backend) else [1.0, 2.0])


def test_detach_shares_data_and_drops_the_graph(backend):
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.0).detach()
    assert not y.requires_grad and y.is_leaf and y.grad is None
    assert x.detach().array is x.array


def test_to_backend_moves_data_and_gradient_back(backend):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((2, 3))
    for target in _targets():
        x = leaf(values)
        y = x.to(target)
        assert y.backend is B.backend_for(target) and y.dtype is F64
        assert_close(y, values)
        (y * y).sum().backward()
        assert x.grad.backend is backend, f"gradient must come back to {backend.name} from {target}"
        assert_close(x.grad, 2 * values)


def test_to_same_backend_or_device_is_identity(backend):
    x = anynn.tensor([1.0])
    assert x.to(backend.name) is x
    assert x.to(backend) is x
    assert x.to(device=backend.device_name) is x
    assert x.cpu().backend is B.backend_for(backend.name, "cpu")


def test_to_dtype_is_differentiable_and_ints_carry_no_gradient(backend):
    x = anynn.tensor([1.5, -2.25], dtype=F64, requires_grad=True)
    y = x.to(F32)
    assert y.dtype is F32 and x.to("float64") is x and x.float().dtype is F32 and y.double().dtype is F64
    (y * 2.0).sum().backward()
    assert x.grad.dtype is F64
    assert_close(x.grad, [2.0, 2.0])
    n = x.to(anynn.int64)
    assert n.dtype is anynn.int64 and not n.requires_grad and n.tolist() == [1, -2]
    assert x.long().dtype is anynn.int64
    if anynn.float16 in backend._to_native:  # array-api-strict has no float16
        assert x.to(dtype=anynn.float16).dtype is anynn.float16


def test_to_rejects_nonsense(backend):
    with pytest.raises(TypeError, match="cannot move"):
        anynn.tensor([1.0]).to(3.5)


def test_operators_with_tensors_and_python_scalars(backend):
    a_np = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    b_np = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    a, b = anynn.tensor(a_np), anynn.tensor(b_np)
    cases = {
        "a + b": (a + b, a_np + b_np), "a - b": (a - b, a_np - b_np), "a * b": (a * b, a_np * b_np),
        "a / b": (a / b, a_np / b_np), "a @ b": (a @ b, a_np @ b_np), "a ** 2": (a ** 2, a_np ** 2),
        "a ** b": (a ** b, a_np ** b_np), "-a": (-a, -a_np), "+a": (+a, a_np), "abs(b)": (abs(b), np.abs(b_np)),
        "a + 1": (a + 1, a_np + 1), "1 + a": (1 + a, 1 + a_np), "a - 0.5": (a - 0.5, a_np - 0.5),
        "0.5 - a": (0.5 - a, 0.5 - a_np), "3 * a": (3 * a, 3 * a_np), "a * 3": (a * 3, a_np * 3),
        "a / 4": (a / 4, a_np / 4), "2 / a": (2 / a, 2 / a_np), "2 ** a": (2 ** a, 2.0 ** a_np),
        "a ** 0.5": (a ** 0.5, a_np ** 0.5),
    }
    for name, (got, expected) in cases.items():
        assert got.dtype is F32, f"{name} gave {got.dtype}: float32 in must stay float32"
        assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_reflected_operators_differentiate(backend):
    x = leaf(np.array([1.0, 2.0]))
    (2.0 - x + 3.0 / x + 2.0 ** x + 5 * x).sum().backward()
    xv = np.array([1.0, 2.0])
    assert_close(x.grad, -1.0 - 3.0 / xv ** 2 + np.log(2.0) * 2.0 ** xv + 5.0)


def test_comparisons_give_boolean_tensors(backend):
    x = anynn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = anynn.tensor([3.0, 2.0, 1.0])
    results = {"<": (x < y, [True, False, False]), "<=": (x <= y, [True, True, False]),
               ">": (x > y, [False, False, True]), ">=": (x >= 2, [False, True, True]),
               "==": (x == 2.0, [False, True, False]), "!=": (x != y, [True, False, True])}
    for name, (got, expected) in results.items():
        assert got.dtype is anynn.bool_ and not got.requires_grad, name
        assert got.tolist() == expected, name
    assert (x == None) is False  # noqa: E711  (Python's fallback, as for torch tensors)


def test_indexing_and_slicing(backend):
    values = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(values)
    for index in [1, -1, (0, 2), (slice(None), slice(1, 3)), (Ellipsis, None, 2),
                  (slice(None, None, 2), 1, slice(1, None)), (1, Ellipsis, slice(0, 4, 3)), np.int64(1)]:
        assert_close(x[index], values[index])
    x[:, 1:3, ::2].sum().backward()
    expected = np.zeros_like(values)
    expected[:, 1:3, ::2] = 1.0
    assert_close(x.grad, expected)


def test_integer_tensor_rows_with_repeated_indices(backend):
    values = np.arange(12.0).reshape(4, 3)
    x = leaf(values)
    idx = anynn.tensor([[2, 0], [2, 2]])
    picked = x[idx]
    assert picked.shape == (2, 2, 3)
    assert_close(picked, values[np.array([[2, 0], [2, 2]])])
    (picked * 2.0).sum().backward()
    assert_close(x.grad, np.array([[2.0] * 3, [0.0] * 3, [6.0] * 3, [0.0] * 3]))
    y = leaf(values)
    y[[3, -1, 0]].sum().backward()
    assert_close(y.grad, np.array([[1.0] * 3, [0.0] * 3, [0.0] * 3, [2.0] * 3]))
    with pytest.raises(IndexError, match="integer or boolean"):
        x[anynn.tensor([0.0, 1.0])]
    assert_close(x[:, anynn.tensor([0, 2])], values[:, [0, 2]])


def test_shape_methods(backend):
    values = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(values)
    assert_close(x.reshape(4, 6), values.reshape(4, 6))
    assert_close(x.reshape((6, -1)), values.reshape(6, 4))
    assert_close(x.view(-1), values.reshape(-1))
    assert_close(x.transpose(0, 2), values.transpose(2, 1, 0))
    assert_close(x.transpose(), values.transpose(0, 2, 1))
    assert_close(x.permute(1, 2, 0), values.transpose(1, 2, 0))
    assert_close(x.permute((2, 0, 1)), values.transpose(2, 0, 1))
    assert_close(x.permute(-1, 0, 1), values.transpose(2, 0, 1))
    assert_close(x.T, values.T)
    assert_close(x.flatten(1), values.reshape(2, 12))
    assert_close(x.unsqueeze(1).squeeze(1), values)
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1) and x[:, :1].squeeze().shape == (2, 4)
    assert_close(x[:1].expand(5, 3, 4), np.broadcast_to(values[:1], (5, 3, 4)))
    with pytest.raises(ValueError, match="permutation"):
        x.permute(0, 0, 1)


def test_reduction_methods(backend):
    values = np.random.default_rng(2).standard_normal((3, 4, 2))
    x = leaf(values)
    assert_close(x.sum(), values.sum())
    assert_close(x.sum(1), values.sum(1))
    assert_close(x.sum(axis=(0, 2), keepdims=True), values.sum(axis=(0, 2), keepdims=True))
    assert_close(x.sum(dim=-1, keepdim=True), values.sum(-1, keepdims=True))
    assert_close(x.mean(0), values.mean(0))
    assert_close(x.mean(dim=(1, 2)), values.mean((1, 2)))
    assert_close(x.max(), values.max())
    assert_close(x.max(1, keepdims=True).values, values.max(1, keepdims=True))
    assert_close(x.min(dim=2).values, values.min(2))
    assert x.min(dim=2).indices.tolist() == values.argmin(2).tolist()
    assert_close(x.var(0), values.var(0, ddof=1))
    assert_close(x.std(1, correction=0), values.std(1))
    assert x.argmax(1).tolist() == values.argmax(1).tolist()
    assert x.argmax().item() == int(values.argmax())
    with pytest.raises(IndexError, match="out of range"):
        x.sum(3)


def test_elementwise_methods_and_functions(backend):
    values = np.array([[0.5, 1.5], [2.0, 3.0]])
    x = leaf(values)
    pairs = [(x.exp(), np.exp(values)), (anynn.exp(x), np.exp(values)), (x.log(), np.log(values)),
             (anynn.log(x), np.log(values)), (x.sqrt(), np.sqrt(values)), (anynn.sqrt(x), np.sqrt(values)),
             (x.tanh(), np.tanh(values)), (anynn.tanh(x), np.tanh(values)),
             (x.sigmoid(), 1 / (1 + np.exp(-values))), (anynn.sigmoid(-x), 1 / (1 + np.exp(values))),
             ((x - 1.0).relu(), np.maximum(values - 1.0, 0)), (anynn.relu(x - 2.0), np.maximum(values - 2.0, 0)),
             ((x - 2.0).abs(), np.abs(values - 2.0)), (anynn.abs(x - 2.0), np.abs(values - 2.0)),
             (x.clip(1.0, 2.5), np.clip(values, 1.0, 2.5)), (anynn.clip(x, max=2.0), np.minimum(values, 2.0)),
             (x.clamp(min=1.0), np.maximum(values, 1.0)), (anynn.clamp(x, 0.0, 1.0), np.clip(values, 0, 1))]
    for got, expected in pairs:
        assert got.requires_grad
        assert_close(got, expected)


def test_concat_and_stack(backend):
    a, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    ta, tb = leaf(a), leaf(b)
    assert_close(anynn.concat([ta, tb]), np.concatenate([a, b]))
    assert_close(anynn.cat([ta, tb], axis=-1), np.concatenate([a, b], axis=-1))
    assert_close(anynn.stack([ta, tb]), np.stack([a, b]))
    assert_close(anynn.stack([ta, tb], axis=-1), np.stack([a, b], axis=-1))
    (anynn.concat([ta, tb], axis=1) * 2.0).sum().backward()
    assert_close(ta.grad, np.full((2, 3), 2.0))
    assert_close(tb.grad, np.full((2, 3), 2.0))


def test_raw_numpy_array_in_an_op_raises_type_error(backend):
    x = anynn.tensor([1.0, 2.0])
    raw = np.ones(2, dtype=np.float32)
    for attempt in (lambda: x + raw, lambda: raw + x, lambda: x * raw, lambda: raw @ x, lambda: x < raw,
                    lambda: anynn.exp(raw), lambda: anynn.sum(raw), lambda: anynn.matmul(raw, raw),
                    lambda: anynn.concat([x, raw]), lambda: anynn.maximum(x, raw), lambda: x[raw],
                    lambda: x * np.float32(2.0)):
        with pytest.raises(TypeError, match=r"anynn\.tensor"):
            attempt()


def test_numpy_float64_scalar_counts_as_a_python_float(backend):
    """np.float64 subclasses float; it must not upcast (NEP 50 would make float32 * np.float64 float64)."""
    x = anynn.tensor([1.0, 2.0])
    for got in (x * np.float64(2.0), np.float64(2.0) * x, x + np.float64(1.0), x ** np.float64(2.0)):
        assert got.dtype is F32


def test_mixing_backends_raises_with_a_to_hint(backend):
    x = anynn.tensor([1.0, 2.0])
    for other in _targets():
        if other == backend.name:
            continue
        y = anynn.tensor([1.0, 2.0], backend=other)
        for attempt in (lambda: x + y, lambda: y * x, lambda: anynn.concat([x, y]), lambda: x < y,
                        lambda: anynn.where(x > 0, x, y), lambda: x[anynn.tensor([0], backend=other)]):
            with pytest.raises(anynn.BackendMismatchError, match=r"\.to\("):
                attempt()
        assert_close(x + y.to(backend.name), [2.0, 4.0])


def test_iteration_yields_rows(backend):
    x = anynn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert [row.tolist() for row in x] == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(TypeError, match="0-d"):
        len(anynn.tensor(1.0))


def test_tensor_constructor(backend):
    x = anynn.Tensor([1.0, 2.0], requires_grad=True)
    assert x.backend is backend and x.dtype is F32 and x.requires_grad
    assert anynn.Tensor([1, 2], dtype="float64").dtype is F64


def test_only_floating_tensors_can_require_grad(backend):
    with pytest.raises(RuntimeError, match="floating-point"):
        anynn.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating-point"):
        anynn.tensor([1, 2]).requires_grad_()
    assert anynn.tensor([1, 2]).float().requires_grad_().requires_grad


def test_cpu_gives_a_cpu_tensor(backend):
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    y = x.cpu()
    assert y.device in ("cpu", "CPU_DEVICE") and y.tolist() == [1.0, 2.0]

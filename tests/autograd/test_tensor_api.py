"""The everyday Tensor API under PyTorch's names: f-string formatting, dtype conversions, new_* factories,
softmax methods, and a tutorial-style sequence of calls checked against PyTorch on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from helpers import assert_close, torch_or_skip


def test_format_one_element_tensors_like_numbers(backend):
    loss = anynn.tensor(0.123456, dtype=anynn.float64)
    assert f"{loss:.3f}" == "0.123" and f"{anynn.tensor([2.5]):>6.2f}" == "  2.50" and f"{anynn.tensor(7):03d}" == "007"
    many = anynn.tensor([1.0, 2.0])
    assert f"{many}" == repr(many)
    with pytest.raises(TypeError):
        f"{many:.2f}"


def test_dtype_conversions(backend):
    x = anynn.tensor([1.5, -2.0, 0.0])
    assert x.double().dtype is anynn.float64 and x.long().dtype is anynn.int64 and x.int().dtype is anynn.int32
    assert x.bool().tolist() == [True, True, False]
    if backend.name != "array_api_strict":  # the standard has no float16
        assert x.half().dtype is anynn.float16
    assert x.type(anynn.float64).dtype is anynn.float64 and x.type() == "anynn.FloatTensor"
    assert x.long().type() == "anynn.LongTensor" and x.type_as(anynn.tensor([1])).dtype is anynn.int64
    assert x.is_floating_point() and not x.long().is_floating_point() and anynn.is_floating_point(x)
    assert x.nelement() == 3 and x.ndimension() == 1 and anynn.is_tensor(x) and not anynn.is_tensor([1])


def test_new_factories_follow_the_tensor(backend):
    x = anynn.ones(2, dtype=anynn.float64)
    for made in (x.new_zeros(2, 3), x.new_ones((2, 3)), x.new_empty(2, 3), x.new_full((2, 3), 4.0)):
        assert made.shape == (2, 3) and made.dtype is anynn.float64 and made.backend is backend
    assert x.new_full((1,), 4.0).tolist() == [4.0] and x.new_zeros(2, dtype=anynn.int64).dtype is anynn.int64
    assert x.new_tensor([1, 2]).dtype is anynn.float64 and x.new_ones(1, requires_grad=True).requires_grad


def test_softmax_methods_match_torch(backend):
    torch = torch_or_skip()
    values = np.random.default_rng(0).standard_normal((2, 5))
    x, t = anynn.tensor(values, dtype=anynn.float64), torch.tensor(values)
    assert_close(x.softmax(dim=1), t.softmax(dim=1).numpy())
    assert_close(x.log_softmax(0), t.log_softmax(0).numpy())
    assert_close(anynn.softmax(x, -1), torch.softmax(t, -1).numpy())
    assert_close(anynn.log_softmax(x, 1, dtype=anynn.float32), torch.log_softmax(t, 1, dtype=torch.float32).numpy(),
                 rtol=1e-6, atol=1e-6)


def test_a_tutorial_session_matches_torch(backend):
    """The calls of the PyTorch tutorials, one after another, on the same numbers."""
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    targets = np.array([1, 0, 1])

    def session(lib, a, b):
        h = lib.mm(a, b).add(lib.ones(3, 2, dtype=a.dtype), alpha=0.5)
        h = lib.cat([h, lib.sin(h).pow(2)], dim=1)
        probs = h.softmax(dim=1)
        picked = probs[range(3), lib.tensor(targets)]
        loss = -lib.log(picked).mean() + lib.sum(h.abs(), dim=1, keepdim=True).sqrt().mean() * 0.1
        loss = loss + lib.norm(a) * 0.01 + a.square().mean(dim=0).sum() + lib.prod(b[:2, :1].exp())
        top = h.max(1, keepdim=True)[1]
        return loss, top, h.argmax(dim=1), lib.topk(h, 2).indices

    a, b = (anynn.tensor(v, dtype=anynn.float64, requires_grad=True) for v in (a_np, b_np))
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a_np, b_np))
    ours, theirs = session(anynn, a, b), session(torch, ta, tb)
    ours[0].backward()
    theirs[0].backward()
    assert f"{ours[0]:.8f}" == f"{theirs[0].item():.8f}"
    assert_close(ours[0], theirs[0].detach().numpy())
    for got, expected in zip(ours[1:], theirs[1:]):
        assert got.tolist() == expected.tolist()
    assert_close(a.grad, ta.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())


def test_where_with_the_condition_alone_gives_positions(backend):
    torch = torch_or_skip()
    mask = np.array([[True, False], [True, True]])
    ours, theirs = anynn.where(anynn.tensor(mask)), torch.where(torch.tensor(mask))
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]


def test_out_keyword_writes_into_the_given_tensor(backend):
    """The 60-minute blitz's ``torch.add(x, y, out=result)``; out= refuses results that need a gradient."""
    x, y = anynn.ones(5, 3), anynn.full((5, 3), 2.0)
    result = anynn.empty(5, 3)
    assert anynn.add(x, y, out=result) is result and result.tolist() == [[3.0] * 3] * 5
    assert anynn.mm(x, y.t(), out=anynn.empty(5, 5)).tolist() == [[6.0] * 5] * 5
    assert anynn.exp(anynn.zeros(2), out=anynn.empty(2)).tolist() == [1.0, 1.0]
    assert anynn.cat([x, y], dim=0, out=anynn.empty(10, 3)).shape == (10, 3)
    with pytest.raises(ValueError, match=r"out has shape \(2,\) but the result has shape \(5, 3\)"):
        anynn.add(x, y, out=anynn.empty(2))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        anynn.mul(x.requires_grad_(), y, out=result)
    with anynn.no_grad():
        assert anynn.mul(x, y, out=result).tolist() == [[2.0] * 3] * 5


PROMOTIONS = {
    "float32 * int64": (lambda lib: lib.ones(2) * lib.tensor([1, 2])),
    "int64 * float": (lambda lib: lib.tensor([1, 2]) * 0.5),
    "float / int64 tensor": (lambda lib: 1.5 / lib.tensor([1, 2])),
    "int64 / int64": (lambda lib: lib.tensor([1, 3]) / lib.tensor([2, 2])),
    "accuracy: bool sum / int": (lambda lib: (lib.tensor([1, 2, 3]) == 2).sum() / 3),
    "bool + int": (lambda lib: lib.tensor([True, False]) + 1),
    "int64 + bool": (lambda lib: lib.tensor([1, 2]) + lib.tensor([True, False])),
    "float32 ** int64": (lambda lib: lib.full((2,), 3.0) ** lib.tensor([1, 2])),
    "int ** int64": (lambda lib: 2 ** lib.tensor([1, 2])),
    "float64 - float32": (lambda lib: lib.ones(2, dtype=lib.float64) - lib.ones(2)),
    "int64 - int": (lambda lib: lib.tensor([5]) - 2),
}


@pytest.mark.parametrize("case", list(PROMOTIONS))
def test_mixed_dtypes_promote_like_torch(backend, case):
    """PyTorch's promotion (an integer tensor meeting floats takes their dtype, not NumPy's float64), on every
    backend (array_api_strict, which refuses mixed kinds, included)."""
    torch = torch_or_skip()
    ours, theirs = PROMOTIONS[case](anynn), PROMOTIONS[case](torch)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    assert ours.tolist() == pytest.approx(theirs.tolist())


def test_promotion_keeps_the_gradient_of_the_float_operand(backend):
    w = anynn.ones(3, requires_grad=True)
    (w * anynn.tensor([1, 2, 3])).sum().backward()
    assert w.grad.tolist() == [1.0, 2.0, 3.0] and w.grad.dtype is anynn.float32


def test_cross_matches_torch_and_gradchecks(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 1))
    for dim in (None, 1, -2):
        x, y = anynn.tensor(a, requires_grad=True), anynn.tensor(b, requires_grad=True)
        weights = rng.standard_normal((2, 3, 4))
        (anynn.cross(x, y, dim=dim) * anynn.tensor(weights)).sum().backward()
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        (torch.linalg.cross(tx, ty.expand(2, 3, 4), dim=1 if dim is None else dim) * torch.tensor(weights)).sum() \
            .backward()
        assert_close(x.grad, tx.grad.numpy())
        assert_close(y.grad, ty.grad.numpy())
    assert anynn.gradcheck(lambda u, v: u.cross(v, dim=1), [anynn.tensor(a, requires_grad=True),
                                                            anynn.tensor(b, requires_grad=True)])


def test_normal_with_requires_grad_and_pow_with_an_integer_tensor(backend):
    w = anynn.normal(0, 0.01, size=(2, 1), requires_grad=True)
    assert w.is_leaf and w.requires_grad and w.shape == (2, 1)
    x = anynn.ones(3).unsqueeze(-1)
    assert x.pow(anynn.tensor([1, 2, 3])).dtype is anynn.float32  # as torch: the float tensor's dtype
    assert (x ** anynn.tensor([1, 2, 3])).shape == (3, 3)

"""In-place operations with PyTorch's contract: values written into storage, version counters, history rebased,
``Tensor.data`` as a detached Tensor, and the errors PyTorch raises (each compared with real torch)."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from helpers import assert_close, torch_or_skip

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((3, 4))
OTHER = RNG.standard_normal((4,))
POSITIVE = np.abs(X) + 0.5

# name -> the in-place update, written once for both libraries (``lib`` is anynn or torch, ``t`` a tensor)
UPDATES = {
    "add_": lambda lib, t: t.add_(lib.tensor(OTHER)),
    "add_alpha": lambda lib, t: t.add_(lib.tensor(OTHER), alpha=-0.5),
    "sub_": lambda lib, t: t.sub_(2.0),
    "sub_alpha": lambda lib, t: t.sub_(lib.tensor(OTHER), alpha=3),
    "mul_": lambda lib, t: t.mul_(lib.tensor(OTHER)),
    "div_": lambda lib, t: t.div_(4.0),
    "pow_": lambda lib, t: t.pow_(2),
    "neg_": lambda lib, t: t.neg_(),
    "clamp_": lambda lib, t: t.clamp_(-0.5, 0.5),
    "clamp_min": lambda lib, t: t.clamp_(min=0.1),
    "exp_": lambda lib, t: t.exp_(),
    "tanh_": lambda lib, t: t.tanh_(),
    "sigmoid_": lambda lib, t: t.sigmoid_(),
    "relu_": lambda lib, t: t.relu_(),
    "abs_": lambda lib, t: t.abs_(),
    "iadd": lambda lib, t: t.__iadd__(lib.tensor(OTHER)),
    "isub": lambda lib, t: t.__isub__(1.5),
    "imul": lambda lib, t: t.__imul__(lib.tensor(OTHER)),
    "itruediv": lambda lib, t: t.__itruediv__(lib.tensor(POSITIVE[0])),
    "setitem_row": lambda lib, t: t.__setitem__(0, 5.0),
    "setitem_column_tensor": lambda lib, t: t.__setitem__((slice(None), 1), lib.tensor(OTHER[:3])),
    "setitem_mask": lambda lib, t: t.__setitem__(t > 0.5, 0.0),
    "setitem_list": lambda lib, t: t.__setitem__([0, 2], lib.tensor(OTHER)),
    "fill_": lambda lib, t: t.fill_(2.0),
    "zero_": lambda lib, t: t.zero_(),
    "copy_": lambda lib, t: t.copy_(lib.tensor(OTHER)),
}


def _run(lib, name, dtype):
    x = lib.tensor(X, dtype=dtype, requires_grad=True)
    y = x * 1.5 if name not in ("sqrt_", "log_") else x.abs() + 1
    before = y
    returned = UPDATES[name](lib, y)
    assert returned is (None if name.startswith("setitem") else before)  # in place: the same object, as in PyTorch
    (y * lib.tensor(W, dtype=dtype)).sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize("name", sorted(UPDATES))
def test_in_place_values_and_gradients_match_torch(backend, name):
    torch = torch_or_skip()
    if name == "setitem_list" and backend.name == "array_api_strict":
        with pytest.raises(IndexError, match="Fancy indexing __setitem__ is not supported"):
            _run(anynn, name, anynn.float64)  # the standard has no integer-array assignment
        return
    out, grad = _run(anynn, name, anynn.float64)
    ref_out, ref_grad = _run(torch, name, torch.float64)
    assert_close(out, ref_out.numpy())
    assert_close(grad, ref_grad.numpy())


def test_gradient_flows_into_the_assigned_value(backend):
    torch = torch_or_skip()
    results = []
    for lib in (anynn, torch):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        v = lib.tensor(OTHER, dtype=lib.float64, requires_grad=True)
        y = x * 2
        y[1] = v * v
        (y * lib.tensor(W, dtype=lib.float64)).sum().backward()
        results.append((x.grad, v.grad))
    (xg, vg), (txg, tvg) = results
    assert_close(xg, txg.numpy())
    assert_close(vg, tvg.numpy())


def test_no_grad_update_of_a_leaf_is_the_d2l_sgd_idiom(backend):
    """D2L's ``sgd``: ``param -= lr * param.grad / batch_size`` under no_grad, then ``param.grad.zero_()``."""
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    features, true_w = rng.standard_normal((32, 2)), np.array([2.0, -3.4])
    labels = features @ true_w + 4.2
    trajectories = []
    for lib in (anynn, torch):
        w = lib.tensor(np.zeros(2), dtype=lib.float64, requires_grad=True)
        b = lib.zeros(1, dtype=lib.float64, requires_grad=True)
        X_, y_ = lib.tensor(features, dtype=lib.float64), lib.tensor(labels, dtype=lib.float64)
        losses = []
        for _ in range(20):
            loss = ((X_ @ w + b - y_) ** 2 / 2).sum()
            loss.backward()
            with lib.no_grad():
                for param in (w, b):
                    param -= 0.3 * param.grad / 32
                    param.grad.zero_()
            losses.append(loss.item())
        trajectories.append((losses, w.detach(), b.detach()))
    (losses, w, b), (ref_losses, ref_w, ref_b) = trajectories
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)
    assert_close(w, ref_w.numpy())
    assert_close(b, ref_b.numpy())
    assert losses[-1] < losses[0] / 10


def test_in_place_on_a_leaf_that_requires_grad_raises_like_torch(backend):
    torch = torch_or_skip()
    for lib in (torch, anynn):
        p = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            p.add_(1)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            p += 1


def test_modifying_a_saved_output_raises_like_torch(backend):
    torch = torch_or_skip()
    for lib in (torch, anynn):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_modifying_a_saved_input_raises_and_names_the_op(backend):
    torch = torch_or_skip()
    for lib in (torch, anynn):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        out = h * h
        with lib.no_grad():
            h.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as error:
            out.sum().backward()
        assert lib is torch or "input 0 of Mul (shape [2], anynn.float32), which Mul saved" in str(error.value)


def test_optimizer_step_between_forward_and_backward_raises_like_torch(backend):
    torch = torch_or_skip()
    for lib in (torch, anynn):
        model = lib.nn.Linear(3, 2)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        loss = (model(lib.ones(4, 3, requires_grad=True)) ** 2).sum()  # the input's gradient needs the weight
        loss.backward(retain_graph=True)
        opt.step()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_changes_that_backward_does_not_need_do_not_raise(backend):
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    z = (x + 1).exp()  # Add saves nothing; Exp saves its output, a new array
    w = anynn.tensor([3.0, 4.0])
    u = x * w  # saves w, which is then replaced through .data, as PyTorch allows
    w.data = anynn.tensor([5.0, 6.0])
    x.data[0] = 10.0  # .data: outside autograd
    (z.sum() + u.sum()).backward()
    assert_close(x.grad, np.exp([2.0, 3.0]) + [3.0, 4.0], rtol=1e-6)


def test_data_is_a_detached_tensor_sharing_storage(backend):
    p = anynn.nn.Parameter(anynn.tensor([1.0, 2.0]))
    d = p.data
    assert isinstance(d, anynn.Tensor) and not d.requires_grad and d.grad is None
    d.mul_(3)  # no error: .data is outside autograd, as in PyTorch
    assert p.tolist() == [3.0, 6.0]
    p.data.add_(1)
    assert p.tolist() == [4.0, 7.0] and p.requires_grad
    p.data = anynn.tensor([0.0, 0.0])
    assert p.tolist() == [0.0, 0.0] and isinstance(p, anynn.nn.Parameter)
    with pytest.raises(TypeError, match="expected a Tensor"):
        p.data = [1.0, 2.0]


def test_gradient_written_in_place_leaves_other_gradients_and_later_backwards_intact(backend):
    a = anynn.tensor([1.0, 2.0], requires_grad=True)
    b = anynn.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # both gradients are the same array as the engine hands it over
    a.grad.mul_(5)
    assert a.grad.tolist() == [5.0, 5.0] and b.grad.tolist() == [1.0, 1.0]
    b.grad.data.zero_()
    assert b.grad.tolist() == [0.0, 0.0]
    a.grad = None
    a.sum().backward()  # a broadcast of the cached seed: zeroing it must not reach the next backward
    a.grad.zero_()
    a.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]


def test_views_share_storage_and_version(backend):
    x = anynn.zeros(2, 3)
    x[0].fill_(1.0)
    x.reshape(6)[5] = 7.0
    assert x.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 7.0]]
    w = anynn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    h = w * 1.0
    out = (h * h).sum()
    with anynn.no_grad():
        h.reshape(6)[0] = 0.0  # through a view: the saved h changed
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_in_place_results_keep_shape_and_kind(backend):
    x = anynn.zeros(3)
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        x.add_(anynn.ones(2, 3))
    n = anynn.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        n.mul_(0.5)
    n.add_(2)
    assert n.tolist() == [3, 4, 5] and n.dtype is anynn.int64
    f = anynn.zeros(3, dtype=anynn.float32)
    f.copy_(anynn.tensor([1.0, 2.0, 3.0], dtype=anynn.float64))
    assert f.dtype is anynn.float32 and f.tolist() == [1.0, 2.0, 3.0]


def test_random_fills_in_place(backend):
    x = anynn.zeros(1000)
    x.normal_(2.0, 0.5)
    assert abs(float(x.mean()) - 2.0) < 0.1 and 0.4 < float(x.std()) < 0.6
    x.uniform_(-1.0, 3.0)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 3.0 and abs(float(x.mean()) - 1.0) < 0.15


def test_zero_dimensional_results_change_in_place(backend):
    t = anynn.tensor(1.0) + 1  # NumPy gives 0-d results as immutable scalars
    t.add_(1)
    t *= 2
    assert t.item() == 6.0
    t[...] = 5.0
    assert t.item() == 5.0
    count = anynn.tensor(0) + 0
    count += 1
    assert count.item() == 1 and count.dtype is anynn.int64


def test_rewritten_history_raises_but_an_unrecorded_change_to_an_unsaved_input_does_not(backend):
    torch = torch_or_skip()
    for lib in (torch, anynn):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        a = w * 3
        b = a + 1  # Add saves nothing
        with lib.no_grad():
            a.add_(1)  # not recorded: b's gradient still reaches w through a's recorded history
        b.sum().backward()
        assert w.grad.tolist() == [3.0, 3.0]
    w = anynn.tensor([1.0, 2.0], requires_grad=True)
    a = w * 3
    b = a + 1
    a.mul_(2)  # recorded: a's history now ends in this mul_, which b never saw
    with pytest.raises(RuntimeError, match="input 0 of Add .* was modified in place after Add used it"):
        b.sum().backward()

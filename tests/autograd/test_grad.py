"""``anynn.autograd.grad`` and ``backward(inputs=...)``: gradients of chosen tensors, compared with PyTorch, with
no ``.grad`` touched beyond what PyTorch touches."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.autograd.engine import register_post_accumulate_grad_hook
from helpers import assert_close, raises, torch_or_skip


def pair(torch, array, grad: bool = True):
    array = np.asarray(array, dtype=np.float64)
    return (anynn.tensor(array, dtype=anynn.float64, requires_grad=grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=grad))


def program(lib, x, w):
    """A small graph with a shared intermediate: returns (hidden, loss)."""
    hidden = (x @ w).tanh()
    return hidden, (hidden * hidden).sum() + (hidden.exp() * x.sum()).mean()


def test_grad_of_a_scalar_matches_torch_and_leaves_grad_untouched(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    (x, tx), (w, tw) = pair(torch, rng.standard_normal((4, 3))), pair(torch, rng.standard_normal((3, 2)))
    _, loss = program(anynn, x, w)
    _, tloss = program(torch, tx, tw)
    gx, gw = anynn.autograd.grad(loss, [x, w])
    tgx, tgw = torch.autograd.grad(tloss, [tx, tw])
    assert_close(gx, tgx.numpy())
    assert_close(gw, tgw.numpy())
    assert x.grad is None and w.grad is None
    assert isinstance(gx, anynn.Tensor) and not gx.requires_grad


def test_grad_of_an_intermediate_and_with_grad_outputs_matches_torch(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    (x, tx), (w, tw) = pair(torch, rng.standard_normal((4, 3))), pair(torch, rng.standard_normal((3, 2)))
    hidden, loss = program(anynn, x, w)
    thidden, tloss = program(torch, tx, tw)
    seed = rng.standard_normal((4, 2))
    outputs, toutputs = (loss, hidden), (tloss, thidden)
    seeds = (None, anynn.tensor(seed, dtype=anynn.float64))
    tseeds = (torch.tensor(1.0, dtype=torch.float64), torch.tensor(seed))
    mine = anynn.autograd.grad(outputs, (hidden, x), grad_outputs=seeds, retain_graph=True)
    ref = torch.autograd.grad(toutputs, (thidden, tx), grad_outputs=tseeds, retain_graph=True)
    for m, r in zip(mine, ref):
        assert_close(m, r.numpy())
    (gw,), (tgw,) = anynn.autograd.grad(hidden, w, seeds[1]), torch.autograd.grad(thidden, tw, tseeds[1])
    assert_close(gw, tgw.numpy())


def test_retain_graph_allows_a_second_pass_and_its_absence_frees(backend):
    x = anynn.tensor([0.5, -1.0], dtype=anynn.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    first, = anynn.autograd.grad(y, x, retain_graph=True)
    second, = anynn.autograd.grad(y, x)
    assert_close(first, second)
    assert_close(first, np.exp([0.5, -1.0]) * (1 + np.array([0.5, -1.0])))
    with raises(RuntimeError, "retain_graph=True"):
        anynn.autograd.grad(y, x)


def test_unused_inputs_raise_or_give_none_or_zeros_like_torch(backend):
    torch = torch_or_skip()
    (x, tx), (z, tz) = pair(torch, [1.0, 2.0]), pair(torch, [3.0])
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad((tx * 2).sum(), [tx, tz])
    with raises(RuntimeError, "input 1 appears not to have been used", "allow_unused=True"):
        anynn.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = anynn.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    tgx, tgz = torch.autograd.grad((tx * 2).sum(), [tx, tz], allow_unused=True)
    assert gz is None and tgz is None
    assert_close(gx, tgx.numpy())
    gx, gz = anynn.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    tgx, tgz = torch.autograd.grad((tx * 2).sum(), [tx, tz], materialize_grads=True)
    assert_close(gz, tgz.numpy())


def test_unsupported_options_say_so(backend):
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with raises(NotImplementedError, "create_graph=True", "higher-order gradients", "not supported yet"):
        anynn.autograd.grad(y, x, create_graph=True)
    with raises(NotImplementedError, "create_graph=True", "not supported yet"):
        y.backward(create_graph=True)
    with raises(NotImplementedError, "is_grads_batched=True"):
        anynn.autograd.grad(y, x, is_grads_batched=True)
    with raises(RuntimeError, "input 0 does not require grad"):
        anynn.autograd.grad(y, anynn.tensor([1.0]))
    with raises(RuntimeError, "does not require grad"):
        anynn.autograd.grad(anynn.tensor([1.0]).sum(), x)
    with raises(ValueError, "grad_outputs has 2 entries", "1 outputs"):
        anynn.autograd.grad(y, x, grad_outputs=[None, None])


def test_grad_fills_retained_grads_on_its_path_but_no_leaf_grad_like_torch(backend):
    """PyTorch's retain_grad() tensors get their .grad from grad() too, where grad() computes it: on a path to
    an input. A leaf's .grad and its post-accumulate hooks are left alone."""
    torch = torch_or_skip()
    x, tx = pair(torch, [1.0, 2.0])
    z, tz = pair(torch, [0.5, 0.5])
    calls = []
    handle = register_post_accumulate_grad_hook(x, lambda t: calls.append(t))
    try:
        results = []
        for xs, zs, grad in ((x, z, anynn.autograd.grad), (tx, tz, torch.autograd.grad)):
            on_path, off_path = xs * 3, zs.exp()
            on_path.retain_grad()
            off_path.retain_grad()
            g, = grad((on_path * on_path).sum() + (off_path * on_path).sum(), xs)
            results.append((g, on_path.grad, off_path.grad))
        (g, on, off), (tg, ton, toff) = results
        assert_close(g, tg.numpy())
        assert_close(on, ton.numpy())
        assert off is None and toff is None
        assert x.grad is None and z.grad is None and calls == []
    finally:
        handle.remove()


def test_returned_gradient_can_be_changed_in_place_without_corrupting_others(backend):
    """A gradient may share memory with the engine's constants (ones for a scalar root): writing into the
    returned tensor must not change what the next call returns."""
    x = anynn.tensor(2.0, requires_grad=True)
    g, = anynn.autograd.grad(x * 1, x)
    g.add_(5)
    again, = anynn.autograd.grad(x * 1, x)
    assert_close(g, 6.0)
    assert_close(again, 1.0)


@pytest.mark.parametrize("api", ["tensor", "function"])
def test_backward_with_inputs_accumulates_into_those_only_like_torch(backend, api):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    (x, tx), (w, tw) = pair(torch, rng.standard_normal((4, 3))), pair(torch, rng.standard_normal((3, 2)))
    hiddens = []
    for lib, xs, ws in ((anynn, x, w), (torch, tx, tw)):
        hidden, loss = program(lib, xs, ws)
        hiddens.append(hidden)
        if api == "tensor":
            loss.backward(inputs=[ws, hidden], retain_graph=True)
            loss.backward(inputs=[ws])
        else:
            lib.autograd.backward([loss], inputs=[ws, hidden], retain_graph=True)
            lib.autograd.backward(loss, inputs=ws)
    assert x.grad is None and tx.grad is None, "a leaf left out of inputs gets no gradient"
    assert_close(w.grad, tw.grad.numpy())
    assert_close(hiddens[0].grad, hiddens[1].grad.numpy())  # a non-leaf among inputs gets its .grad


def test_autograd_backward_over_several_outputs_matches_torch(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    (x, tx), (w, tw) = pair(torch, rng.standard_normal((4, 3))), pair(torch, rng.standard_normal((3, 2)))
    seed = rng.standard_normal((4, 2))
    hidden, loss = program(anynn, x, w)
    thidden, tloss = program(torch, tx, tw)
    anynn.autograd.backward([hidden, loss], [anynn.tensor(seed, dtype=anynn.float64), None])
    torch.autograd.backward([thidden, tloss], [torch.tensor(seed), None])
    assert_close(x.grad, tx.grad.numpy())
    assert_close(w.grad, tw.grad.numpy())

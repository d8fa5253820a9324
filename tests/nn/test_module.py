"""nn.Module, nn.Parameter and the containers against PyTorch: registry names and order, train/eval, zero_grad,
requires_grad_, apply, forward hooks, Sequential/ModuleList/ModuleDict, state_dict keys and loading (PyTorch
checkpoints, other backends' arrays, dtype casts, strict mismatch errors) and Module.to, on every backend."""
from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import anynn
from anynn import nn, optim
from helpers import assert_close, leaf, torch_leaf, torch_or_skip


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _mixed_model(lib):
    """Linear, Conv2d, BatchNorm2d and LSTM inside Sequential, ModuleList and ModuleDict; ``lib`` is anynn.nn or
    torch.nn, so both frameworks build the same model from the same code."""

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(lib.Conv2d(2, 3, 3, padding=1), lib.BatchNorm2d(3), lib.ReLU())
            self.rnn = lib.LSTM(3, 4)
            self.heads = lib.ModuleList([lib.Linear(4, 4), lib.Tanh(), lib.Linear(4, 2)])
            self.extra = lib.ModuleDict({"proj": lib.Linear(2, 2, bias=False), "norm": lib.BatchNorm1d(2)})

        def forward(self, x):
            f = self.features(x)
            out, _ = self.rnn(f.reshape(f.shape[0], f.shape[1], -1).permute(2, 0, 1))
            h = out[-1]
            for layer in self.heads:
                h = layer(h)
            return self.extra["norm"](self.extra["proj"](h))

    return Net()


def _twin_models():
    """The mixed model in anynn and torch, both float64, ours loaded from torch's state_dict as NumPy arrays."""
    torch = torch_or_skip()
    torch.manual_seed(0)  # a fixed draw: the suite's order must not change which weights are compared
    ours, theirs = _mixed_model(nn).double(), _mixed_model(torch.nn).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _assert_state_equal(ours, theirs):
    state, tstate = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(tstate)
    for key, value in tstate.items():
        assert state[key].shape == tuple(value.shape), key
        assert_close(state[key], value.detach().numpy())


def _names(pairs):
    return [name for name, _ in pairs]


# ------------------------------------------------------------------ registry
def _registry_model(lib, tensor):
    """Direct parameters and buffers (persistent or not, one None), a plain tensor attribute, nested containers."""

    class Holder(lib.Module):
        def __init__(self):
            super().__init__()
            self.scale = lib.Parameter(tensor(np.ones(3)))
            self.body = lib.Sequential(lib.Linear(2, 3), lib.ReLU(), lib.ModuleList([lib.Linear(3, 3, bias=False)]))
            self.register_buffer("counter", tensor(np.zeros(1)))
            self.register_buffer("scratch", tensor(np.zeros(2)), persistent=False)
            self.register_parameter("offset", None)
            self.plain = tensor(np.ones(1))
            self.head = lib.BatchNorm1d(3)

    return Holder()


def test_registry_names_and_order_match_torch(backend):
    torch = torch_or_skip()
    ours = _registry_model(nn, lambda a: anynn.tensor(a, dtype=anynn.float32))
    theirs = _registry_model(torch.nn, lambda a: torch.tensor(a, dtype=torch.float32))
    for method in ("named_parameters", "named_buffers", "named_children", "named_modules"):
        assert _names(getattr(ours, method)()) == _names(getattr(theirs, method)()), method
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
           [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())  # "scratch" is not persistent
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 6
    assert len(list(ours.buffers())) == len(list(theirs.buffers())) == 5
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in ours.parameters())
    assert not any(b.requires_grad for b in ours.buffers())
    assert ours.offset is None and "plain" not in ours.state_dict()
    assert ours.body[2][0].weight is dict(ours.named_parameters())["body.2.0.weight"]


def test_parameter_wraps_a_tensor_and_registers_on_assignment(backend):
    t = anynn.tensor(_x(2, 3))
    p = nn.Parameter(t)
    assert isinstance(p, anynn.Tensor) and p.requires_grad and p.is_leaf and p.grad is None
    assert p.array is t.array and p.backend is backend
    assert nn.Parameter(t, requires_grad=False).requires_grad is False
    layer = nn.Linear(3, 2)
    layer.extra = nn.Parameter(anynn.zeros(2))
    assert _names(layer.named_parameters()) == ["weight", "bias", "extra"]
    del layer.extra
    assert _names(layer.named_parameters()) == ["weight", "bias"]
    layer.bias = None
    assert _names(layer.named_parameters()) == ["weight"] and layer.bias is None
    assert list(layer.state_dict()) == ["weight"]


def test_assigning_a_tensor_to_a_buffer_keeps_it_a_buffer_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    ours.running_mean = anynn.ones(2)
    theirs.running_mean = torch.ones(2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert _names(ours.named_buffers()) == _names(theirs.named_buffers())
    np.testing.assert_array_equal(ours.state_dict()["running_mean"].numpy(), np.ones(2, dtype=np.float32))


def test_assigning_a_plain_tensor_to_a_parameter_raises_like_torch(backend):
    torch = torch_or_skip()
    with pytest.raises(TypeError, match=r"cannot assign 'torch.FloatTensor' as parameter 'weight'"):
        torch.nn.Linear(3, 2).weight = torch.ones(2, 3)
    layer = nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"as parameter 'weight' \(anynn.nn.Parameter or None expected\)"):
        layer.weight = layer.weight * 2.0
    assert _names(layer.named_parameters()) == ["weight", "bias"]


def test_shared_module_parameters_are_listed_once_and_saved_under_every_name(backend):
    torch = torch_or_skip()
    shared, tshared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours, theirs = nn.Sequential(shared, nn.ReLU(), shared), torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters()) == ["0.weight", "0.bias"]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_shared_module_is_visited_once_like_torch(backend):
    torch = torch_or_skip()
    shared, tshared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours, theirs = nn.Sequential(shared, nn.ReLU(), shared), torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    visited, tvisited = [], []
    ours.apply(lambda m: visited.append(type(m).__name__))
    theirs.apply(lambda m: tvisited.append(type(m).__name__))
    assert visited == tvisited == ["Linear", "ReLU", "Sequential"]
    assert _names(ours.named_modules()) == _names(theirs.named_modules()) == ["", "0", "1"]
    assert len(list(ours.children())) == len(list(theirs.children())) == 2


# ------------------------------------------------------------------ train/eval, grads, apply, hooks
def test_train_and_eval_propagate_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = _mixed_model(nn), _mixed_model(torch.nn)
    assert ours.eval() is ours
    theirs.eval()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    assert not any(m.training for m in ours.modules())
    assert ours.extra.train() is ours.extra
    theirs.extra.train()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    assert ours.train() is ours and all(m.training for m in ours.modules())
    ours.train(False)
    assert not any(m.training for m in ours.modules())


def test_eval_mode_changes_what_layers_compute(backend):
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3)).double()
    x = anynn.tensor(_x(8, 3) * 2 + 1)
    model(x)
    tracked = model[2].num_batches_tracked.item()
    model.eval()
    first, second = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(first, second)  # no dropout mask, running statistics fixed
    assert model[2].num_batches_tracked.item() == tracked == 1


def test_zero_grad_and_requires_grad_like_torch(backend):
    torch_or_skip()
    ours, theirs = _twin_models()
    x, tx = leaf(_x(2, 2, 2, 3)), torch_leaf(_x(2, 2, 2, 3))
    ours(x).sum().backward()
    theirs(tx).sum().backward()
    assert all(p.grad is not None for p in ours.parameters())
    ours.zero_grad()
    theirs.zero_grad()
    assert all(p.grad is None for p in ours.parameters()) and all(p.grad is None for p in theirs.parameters())

    assert ours.features.requires_grad_(False) is ours.features
    theirs.features.requires_grad_(False)
    assert [(k, p.requires_grad) for k, p in ours.named_parameters()] == \
           [(k, p.requires_grad) for k, p in theirs.named_parameters()]
    ours(x).sum().backward()
    theirs(tx).sum().backward()
    assert [(k, p.grad is None) for k, p in ours.named_parameters()] == \
           [(k, p.grad is None) for k, p in theirs.named_parameters()]
    assert all(p.grad is None for p in ours.features.parameters())
    assert_close(x.grad, tx.grad.numpy())  # the input still gets its gradient through the frozen layers
    tgrads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if p.grad is not None:
            assert_close(p.grad, tgrads[name].grad.numpy())
    ours.requires_grad_()
    assert all(p.requires_grad for p in ours.parameters())


def test_zero_grad_keeps_zeroed_grads_when_not_set_to_none(backend):
    layer = nn.Linear(3, 2)
    layer(anynn.ones(4, 3)).sum().backward()
    layer.zero_grad(set_to_none=False)
    for p in layer.parameters():
        assert p.grad is not None and p.grad.shape == p.shape
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, dtype=np.float32))


def test_apply_visits_children_first_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = _mixed_model(nn), _mixed_model(torch.nn)
    visited, tvisited = [], []
    assert ours.apply(lambda m: visited.append(type(m).__name__)) is ours
    theirs.apply(lambda m: tvisited.append(type(m).__name__))
    assert visited == tvisited

    def init_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    ours.apply(init_linear)
    linear = [m for m in ours.modules() if isinstance(m, nn.Linear)]
    assert len(linear) == 3
    for m in linear:
        np.testing.assert_array_equal(m.weight.numpy(), np.full(m.weight.shape, 0.5, dtype=np.float32))
    assert not np.all(ours.features[0].weight.numpy() == 0.5)


def test_forward_hook_sees_inputs_and_output_and_can_replace_it(backend):
    torch = torch_or_skip()
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    seen, tseen = [], []
    handle = ours[1].register_forward_hook(lambda m, args, out: seen.append((m, args, out)))
    theirs[1].register_forward_hook(lambda m, args, out: tseen.append((m, args, out)))
    x = _x(5, 3)
    out, tout = ours(anynn.tensor(x)), theirs(torch.tensor(x))
    assert len(seen) == 1 and seen[0][0] is ours[1]
    (_module, args, hooked), (_, targs, thooked) = seen[0], tseen[0]
    assert isinstance(args, tuple) and len(args) == len(targs) == 1
    assert_close(args[0], targs[0].detach().numpy())
    assert_close(hooked, thooked.detach().numpy())
    assert_close(out, tout.detach().numpy())

    replace = ours[1].register_forward_hook(lambda m, args, out: out * 0.0)
    theirs[1].register_forward_hook(lambda m, args, out: out * 0.0)
    out, tout = ours(anynn.tensor(x)), theirs(torch.tensor(x))
    assert len(seen) == 2  # hooks run in registration order: the first still sees the original output
    assert_close(seen[1][2], thooked.detach().numpy())
    assert_close(out, tout.detach().numpy())
    assert_close(out, np.broadcast_to(ours[2].bias.numpy(), (5, 2)))

    replace.remove()
    handle.remove()
    handle.remove()  # removing twice is harmless, as in torch
    assert_close(ours(anynn.tensor(x)), ours[2](ours[1](ours[0](anynn.tensor(x)))))
    assert len(seen) == 2


def test_forward_hook_output_replacement_is_differentiable(backend):
    layer = nn.Linear(3, 2).double()
    layer.register_forward_hook(lambda m, args, out: out * 3.0)
    x = leaf(_x(4, 3))
    layer(x).sum().backward()
    assert_close(x.grad, np.broadcast_to(3.0 * layer.weight.numpy().sum(axis=0), (4, 3)))
    assert_close(layer.bias.grad, np.full(2, 12.0))


# ------------------------------------------------------------------ containers
def _small_model(lib):
    return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
                          lib.Flatten(), lib.Linear(16, 10), lib.Dropout(0.2), lib.LogSoftmax(dim=1))


def test_sequential_repr_matches_torch(backend):
    torch = torch_or_skip()
    assert repr(_small_model(nn)) == repr(_small_model(torch.nn))
    named = OrderedDict([("body", _small_model(nn)), ("head", nn.Linear(10, 2))])
    tnamed = OrderedDict([("body", _small_model(torch.nn)), ("head", torch.nn.Linear(10, 2))])
    assert repr(nn.Sequential(named)) == repr(torch.nn.Sequential(tnamed))
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


def test_sequential_indexing_len_append_and_names(backend):
    torch = torch_or_skip()
    ours, theirs = _small_model(nn), _small_model(torch.nn)
    assert len(ours) == len(theirs) == 8
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert ours[0] is next(iter(ours)) and isinstance(ours[-1], nn.LogSoftmax) and ours[-3] is ours[5]
    part = ours[1:4]
    assert isinstance(part, nn.Sequential) and len(part) == 3
    assert [m for m in part] == [ours[1], ours[2], ours[3]]  # the same modules, not copies
    assert ours[::2][1] is ours[2]
    assert ours.append(nn.Softmax(dim=1)) is ours
    theirs.append(torch.nn.Softmax(dim=1))
    assert len(ours) == 9 and repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())

    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    tnamed = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(1, 2, 3)), ("act", torch.nn.ReLU())]))
    assert _names(named.named_children()) == _names(tnamed.named_children()) == ["conv", "act"]
    assert list(named.state_dict()) == list(tnamed.state_dict()) == ["conv.weight", "conv.bias"]
    assert named[0] is named.conv and named[-1] is named.act


def test_sequential_slice_keeps_names_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = _small_model(nn), _small_model(torch.nn)
    assert repr(ours[4:6]) == repr(theirs[4:6])
    assert list(ours[4:6].state_dict()) == list(theirs[4:6].state_dict()) == ["5.weight", "5.bias"]


def test_sequential_forward_matches_torch_with_named_layers(backend):
    torch = torch_or_skip()
    ours = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 4)), ("act", nn.GELU()), ("out", nn.Linear(4, 2))]))
    theirs = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(3, 4)), ("act", torch.nn.GELU()),
                                              ("out", torch.nn.Linear(4, 2))]))
    ours.double()
    theirs.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, tx = leaf(_x(5, 3)), torch_leaf(_x(5, 3))
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    assert_close(x.grad, tx.grad.numpy())
    assert_close(ours.fc.weight.grad, theirs.fc.weight.grad.numpy())


def test_module_list_registers_parameters_with_torch_names(backend):
    torch = torch_or_skip()
    ours = nn.ModuleList([nn.Linear(3, 3), nn.ReLU()])
    theirs = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.ReLU()])
    assert ours.append(nn.Linear(3, 2)) is ours
    theirs.append(torch.nn.Linear(3, 2))
    assert ours.extend([nn.BatchNorm1d(2)]) is ours
    theirs.extend([torch.nn.BatchNorm1d(2)])
    assert len(ours) == len(theirs) == 4
    assert ours[-1] is ours[3] and [m for m in ours] == [ours[i] for i in range(4)]
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])

    class TorchStack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])

    assert list(Stack().state_dict()) == list(TorchStack().state_dict()) == \
           ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]


def test_module_list_repr_compresses_repeats_like_torch(backend):
    torch = torch_or_skip()
    ours = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(),
                                  torch.nn.Linear(2, 3)])
    assert repr(ours) == repr(theirs)


def test_module_dict_registers_parameters_with_torch_names(backend):
    torch = torch_or_skip()
    ours = nn.ModuleDict({"enc": nn.Linear(3, 4), "act": nn.ReLU()})
    theirs = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 4), "act": torch.nn.ReLU()})
    ours["dec"] = nn.Linear(4, 3)
    theirs["dec"] = torch.nn.Linear(4, 3)
    assert list(ours) == list(ours.keys()) == list(theirs.keys()) == ["enc", "act", "dec"]
    assert len(ours) == 3 and "act" in ours and "missing" not in ours
    assert [type(m).__name__ for m in ours.values()] == [type(m).__name__ for m in theirs.values()]
    assert [k for k, _ in ours.items()] == ["enc", "act", "dec"] and ours["dec"] is ours.dec
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


# ------------------------------------------------------------------ state_dict and load_state_dict
def test_state_dict_keys_match_torch_for_a_mixed_model(backend):
    torch = torch_or_skip()
    ours, theirs = _mixed_model(nn), _mixed_model(torch.nn)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert ours.state_dict()["features.1.num_batches_tracked"].dtype == anynn.int64
    assert all(v.dtype == anynn.float32 for k, v in ours.state_dict().items() if "num_batches" not in k)


def test_state_dict_is_detached_from_the_graph(backend):
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    assert not any(v.requires_grad for v in state.values())
    assert state["weight"].array is layer.weight.array


def test_loaded_torch_state_dict_gives_identical_outputs_and_grads(backend):
    torch = torch_or_skip()
    ours, theirs = _twin_models()
    _assert_state_equal(ours, theirs)
    for step in range(2):  # training mode: batch statistics, then running statistics updated as in torch
        x, tx = leaf(_x(3, 2, 2, 3, seed=step)), torch_leaf(_x(3, 2, 2, 3, seed=step))
        out, tout = ours(x), theirs(tx)
        assert_close(out, tout.detach().numpy())
        g = _x(3, 2, seed=10 + step)
        out.backward(anynn.tensor(g))
        tout.backward(torch.tensor(g))
        assert_close(x.grad, tx.grad.numpy())
        tparams = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert_close(p.grad, tparams[name].grad.numpy())
        ours.zero_grad()
        theirs.zero_grad()
        _assert_state_equal(ours, theirs)
    ours.eval()
    theirs.eval()
    x = _x(2, 2, 2, 3, seed=5)
    assert_close(ours(anynn.tensor(x)), theirs(torch.tensor(x)).detach().numpy())


def test_loads_another_backends_tensors_and_arrays(backend):
    other = "torch" if backend.name != "torch" else "numpy"
    with anynn.use_backend(other):
        source = _mixed_model(nn)
        source.features[1].num_batches_tracked.array = anynn.tensor(7).array
    for state in (source.state_dict(), {k: v.array for k, v in source.state_dict().items()}):
        target = _mixed_model(nn)
        assert target.load_state_dict(state) == ([], [])
        for (key, value), (_, mine) in zip(source.state_dict().items(), target.state_dict().items()):
            assert mine.backend is backend and mine.dtype == value.dtype, key
            np.testing.assert_array_equal(mine.numpy(), value.numpy())
        assert target.features[1].num_batches_tracked.item() == 7


def test_float64_arrays_are_cast_to_the_parameters_dtype(backend):
    torch = torch_or_skip()
    theirs = _mixed_model(torch.nn).double()
    ours = _mixed_model(nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for key, value in theirs.state_dict().items():
        mine = ours.state_dict()[key]
        expected = value.numpy().astype(np.int64 if key.endswith("num_batches_tracked") else np.float32)
        assert mine.dtype == (anynn.int64 if key.endswith("num_batches_tracked") else anynn.float32), key
        np.testing.assert_array_equal(mine.numpy(), expected)
    out = ours(anynn.tensor(_x(2, 2, 2, 3), dtype=anynn.float32))
    assert out.dtype == anynn.float32


def _checkpoint_with_mismatches(model):
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    del state["features.0.bias"], state["rnn.weight_hh_l0"]
    state["heads.1.weight"] = np.zeros((2, 2))  # Tanh has no parameters: unexpected
    state["extra.stray"] = np.zeros(1)
    state["features.1.running_mean"] = np.zeros(4)  # model has 3 channels
    state["heads.2.weight"] = np.zeros((4, 2))  # transposed
    return state


def test_strict_mismatch_raises_listing_every_bad_key(backend):
    model = _mixed_model(nn)
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    state = _checkpoint_with_mismatches(model)
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    listed = dict(re.findall(r"^  (missing keys|unexpected keys|shape mismatches) \(\d+\): (.*)$", message, re.M))
    assert listed["missing keys"].split(", ") == ["features.0.bias", "rnn.weight_hh_l0"]
    assert listed["unexpected keys"].split(", ") == ["heads.1.weight", "extra.stray"]
    assert listed["shape mismatches"].split("; ") == [
        "features.1.running_mean: checkpoint (4,) vs model (3,)",
        "heads.2.weight: checkpoint (4, 2) vs model (2, 4)"]
    assert "missing keys (2)" in message and "unexpected keys (2)" in message and "shape mismatches (2)" in message
    assert "strict=False" in message
    for key, value in model.state_dict().items():  # nothing was copied
        np.testing.assert_array_equal(value.numpy(), before[key])


def test_strict_false_loads_the_rest_and_returns_what_did_not_match_like_torch(backend):
    torch = torch_or_skip()
    theirs = _mixed_model(torch.nn)
    ours = _mixed_model(nn)
    source = _mixed_model(torch.nn)
    state = {k: v.detach().numpy() for k, v in source.state_dict().items()}
    del state["features.0.bias"], state["rnn.weight_hh_l0"]
    state["heads.1.weight"] = np.zeros((2, 2))
    state["extra.stray"] = np.zeros(1)
    before = ours.features[0].bias.numpy().copy()
    missing, unexpected = ours.load_state_dict(state, strict=False)
    tresult = theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    assert (missing, unexpected) == (tresult.missing_keys, tresult.unexpected_keys)
    assert missing == ["features.0.bias", "rnn.weight_hh_l0"]
    assert unexpected == ["heads.1.weight", "extra.stray"]
    np.testing.assert_array_equal(ours.features[0].bias.numpy(), before)
    for key, value in ours.state_dict().items():
        if key in state:
            np.testing.assert_array_equal(value.numpy(), state[key])



# ------------------------------------------------------------------ Module.to, double, float
def test_to_another_backend_moves_in_place_and_the_optimizer_follows(backend):
    other = "torch" if backend.name != "torch" else "numpy"
    model = _mixed_model(nn).double()
    x = _x(2, 2, 2, 3)
    expected = model(anynn.tensor(x)).numpy()
    params, buffers = list(model.parameters()), list(model.buffers())
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert model.to(other) is model
    assert list(model.parameters()) == params and all(a is b for a, b in zip(model.parameters(), params))
    assert all(b.backend is anynn.backends.backend_for(other) for b in buffers)
    assert all(p.backend is anynn.backends.backend_for(other) for p in params)
    assert model.backend is anynn.backends.backend_for(other)
    assert model.features[1].num_batches_tracked.dtype == anynn.int64
    assert all(p.dtype == anynn.float64 and p.requires_grad for p in params)

    model.eval()
    out = model(anynn.tensor(x).to(other))
    model.train()
    assert out.backend is model.backend
    out = model(anynn.tensor(x).to(other))
    assert_close(out, expected)
    out.sum().backward()
    old = [(p.numpy().copy(), p.grad.numpy().copy()) for p in params]  # numpy() shares memory, as torch's
    opt.step()
    for p, (value, grad) in zip(params, old):
        assert p.backend is model.backend
        assert_close(p, value - 0.1 * grad)

    model.to(backend=backend.name)
    assert all(t.backend is backend for t in list(model.parameters()) + list(model.buffers()))
    assert model.features[1].num_batches_tracked.item() == 2


@pytest.mark.parametrize("how", ["to_dtype", "to_name", "double_float"])
def test_dtype_moves_keep_identity_and_integer_buffers(backend, how):
    model = _mixed_model(nn)
    params = list(model.parameters())
    opt = optim.SGD(model.parameters(), lr=0.5)
    if how == "to_dtype":
        assert model.to(anynn.float64) is model
    elif how == "to_name":
        assert model.to("float64") is model
    else:
        assert model.double() is model
    for t in list(model.parameters()) + list(model.buffers()):
        assert t.dtype == (anynn.int64 if t.shape == () else anynn.float64)
    assert all(a is b for a, b in zip(model.parameters(), params))
    model(anynn.tensor(_x(2, 2, 2, 3))).sum().backward()
    before = [(p.numpy().copy(), p.grad.numpy().copy()) for p in params]  # numpy() shares memory
    opt.step()
    for p, (value, grad) in zip(params, before):
        assert p.dtype == anynn.float64
        assert_close(p, value - 0.5 * grad)
    assert model.float() is model
    assert all(p.dtype == anynn.float32 for p in model.parameters())
    assert model.features[1].running_var.dtype == anynn.float32
    assert model.features[1].num_batches_tracked.dtype == anynn.int64
    assert model.features[1].num_batches_tracked.item() == 1


# ------------------------------------------------------------------ hooks (forward pre-hooks, backward hooks)
def _hooked_pair():
    torch = torch_or_skip()
    ours, theirs = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return torch, ours, theirs


def test_forward_pre_hooks_replace_inputs_in_order_like_torch(backend):
    torch, ours, theirs = _hooked_pair()
    results = []
    for model, lib in ((ours, anynn), (theirs, torch)):
        calls = []
        model.register_forward_pre_hook(lambda m, args: (calls.append("double"), args[0] * 2)[1])
        model.register_forward_pre_hook(lambda m, args: (calls.append("first"), None)[1], prepend=True)
        with model.register_forward_pre_hook(lambda m, args, kwargs: (calls.append("kw"), ((args[0] + 1,), kwargs))[1],
                                             with_kwargs=True):
            out = model(lib.tensor(_x(2, 3)))
        plain = model(lib.tensor(_x(2, 3)))
        results.append((calls, out.detach().numpy(), plain.detach().numpy()))
    (calls, out, plain), (tcalls, tout, tplain) = results
    assert calls == tcalls == ["first", "double", "kw", "first", "double"]
    assert_close(out, tout)
    assert_close(plain, tplain)


def test_forward_hook_with_kwargs_like_torch(backend):
    torch, ours, theirs = _hooked_pair()
    seen = []
    for model, lib in ((ours, anynn), (theirs, torch)):
        model.register_forward_hook(lambda m, args, kwargs, out: (seen.append(sorted(kwargs)), out * 0)[1],
                                    with_kwargs=True)
        assert np.all(model(input=lib.tensor(_x(1, 3))).detach().numpy() == 0)
    assert seen == [["input"], ["input"]]


@pytest.mark.parametrize("input_grad", [True, False])
def test_full_backward_hooks_see_and_replace_gradients_like_torch(backend, input_grad):
    torch, ours, theirs = _hooked_pair()
    found = []
    for model, lib, make in ((ours, anynn, leaf), (theirs, torch, torch_leaf)):
        log = []
        model.register_full_backward_pre_hook(lambda m, go: (log.append(("pre", go)), (go[0] * 3,))[1])
        model.register_full_backward_hook(
            lambda m, gi, go: (log.append(("full", gi, go)), None if gi[0] is None else (gi[0] + 1,))[1])
        x = make(_x(2, 3)) if input_grad else lib.tensor(_x(2, 3))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (model(x) * lib.tensor(_x(2, 2, seed=1))).sum().backward()
        assert any("no inputs require gradients" in str(w.message) for w in caught) == (not input_grad)
        found.append((log, None if x.grad is None else x.grad.numpy(), model.weight.grad.numpy()))
    (log, xgrad, wgrad), (tlog, txgrad, twgrad) = found
    assert [entry[0] for entry in log] == [entry[0] for entry in tlog] == ["pre", "full"]
    assert_close(log[0][1][0], tlog[0][1][0].numpy())
    full, tfull = log[1], tlog[1]
    assert len(full[1]) == len(tfull[1]) == 1 and (full[1][0] is None) == (tfull[1][0] is None) == (not input_grad)
    if input_grad:
        assert_close(full[1][0], tfull[1][0].numpy())
        assert_close(xgrad, txgrad)  # replaced by the hook: gi + 1
    assert_close(full[2][0], tfull[2][0].numpy())  # grad_output after the pre-hook tripled it
    assert_close(wgrad, twgrad)


def test_backward_hook_of_a_module_with_two_inputs_and_two_outputs_like_torch(backend):
    torch = torch_or_skip()

    def build(lib):
        class Pair(lib.Module):
            def forward(self, a, scale, b):
                return a * b * scale, a - b

        return Pair()

    found = []
    for model, lib, make in ((build(nn), anynn, leaf), (build(torch.nn), torch, torch_leaf)):
        log = []
        model.register_full_backward_hook(lambda m, gi, go: log.append((gi, go)))
        a, b = make(_x(3)), make(_x(3, seed=1))
        first, _ = model(a, 2.0, b)
        first.sum().backward()
        found.append((log, a.grad.numpy(), b.grad.numpy()))
    (log, ga, gb), (tlog, tga, tgb) = found
    assert len(log) == len(tlog) == 1
    (gi, go), (tgi, tgo) = log[0], tlog[0]
    assert len(gi) == len(tgi) == 3 and gi[1] is None and tgi[1] is None
    assert len(go) == len(tgo) == 2 and go[1] is None and tgo[1] is None  # the unused output: no gradient
    for ours_g, their_g in ((gi[0], tgi[0]), (gi[2], tgi[2]), (go[0], tgo[0]), (ga, tga), (gb, tgb)):
        assert_close(ours_g, their_g.numpy() if hasattr(their_g, "numpy") else their_g)


def test_backward_hooks_are_removed_by_their_handles_and_skipped_without_grad(backend):
    model = nn.Linear(2, 2)
    calls = []
    handle = model.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = anynn.ones(1, 2, requires_grad=True)
    with anynn.no_grad():
        model(x)
    model(x).sum().backward()
    handle.remove()
    model(x).sum().backward()
    assert calls == [1]


# ------------------------------------------------------------------ traversal and registration, as torch
def test_get_submodule_parameter_buffer_and_recurse_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = _mixed_model(nn), _mixed_model(torch.nn)
    for path in ("", "features", "features.1", "heads.2", "extra.norm"):
        assert type(ours.get_submodule(path)).__name__ == type(theirs.get_submodule(path)).__name__
    assert ours.get_parameter("heads.0.weight") is ours.heads[0].weight
    assert ours.get_buffer("features.1.running_mean") is ours.features[1].running_mean
    for getter in ("get_submodule", "get_parameter", "get_buffer"):
        with pytest.raises(AttributeError):
            getattr(theirs, getter)("features.7.weight")
        with pytest.raises(AttributeError):
            getattr(ours, getter)("features.7.weight")
    bn, tbn = ours.features[1], theirs.features[1]
    assert _names(bn.named_parameters(recurse=False)) == _names(tbn.named_parameters(recurse=False))
    assert _names(ours.named_parameters(recurse=False)) == _names(theirs.named_parameters(recurse=False)) == []
    assert _names(ours.named_buffers(prefix="m")) == _names(theirs.named_buffers(prefix="m"))
    shared = nn.Linear(2, 2)
    tshared = torch.nn.Linear(2, 2)
    both, tboth = nn.Sequential(shared, shared), torch.nn.Sequential(tshared, tshared)
    assert (_names(both.named_parameters(remove_duplicate=False))
            == _names(tboth.named_parameters(remove_duplicate=False)))
    assert len(list(both.parameters())) == len(list(tboth.parameters())) == 2


def test_registration_errors_like_torch(backend):
    torch = torch_or_skip()
    for lib, tensor in ((nn, anynn.zeros), (torch.nn, torch.zeros)):
        m = lib.Linear(2, 2)
        for call, error in ((lambda: m.register_buffer("a.b", tensor(1)), KeyError),
                            (lambda: m.register_buffer("", tensor(1)), KeyError),
                            (lambda: m.register_buffer("weight", tensor(1)), KeyError),
                            (lambda: m.register_buffer(3, tensor(1)), TypeError),
                            (lambda: m.register_buffer("x", [1.0]), TypeError),
                            (lambda: m.register_parameter("y", tensor(1)), TypeError),
                            (lambda: m.register_parameter("a.b", None), KeyError),
                            (lambda: m.add_module("a.b", lib.ReLU()), KeyError),
                            (lambda: m.add_module("z", 3), TypeError),
                            (lambda: m.train("yes"), ValueError)):
            with pytest.raises(error):
                call()
        m.register_buffer("kept", tensor(2))
        m.register_buffer("kept", tensor(3), persistent=False)  # re-registering a buffer is allowed
        assert "kept" not in m.state_dict()


# ------------------------------------------------------------------ ParameterList and ParameterDict
def test_parameter_list_registers_like_torch(backend):
    torch = torch_or_skip()
    ours = nn.ParameterList([nn.Parameter(anynn.zeros(2, 3)), anynn.ones(2), "note"])
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)), torch.ones(2), "note"])
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters()) == ["0", "1"]
    assert [type(v).__name__ for v in ours] == [type(v).__name__ for v in theirs]
    assert len(ours) == len(theirs) == 3 and ours[-1] == theirs[-1] == "note"
    assert ours[1].requires_grad and isinstance(ours[1], nn.Parameter)
    ours.append(anynn.zeros(1))
    theirs.append(torch.zeros(1))
    ours[0] = anynn.ones(4)
    theirs[0] = torch.ones(4)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0", "1", "3"]
    assert ours[0].shape == (4,) and len(ours[1:]) == len(theirs[1:]) == 3
    assert len(repr(ours).splitlines()) == len(repr(theirs).splitlines())
    with pytest.raises(IndexError):
        ours[7]


def test_parameter_dict_orders_keys_like_torch(backend):
    torch = torch_or_skip()
    ours = nn.ParameterDict({"b": anynn.zeros(2), "a": nn.Parameter(anynn.ones(1)), "c": 3})
    theirs = torch.nn.ParameterDict({"b": torch.zeros(2), "a": torch.nn.Parameter(torch.ones(1)), "c": 3})
    assert list(ours.keys()) == list(theirs.keys()) == ["a", "b", "c"]
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    ordered = OrderedDict([("z", anynn.zeros(1)), ("y", anynn.zeros(1))])
    tordered = OrderedDict([("z", torch.zeros(1)), ("y", torch.zeros(1))])
    assert list(nn.ParameterDict(ordered)) == list(torch.nn.ParameterDict(tordered)) == ["z", "y"]
    assert "a" in ours and ours.get("q", 5) == 5 and ours["c"] == 3
    assert isinstance(ours.pop("a"), nn.Parameter) and list(ours) == ["b", "c"]
    ours["d"] = anynn.zeros(3)
    assert list(ours.state_dict()) == ["b", "d"] and len(ours) == 3
    assert len(repr(ours).splitlines()) == 5


def test_parameter_containers_train_with_an_optimizer(backend):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([anynn.ones(2), anynn.ones(2)])
            self.scales = nn.ParameterDict({"s": anynn.ones(1)})

        def forward(self, x):
            return (x * self.weights[0] * self.weights[1] * self.scales["s"]).sum()

    model = Model()
    opt = optim.SGD(model.parameters(), lr=0.5)
    assert _names(model.named_parameters()) == ["weights.0", "weights.1", "scales.s"]
    model(anynn.tensor([1.0, 2.0])).backward()
    opt.step()
    assert model.weights[0].tolist() == [0.5, 0.0] and model.scales["s"].tolist() == [-0.5]  # 1 - 0.5 * (1 + 2)


# ------------------------------------------------------------------ lazy layers
def test_lazy_linear_becomes_a_linear_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = nn.LazyLinear(4), torch.nn.LazyLinear(4)
    assert repr(ours) == repr(theirs) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    assert ours.has_uninitialized_params() and theirs.has_uninitialized_params()
    weight = ours.weight
    opt = optim.SGD(ours.parameters(), lr=0.1)  # built before the first forward: holds the same objects
    out = ours(anynn.tensor(_x(5, 3), dtype=anynn.float32))
    theirs(torch.tensor(_x(5, 3), dtype=torch.float32))
    assert type(ours) is nn.Linear and type(theirs) is torch.nn.Linear and repr(ours) == repr(theirs)
    assert ours.weight is weight and ours.weight.shape == tuple(theirs.weight.shape) == (4, 3)
    assert isinstance(ours.weight, nn.Parameter) and not isinstance(ours.weight, nn.UninitializedParameter)
    bound = 1 / np.sqrt(3)
    assert np.all(np.abs(ours.weight.numpy()) <= bound) and np.abs(ours.weight.numpy()).max() > bound / 4
    assert list(ours.state_dict()) == list(theirs.state_dict())
    out.sum().backward()
    before = ours.weight.numpy().copy()
    opt.step()
    assert_close(ours.weight, before - 0.1 * ours.weight.grad.numpy())


def test_lazy_layers_load_a_state_dict_and_match_torch(backend):
    torch = torch_or_skip()
    theirs = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.LazyLinear(2)).double()
    x = _x(2, 3, 5, 5)
    expected = theirs(torch.tensor(x)).detach().numpy()
    ours = nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert_close(ours(anynn.tensor(x)), expected)
    assert repr(ours) == repr(theirs)
    fresh = nn.LazyConv1d(6, 2, groups=2)
    assert fresh(anynn.tensor(_x(1, 4, 7), dtype=anynn.float32)).shape == (1, 6, 6)
    assert repr(fresh) == repr(torch.nn.Conv1d(4, 6, 2, groups=2))


def test_lazy_layers_draw_nothing_before_their_first_forward(backend):
    anynn.manual_seed(3)
    expected = anynn.rand(4).tolist()
    anynn.manual_seed(3)
    layers = [nn.LazyLinear(3), nn.LazyConv1d(2, 3), nn.LazyConv2d(4, 3, groups=2)]
    assert anynn.rand(4).tolist() == expected
    assert all(layer.has_uninitialized_params() for layer in layers)


def test_module_list_and_sequential_edit_like_torch(backend):
    torch = torch_or_skip()
    found = []
    for lib in (nn, torch.nn):
        layers = lib.ModuleList([lib.ReLU(), lib.Tanh(), lib.Sigmoid()])
        del layers[0]
        layers.insert(1, lib.Identity())
        layers += [lib.ReLU()]
        popped = layers.pop(0)
        layers[0] = lib.Linear(1, 1)
        both = layers + lib.ModuleList([lib.Tanh()])
        seq = lib.Sequential(lib.ReLU(), lib.Tanh(), lib.Sigmoid())
        del seq[1]
        seq.insert(0, lib.Identity())
        seq.extend([lib.ReLU()])
        seq[1] = lib.Tanh()
        found.append(([type(m).__name__ for m in layers], _names(layers.named_modules()), type(layers[1:]).__name__,
                      type(popped).__name__, len(both), _names(seq.named_children()),
                      [type(m).__name__ for m in seq], type(seq.pop(1)).__name__, len(seq)))
    assert found[0] == found[1]


def test_state_dict_prefix_destination_and_keep_vars_like_torch(backend):
    torch = torch_or_skip()
    ours, theirs = _mixed_model(nn), _mixed_model(torch.nn)
    assert list(ours.state_dict(prefix="net.")) == list(theirs.state_dict(prefix="net."))
    into, tinto = OrderedDict(a=1), OrderedDict(a=1)
    assert ours.state_dict(destination=into) is into and list(into) == list(theirs.state_dict(destination=tinto))
    kept, detached = ours.state_dict(keep_vars=True), ours.state_dict()
    assert kept["features.0.weight"] is ours.features[0].weight and kept["features.0.weight"].requires_grad
    assert not detached["features.0.weight"].requires_grad
    assert theirs.state_dict(keep_vars=True)["features.0.weight"] is theirs.features[0].weight

"""Layers against their PyTorch twins: parameter names and shapes, state_dict keys, repr, forward and every
gradient in float64 with copied weights, BatchNorm's running statistics over several steps, eval mode, and
error messages naming the layer, on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn import nn
from helpers import assert_close, call_with_parameters, leaf, torch_leaf, torch_or_skip


def _copy_weights(ours: nn.Module, theirs) -> None:
    """Both modules in float64 with PyTorch's parameters and buffers copied into ours."""
    theirs.double()
    ours.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare(ours: nn.Module, theirs, x: np.ndarray, seed: int = 1) -> None:
    """Same output, input gradient, parameter gradients and buffers as the PyTorch module."""
    torch = torch_or_skip()
    xs, tx = leaf(x), torch_leaf(x)
    out, tout = ours(xs), theirs(tx)
    assert_close(out, tout.detach().numpy())
    g = np.random.default_rng(seed).standard_normal(tuple(tout.shape))
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(xs.grad, tx.grad.numpy())
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs_params[name].grad.numpy())
    _assert_same_state(ours, theirs)


def _assert_same_state(ours: nn.Module, theirs) -> None:
    state, tstate = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(tstate)
    for key, value in tstate.items():
        assert tuple(state[key].shape) == tuple(value.shape), key
        assert_close(state[key], value.detach().numpy())


def _twins(name: str, *args, **kwargs):
    """Our layer and PyTorch's, built with the same arguments; ours takes PyTorch's weights."""
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    _copy_weights(ours, theirs)
    return ours, theirs


def _x(*shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


# ------------------------------------------------------------------ repr and state_dict layout
REPR_CASES = [
    ("Linear", (784, 10), {}), ("Linear", (3, 2), {"bias": False}), ("Identity", (), {}),
    ("Flatten", (), {}), ("Flatten", (0, 2), {}), ("Unflatten", (1, (1, 28, 28)), {}),
    ("BatchNorm1d", (8,), {}), ("BatchNorm2d", (16,), {"momentum": None, "affine": False}),
    ("BatchNorm2d", (4,), {"eps": 1e-3, "track_running_stats": False}), ("BatchNorm3d", (2,), {}),
    ("LayerNorm", (10,), {}), ("LayerNorm", ((3, 4),), {"elementwise_affine": False}),
    ("LayerNorm", (5,), {"bias": False}),
    ("Dropout", (), {}), ("Dropout", (0.2,), {}), ("Dropout2d", (0.1,), {}),
    ("Embedding", (10, 3), {}), ("Embedding", (10, 3), {"padding_idx": 0}), ("Embedding", (10, 3), {"padding_idx": -1}),
    ("ReLU", (), {}), ("ReLU", (True,), {}), ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("PReLU", (), {}),
    ("PReLU", (3,), {"init": 0.1}), ("ELU", (), {}), ("ELU", (0.5,), {}), ("GELU", (), {}),
    ("GELU", ("tanh",), {}), ("Sigmoid", (), {}), ("Tanh", (), {}), ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {}), ("LogSoftmax", (), {"dim": -1}),
]


@pytest.mark.parametrize("name,args,kwargs", REPR_CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(REPR_CASES)])
def test_repr_parameters_and_state_dict_match_torch(backend, name, args, kwargs):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(p.shape)) for k, p in ours.named_parameters()] == \
           [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    state = ours.state_dict()
    assert [(k, v.shape) for k, v in state.items()] == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    if "num_batches_tracked" in state:
        assert state["num_batches_tracked"].dtype == anynn.int64


# ------------------------------------------------------------------ Linear, Identity, Flatten
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(backend, shape, bias):
    ours, theirs = _twins("Linear", 4, 3, bias=bias)
    _compare(ours, theirs, _x(*shape))


def test_linear_errors_name_the_layer(backend):
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError, match=r"^Linear\(in_features=784, out_features=10, bias=True\) got input of shape "
                                         r"\(32, 1, 28, 28\): expected \(\.\.\., 784\); flatten it first "
                                         r"\(nn\.Flatten\)$"):
        layer(anynn.zeros(32, 1, 28, 28))
    with pytest.raises(ValueError, match=r"got input of shape \(2, 3, 8, 8\): expected \(\.\.\., 784\); flatten it "
                                         r"first \(nn\.Flatten\) and set in_features to 192"):
        layer(anynn.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"got input of shape \(4, 100\): expected \(\.\.\., 784\); make "
                                         r"in_features match the previous layer's output size \(100\)"):
        layer(anynn.zeros(4, 100))


def test_identity_flatten_unflatten_match_torch(backend):
    torch = torch_or_skip()
    x = _x(2, 3, 4, 5)
    for ours, theirs in [(nn.Identity(54, foo=1), torch.nn.Identity(54, foo=1)), (nn.Flatten(), torch.nn.Flatten()),
                         (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)), (nn.Flatten(2), torch.nn.Flatten(2))]:
        _compare(ours, theirs, x)
    _compare(nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)), _x(2, 12))
    _compare(nn.Unflatten(-1, (2, -1)), torch.nn.Unflatten(-1, (2, -1)), _x(2, 3, 8))


def test_unflatten_error_names_the_layer(backend):
    with pytest.raises(ValueError, match=r"^Unflatten\(dim=1, unflattened_size=\(3, 5\)\) got input of shape "
                                         r"\(2, 12\): dimension 1 has size 12, which cannot be split into \(3, 5\)$"):
        nn.Unflatten(1, (3, 5))(anynn.zeros(2, 12))


# ------------------------------------------------------------------ BatchNorm
BN_CASES = [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (3, 3, 2, 4)),
            ("BatchNorm3d", (2, 3, 2, 2, 3))]


@pytest.mark.parametrize("name,shape", BN_CASES)
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.3, "affine": False},
                                    {"track_running_stats": False}])
def test_batchnorm_train_steps_then_eval_match_torch(backend, name, shape, kwargs):
    ours, theirs = _twins(name, shape[1], **kwargs)
    rng = np.random.default_rng(3)
    if ours.affine:  # non-trivial affine parameters
        w, b = rng.uniform(0.5, 1.5, shape[1]), rng.standard_normal(shape[1])
        with torch_or_skip().no_grad():
            theirs.weight.copy_(torch_or_skip().tensor(w))
            theirs.bias.copy_(torch_or_skip().tensor(b))
        _copy_weights(ours, theirs)
    for step in range(3):
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            p.grad, tp.grad = None, None
        _compare(ours, theirs, _x(*shape, seed=10 + step, scale=2.0, shift=1.0 + step), seed=step)
    ours.eval()
    theirs.eval()
    _compare(ours, theirs, _x(*shape, seed=20, scale=3.0, shift=-1.0), seed=5)
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked.item()) == 3


def test_batchnorm_eval_does_not_touch_running_stats(backend):
    bn = nn.BatchNorm2d(2).double().eval()
    before = {k: v.numpy() for k, v in bn.state_dict().items()}
    bn(anynn.tensor(_x(3, 2, 2, 2, shift=4.0)))
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_batchnorm_float32_buffers_stay_float32(backend):
    bn = nn.BatchNorm1d(3, momentum=None)
    out = bn(anynn.tensor(_x(4, 3), dtype=anynn.float32))
    assert out.dtype == bn.running_mean.dtype == bn.running_var.dtype == anynn.float32
    assert bn.num_batches_tracked.dtype == anynn.int64


def test_batchnorm_loads_a_torch_checkpoint_and_resets(backend):
    torch = torch_or_skip()
    theirs = torch.nn.BatchNorm2d(3)
    theirs(torch.randn(4, 3, 2, 2) * 3 + 2)
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert_close(ours.running_mean, theirs.running_mean.numpy())
    assert int(ours.num_batches_tracked.item()) == 1
    ours.reset_running_stats()
    assert_close(ours.running_mean, np.zeros(3))
    assert_close(ours.running_var, np.ones(3))
    assert int(ours.num_batches_tracked.item()) == 0


@pytest.mark.parametrize("train", [True, False])
def test_stack_of_layers_gradcheck(backend, train):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ELU(), nn.LayerNorm(4), nn.PReLU(4), nn.GELU(),
                          nn.Linear(4, 3), nn.Softmax(dim=1)).double().train(train)
    assert anynn.gradcheck(model, [leaf(_x(3, 3))])


def test_batchnorm_errors_name_the_layer(backend):
    with pytest.raises(ValueError, match=r"^BatchNorm2d\(16, eps=1e-05, momentum=0\.1, affine=True, bias=True, "
                                         r"track_running_stats=True\) got input of shape \(4, 8, 5, 5\): expected "
                                         r"16 channels in dimension 1, got 8; set num_features=8"):
        nn.BatchNorm2d(16)(anynn.zeros(4, 8, 5, 5))
    with pytest.raises(ValueError, match=r"^BatchNorm2d\(16, .*\) got input of shape \(4, 16\): expected 4-D input "
                                         r"\(N, C, H, W\) with C=16; for a 2-D input use nn\.BatchNorm1d$"):
        nn.BatchNorm2d(16)(anynn.zeros(4, 16))
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(3, .*\) got input of shape \(3,\): expected \(N, C\) or "
                                         r"\(N, C, L\) with C=3; batch normalisation needs a batch dimension"):
        nn.BatchNorm1d(3)(anynn.zeros(3))
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(anynn.zeros(1, 3))


# ------------------------------------------------------------------ LayerNorm
@pytest.mark.parametrize("normalized,shape", [(4, (3, 4)), ((3, 4), (2, 3, 4)), (5, (2, 3, 5))])
@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False}])
def test_layernorm_matches_torch(backend, normalized, shape, kwargs):
    torch = torch_or_skip()
    ours, theirs = _twins("LayerNorm", normalized, eps=1e-4, **kwargs)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(_x(*p.shape, seed=9)))
    _copy_weights(ours, theirs)
    _compare(ours, theirs, _x(*shape, scale=2.0, shift=3.0))


def test_layernorm_error_names_the_layer(backend):
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(3, 4\), eps=1e-05, elementwise_affine=True, bias=True\) "
                                         r"got input of shape \(2, 4, 3\): expected \(\*, 3, 4\)"):
        nn.LayerNorm((3, 4))(anynn.zeros(2, 4, 3))


# ------------------------------------------------------------------ Dropout
def test_dropout_modules_train_and_eval(backend):
    x = anynn.ones(20, 8, 3, 3, dtype=anynn.float64)
    for layer in (nn.Dropout(0.5), nn.Dropout2d(0.5)):
        out = layer(x).numpy()
        assert 0 < (out == 0).mean() < 1 and set(np.unique(out)) <= {0.0, 2.0}
        layer.eval()
        assert layer(x) is x
    with pytest.raises(ValueError, match=r"Dropout: dropout probability has to be between 0 and 1, but got -0.1"):
        nn.Dropout(-0.1)
    with pytest.raises(ValueError, match=r"^Dropout2d\(p=0\.5, inplace=False\) got input of shape \(3,\)"):
        nn.Dropout2d()(anynn.zeros(3))  # 2-D (N, C) warns and runs, as in PyTorch (tests/ops/test_dropout.py)


def test_dropout_in_a_model_is_reproducible(backend):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    x = anynn.tensor(_x(5, 4), dtype=anynn.float32)
    anynn.manual_seed(3)
    first = model(x).numpy()
    anynn.manual_seed(3)
    np.testing.assert_array_equal(model(x).numpy(), first)


# ------------------------------------------------------------------ Embedding
@pytest.mark.parametrize("padding_idx", [None, 1, -2])
def test_embedding_matches_torch(backend, padding_idx):
    torch = torch_or_skip()
    ours, theirs = _twins("Embedding", 6, 3, padding_idx=padding_idx)
    index = np.array([[1, 4, 1], [0, 1, 5]])
    out, tout = ours(anynn.tensor(index)), theirs(torch.tensor(index))
    assert_close(out, tout.detach().numpy())
    g = _x(2, 3, 3, seed=4)
    out.backward(anynn.tensor(g))
    tout.backward(torch.tensor(g))
    assert_close(ours.weight.grad, theirs.weight.grad.numpy())


def test_embedding_from_pretrained(backend):
    torch = torch_or_skip()
    table = _x(4, 2)
    ours = nn.Embedding.from_pretrained(anynn.tensor(table), padding_idx=0)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), padding_idx=0)
    assert repr(ours) == repr(theirs)
    assert ours.weight.requires_grad is False
    assert nn.Embedding.from_pretrained(anynn.tensor(table), freeze=False).weight.requires_grad is True
    assert_close(ours(anynn.tensor([3, 0])), theirs(torch.tensor([3, 0])).numpy())


def test_embedding_errors_name_the_layer(backend):
    layer = nn.Embedding(10, 3)
    with pytest.raises(TypeError, match=r"^Embedding\(10, 3\) got indices of dtype anynn.float32: expected an "
                                        r"integer tensor \(int64\) of row numbers; convert with \.long\(\)$"):
        layer(anynn.tensor([1.0, 2.0]))
    with pytest.raises(NotImplementedError, match=r"max_norm, scale_grad_by_freq and sparse are not supported"):
        nn.Embedding(10, 3, max_norm=1.0)
    with pytest.raises(ValueError, match=r"padding_idx must be within \[-10, 10\)"):
        nn.Embedding(10, 3, padding_idx=10)


# ------------------------------------------------------------------ activations
ACTIVATIONS = [("ReLU", (), {}), ("LeakyReLU", (0.1,), {}), ("ELU", (0.7,), {}), ("GELU", (), {}),
               ("GELU", ("tanh",), {}), ("Sigmoid", (), {}), ("Tanh", (), {}), ("Softmax", (), {"dim": 1}),
               ("LogSoftmax", (), {"dim": -1}), ("PReLU", (), {}), ("PReLU", (3,), {"init": 0.1})]


@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS, ids=[f"{c[0]}{i}" for i, c in enumerate(ACTIVATIONS)])
def test_activation_modules_match_torch(backend, name, args, kwargs):
    ours, theirs = _twins(name, *args, **kwargs)
    _compare(ours, theirs, _x(2, 3, 4, scale=2.0))


def test_prelu_errors_name_the_layer(backend):
    with pytest.raises(ValueError, match=r"^PReLU\(num_parameters=3\) got input of shape \(2, 4\): expected 3 "
                                         r"channels in dimension 1"):
        nn.PReLU(3)(anynn.zeros(2, 4))
    with pytest.raises(ValueError, match=r"GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_small_model_trains_like_torch(backend):
    """Linear + BatchNorm1d + GELU + LayerNorm + LogSoftmax, two SGD steps by hand, parameters stay equal."""
    torch = torch_or_skip()
    ours = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.GELU(), nn.LayerNorm(4), nn.Linear(4, 3),
                         nn.LogSoftmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.GELU(),
                                 torch.nn.LayerNorm(4), torch.nn.Linear(4, 3), torch.nn.LogSoftmax(dim=1))
    _copy_weights(ours, theirs)
    for step in range(2):
        x = _x(6, 5, seed=step)
        loss = ours(anynn.tensor(x)).sum(axis=1).mean() * -1.0
        tloss = -theirs(torch.tensor(x)).sum(dim=1).mean()
        assert_close(loss, tloss.detach().numpy())
        loss.backward()
        tloss.backward()
        with anynn.no_grad(), torch.no_grad():
            for p, tp in zip(ours.parameters(), theirs.parameters()):
                p.array = (p - 0.1 * p.grad).array
                p.grad = None
                tp -= 0.1 * tp.grad
                tp.grad = None
    _assert_same_state(ours, theirs)


# ------------------------------------------------------------------ gradcheck with parameter gradients

@pytest.mark.parametrize("name,args,shape,train", [
    ("Linear", (3, 2), (2, 3), True), ("Linear", (3, 2), (2, 2, 3), True),
    ("BatchNorm2d", (2,), (3, 2, 2, 2), True), ("BatchNorm2d", (2,), (3, 2, 2, 2), False),
], ids=["Linear", "Linear-3d", "BatchNorm2d-train", "BatchNorm2d-eval"])
def test_layer_gradcheck_with_parameters(backend, name, args, shape, train):
    """The module's forward, with the input and every parameter finite-differenced (weight, bias)."""
    layer = getattr(nn, name)(*args).double().train(train)
    if name == "BatchNorm2d":
        layer.load_state_dict({"weight": _x(2, seed=1), "bias": _x(2, seed=2), "running_mean": _x(2, seed=3),
                               "running_var": np.array([0.5, 2.0]), "num_batches_tracked": np.array(1)})
    params = list(layer.parameters())
    assert len(params) == 2
    assert anynn.gradcheck(lambda x, *ps: call_with_parameters(layer, x, ps), [leaf(_x(*shape))] + params)


def test_dropout2d_gradcheck(backend):
    """nn.Dropout2d with the generator reseeded inside the checked function, so every call draws the same mask."""
    layer = nn.Dropout2d(0.5)
    x = leaf(_x(3, 4, 2, 2, seed=6))

    def reseeded(t):
        anynn.manual_seed(11)
        return layer(t)

    dropped = (reseeded(x).numpy() == 0).reshape(12, 4).all(axis=1)
    assert 0 < dropped.sum() < 12  # the mask both drops and keeps channels
    assert anynn.gradcheck(reseeded, [x])

"""nn.RNN/LSTM/GRU and their cells: PyTorch's parameters, state_dict, repr and init; with weights loaded from
a PyTorch state_dict, outputs, final states and every gradient equal PyTorch's (float64) on every backend;
unbatched inputs, dropout in training only, float32 round trip, and errors naming the layer."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import anynn
from anynn import nn
from helpers import F32, assert_close, call_with_parameters, leaf, torch_leaf, torch_or_skip

CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {})]
LAYERS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
CONFIGS = [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True, "bias": False},
           {"num_layers": 2, "batch_first": True, "bidirectional": True}]


def _pair(name, *args, **kwargs):
    """Our layer and PyTorch's, both float64, ours loaded from PyTorch's state_dict converted to NumPy."""
    torch = torch_or_skip()
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _flatten(out):
    """(output, h_n) or (output, (h_n, c_n)) or (h, c) or h as a flat tuple."""
    if not isinstance(out, tuple):
        return (out,)
    return tuple(t for o in out for t in _flatten(o))


def _run_and_compare(ours, theirs, x, states):
    """Forward both, compare every output, backprop the same random weights, compare input/state/param grads."""
    torch = torch_or_skip()
    mine, ref = [leaf(x)] + [leaf(s) for s in states], [torch_leaf(x)] + [torch_leaf(s) for s in states]
    is_lstm = type(ours).__name__.startswith("LSTM")
    hx, thx = None, None
    if states:
        hx, thx = (tuple(mine[1:]), tuple(ref[1:])) if is_lstm else (mine[1], ref[1])
    out, tout = _flatten(ours(mine[0], hx)), _flatten(theirs(ref[0], thx))
    assert len(out) == len(tout)
    rng = np.random.default_rng(99)
    loss, tloss = 0.0, 0.0
    for o, t in zip(out, tout):
        assert o.shape == tuple(t.shape)
        assert_close(o, t.detach().numpy())
        w = rng.standard_normal(o.shape)
        loss = (o * anynn.tensor(w, dtype=anynn.float64)).sum() + loss
        tloss = (t * torch.tensor(w)).sum() + tloss
    loss.backward()
    tloss.backward()
    for m, r in zip(mine, ref):
        assert_close(m.grad, r.grad.numpy())
    params, tparams = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(params) == list(tparams)
    for name, p in params.items():
        assert_close(p.grad, tparams[name].grad.numpy())


@pytest.mark.parametrize("name,kwargs", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("given_state", [True, False])
def test_cell_matches_torch(backend, name, kwargs, bias, given_state):
    ours, theirs = _pair(name, 3, 4, bias=bias, **kwargs)
    rng = np.random.default_rng(0)
    states = [rng.standard_normal((2, 4)) for _ in range(2 if name == "LSTMCell" else 1)] if given_state else []
    _run_and_compare(ours, theirs, rng.standard_normal((2, 3)), states)


@pytest.mark.parametrize("name,kwargs", LAYERS)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("given_state", [True, False])
def test_layer_matches_torch(backend, name, kwargs, config, given_state):
    ours, theirs = _pair(name, 3, 4, **kwargs, **config)
    rng = np.random.default_rng(1)
    steps, batch = 5, 2
    layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = rng.standard_normal((batch, steps, 3) if config.get("batch_first") else (steps, batch, 3))
    count = 2 if name == "LSTM" else 1
    states = [rng.standard_normal((layers, batch, 4)) for _ in range(count)] if given_state else []
    _run_and_compare(ours, theirs, x, states)


@pytest.mark.parametrize("name,kwargs", CELLS)
def test_cell_unbatched_matches_torch(backend, name, kwargs):
    ours, theirs = _pair(name, 3, 4, **kwargs)
    rng = np.random.default_rng(2)
    _run_and_compare(ours, theirs, rng.standard_normal(3),
                     [rng.standard_normal(4) for _ in range(2 if name == "LSTMCell" else 1)])


@pytest.mark.parametrize("name,kwargs", LAYERS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_unbatched_matches_torch(backend, name, kwargs, batch_first):
    ours, theirs = _pair(name, 3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, **kwargs)
    rng = np.random.default_rng(3)
    _run_and_compare(ours, theirs, rng.standard_normal((5, 3)),
                     [rng.standard_normal((4, 4)) for _ in range(2 if name == "LSTM" else 1)])


# ---------------------------------------------------------------- parameters, state_dict, repr, init
@pytest.mark.parametrize("name,kwargs,config",
                         [(n, k, c) for n, k in CELLS for c in ({}, {"bias": False})] +
                         [(n, k, c) for n, k in LAYERS for c in ({}, {"bias": False},
                                                                 {"num_layers": 3, "bidirectional": True})])
def test_parameters_and_state_dict_keys_match_torch(backend, name, kwargs, config):
    torch = torch_or_skip()
    theirs = getattr(torch.nn, name)(3, 4, **kwargs, **config)
    ours = getattr(nn, name)(3, 4, **kwargs, **config)
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == \
           [(k, v.shape) for k, v in ours.state_dict().items()]
    assert repr(ours) == repr(theirs)
    assert all(p.requires_grad for p in ours.parameters())
    if config.get("bias") is False and "Cell" in name:
        assert ours.bias_ih is None and ours.bias_hh is None


@pytest.mark.parametrize("name,config", [("RNN", {"num_layers": 2, "bias": False, "batch_first": True,
                                                  "dropout": 0.5, "bidirectional": True}),
                                         ("RNNCell", {"bias": False, "nonlinearity": "relu"})])
def test_repr_with_options_matches_torch(backend, name, config):
    torch = torch_or_skip()
    assert repr(getattr(nn, name)(3, 4, **config)) == repr(getattr(torch.nn, name)(3, 4, **config))


@pytest.mark.parametrize("name", ["LSTM", "GRUCell"])
def test_init_is_uniform_in_one_over_sqrt_hidden(backend, name):
    layer = getattr(nn, name)(48, 64)
    bound = 1.0 / math.sqrt(64)
    values = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
    assert values.dtype == np.float32
    assert np.all(np.abs(values) <= bound)
    assert abs(values.std() - bound / math.sqrt(3.0)) < 0.01 * bound
    assert abs(values.mean()) < 0.01 * bound
    assert len({p.numpy().tobytes() for p in layer.parameters()}) == len(list(layer.parameters()))


def test_float32_torch_state_dict_loads_and_matches(backend):
    torch = torch_or_skip()
    theirs = torch.nn.LSTM(6, 5, num_layers=2, batch_first=True)
    ours = nn.LSTM(6, 5, num_layers=2, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((3, 7, 6)).astype(np.float32)
    out, (h_n, c_n) = ours(anynn.tensor(x))
    tout, (th, tc) = theirs(torch.tensor(x))
    assert out.dtype == h_n.dtype == c_n.dtype == anynn.float32
    for a, b in ((out, tout), (h_n, th), (c_n, tc)):
        assert_close(a, b.detach().numpy(), **F32)
    (out.sum() + h_n.sum()).backward()
    assert all(p.grad.dtype == anynn.float32 for p in ours.parameters())


# ---------------------------------------------------------------- dropout between layers
def test_dropout_between_layers_only_in_train_mode(backend):
    ours, theirs = _pair("GRU", 3, 6, num_layers=3, dropout=0.5)
    x = anynn.tensor(np.random.default_rng(5).standard_normal((4, 2, 3)), dtype=anynn.float64)
    first, _ = ours(x)
    second, _ = ours(x)
    assert not np.allclose(first.numpy(), second.numpy())
    ours.eval()
    theirs.eval()
    evaluated, h_n = ours(x)
    tout, th = theirs(torch_or_skip().tensor(x.numpy()))
    assert_close(evaluated, tout.detach().numpy())
    assert_close(h_n, th.detach().numpy())
    assert not np.allclose(first.numpy(), evaluated.numpy())


def test_dropout_with_one_layer_warns_and_changes_nothing(backend):
    with pytest.warns(UserWarning, match=r"LSTM: dropout option adds dropout after all but last recurrent layer"):
        layer = nn.LSTM(3, 4, dropout=0.3)
    x = anynn.tensor(np.random.default_rng(6).standard_normal((4, 2, 3)), dtype=anynn.float32)
    trained = layer(x)[0]
    assert_close(trained, layer.eval()(x)[0])


def test_no_warning_without_dropout(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(3, 4)
        nn.GRU(3, 4, num_layers=2, dropout=0.2)


# ---------------------------------------------------------------- errors naming the layer
def test_layer_input_errors(backend):
    layer = nn.LSTM(28, 64)
    with pytest.raises(ValueError, match=r"^LSTM\(28, 64\) got input with 30 features at the last axis: expected "
                                         r"28 \(input_size\) in the layout \(seq_len, batch, 28\)"):
        layer(anynn.zeros(5, 2, 30))
    with pytest.raises(ValueError, match=r"^LSTM\(28, 64\) got input of shape \(5, 2, 1, 28\): expected \(seq_len, "
                                         r"batch, 28\) or unbatched \(seq_len, 28\)"):
        layer(anynn.zeros(5, 2, 1, 28))
    with pytest.raises(ValueError, match=r"^GRU\(3, 4, batch_first=True\) got input of shape \(3,\): expected "
                                         r"\(batch, seq_len, 3\)"):
        nn.GRU(3, 4, batch_first=True)(anynn.zeros(3))
    with pytest.raises(ValueError, match=r"the sequence is empty \(seq_len 0\)"):
        layer(anynn.zeros(0, 2, 28))
    with pytest.raises(TypeError, match=r"^LSTM\(28, 64\) got input of type numpy.ndarray: expected an anynn "
                                        r"Tensor; wrap arrays and lists with anynn.tensor"):
        layer(np.zeros((5, 2, 28)))
    with pytest.raises(TypeError, match=r"^LSTM\(28, 64\) got input of dtype float64 but its parameters are "
                                        r"float32"):
        layer(anynn.zeros(5, 2, 28, dtype=anynn.float64))


def test_layer_state_errors(backend):
    x = anynn.zeros(5, 2, 3)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    good = anynn.zeros(4, 2, 4)
    with pytest.raises(ValueError, match=r"^LSTM\(3, 4, num_layers=2, bidirectional=True\) got c_0 of shape "
                                         r"\(2, 2, 4\): expected \(4, 2, 4\); the state is \(num_layers \* "
                                         r"num_directions, batch, hidden_size\) = \(2 \* 2, batch, 4\)"):
        lstm(x, (good, anynn.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"got h_0 of shape \(4, 4\): expected \(4, 2, 4\)"):
        lstm(x, (anynn.zeros(4, 4), good))
    with pytest.raises(TypeError, match=r"got hx of type Tensor: expected a pair \(h_0, c_0\) or None"):
        lstm(x, good)
    with pytest.raises(ValueError, match=r"got only one of h_0 and c_0"):
        lstm(x, (good, None))
    with pytest.raises(ValueError, match=r"^GRU\(3, 4\) got hx of shape \(1, 3, 4\): expected \(1, 2, 4\)"):
        nn.GRU(3, 4)(x, anynn.zeros(1, 3, 4))
    with pytest.raises(ValueError, match=r"^RNN\(3, 4\) got hx of shape \(1, 2, 4\): expected \(1, 4\)"):
        nn.RNN(3, 4)(anynn.zeros(5, 3), anynn.zeros(1, 2, 4))


def test_cell_errors(backend):
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"^LSTMCell\(3, 4\) got input with 5 features at the last axis: "
                                         r"expected 3 \(input_size\)"):
        cell(anynn.zeros(2, 5))
    with pytest.raises(ValueError, match=r"^LSTMCell\(3, 4\) got input of shape \(7, 2, 3\): expected \(batch, 3\) "
                                         r"or unbatched \(3,\); for a whole sequence use the layer LSTM\(3, 4\)"):
        cell(anynn.zeros(7, 2, 3))
    with pytest.raises(ValueError, match=r"^LSTMCell\(3, 4\) got c_0 of shape \(2, 5\): expected \(2, 4\)"):
        cell(anynn.zeros(2, 3), (anynn.zeros(2, 4), anynn.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"^GRUCell\(3, 4, bias=False\) got hx of shape \(4,\): expected \(2, 4\)"):
        nn.GRUCell(3, 4, bias=False)(anynn.zeros(2, 3), anynn.zeros(4))


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"^RNN got nonlinearity='sigmoid': expected 'tanh' or 'relu'$"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"^RNNCell got nonlinearity='gelu': expected 'tanh' or 'relu'$"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"LSTM: dropout should be a number in range \[0, 1\]"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"GRU: num_layers must be a positive integer, got 0"):
        nn.GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match=r"LSTMCell: hidden_size must be a positive integer, got 0"):
        nn.LSTMCell(3, 0)


# ---------------------------------------------------------------- gradcheck with parameter gradients

@pytest.mark.parametrize("name,kwargs,shape", [
    ("LSTM", {}, (3, 2, 2)),
    ("LSTM", {"batch_first": True}, (3, 2)),
    ("RNN", {}, (3, 2, 2)),
    ("RNN", {"nonlinearity": "relu", "bias": False}, (3, 2)),
    ("RNNCell", {"nonlinearity": "relu"}, (3, 2)),
    ("RNNCell", {"nonlinearity": "relu"}, (2,)),
], ids=["LSTM", "LSTM-unbatched", "RNN-tanh", "RNN-relu-unbatched", "RNNCell-relu", "RNNCell-relu-unbatched"])
def test_module_gradcheck_with_parameters(backend, name, kwargs, shape):
    """The module's forward (batched and unbatched), with the input and every parameter finite-differenced; every
    output (the sequence and the final states) is checked."""
    layer = getattr(nn, name)(2, 2, **kwargs).double()
    for p in layer.parameters():  # spread beyond U(±1/√2) so relu units switch on and off
        p.array = anynn.tensor(np.random.default_rng(len(p.shape)).standard_normal(p.shape)).array
    params = list(layer.parameters())

    def run(x, *ps):
        return _flatten(call_with_parameters(layer, x, ps))

    assert anynn.gradcheck(run, [leaf(np.random.default_rng(15).standard_normal(shape))] + params)

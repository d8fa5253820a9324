"""ops.recurrent: cells and stacked sequences equal PyTorch's (float64) in outputs, states and every gradient;
gradcheck through every gate; dropout between layers; dtypes and errors, on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.ops import recurrent as R
from anynn.ops.dropout import dropout
from helpers import assert_close, leaf, torch_leaf, torch_or_skip

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _weights(rng, mode, input_size, hidden, bias):
    g = GATES[mode] * hidden
    shapes = [(g, input_size), (g, hidden)] + ([(g,), (g,)] if bias else [])
    return [rng.standard_normal(s) * 0.5 for s in shapes]


def _sequence_weights(rng, mode, input_size, hidden, layers, directions, bias):
    out = []
    for layer in range(layers):
        for _ in range(directions):
            out += _weights(rng, mode, input_size if layer == 0 else hidden * directions, hidden, bias)
    return out


def _backprop(outputs, rng, torch=None):
    """Backprop fixed random weights on every output; returns the weights so the other side can reuse them."""
    weights = [rng.standard_normal(o.shape) for o in outputs]
    if torch is None:
        loss = sum(((o * anynn.tensor(w, dtype=anynn.float64)).sum() for o, w in zip(outputs, weights)),
                   anynn.tensor(0.0, dtype=anynn.float64))
    else:
        loss = sum((o * torch.tensor(w)).sum() for o, w in zip(outputs, weights))
    loss.backward()


def _assert_grads(mine, ref):
    for m, r in zip(mine, ref):
        assert_close(m.grad, r.grad.numpy())


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(backend, mode, bias):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    batch, input_size, hidden = 3, 4, 5
    arrays = [rng.standard_normal((batch, input_size)), rng.standard_normal((batch, hidden))]
    if mode == "lstm":
        arrays.append(rng.standard_normal((batch, hidden)))
    arrays += _weights(rng, mode, input_size, hidden, bias)
    mine, ref = [leaf(a) for a in arrays], [torch_leaf(a) for a in arrays]
    ours, theirs = getattr(R, f"{mode}_cell"), getattr(torch, f"{mode}_cell")
    if mode == "lstm":
        out, tout = ours(mine[0], (mine[1], mine[2]), *mine[3:]), theirs(ref[0], (ref[1], ref[2]), *ref[3:])
    else:
        out, tout = (ours(*mine),), (theirs(*ref),)
    for o, t in zip(out, tout):
        assert_close(o, t.detach().numpy())
    _backprop(out, np.random.default_rng(1))
    _backprop(tout, np.random.default_rng(1), torch)
    _assert_grads(mine, ref)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias", [
    (1, False, False, True), (2, True, False, True), (2, False, True, False), (1, True, True, True)])
def test_sequence_matches_torch(backend, mode, layers, bidirectional, batch_first, bias):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    steps, batch, input_size, hidden = 4, 2, 3, 4
    directions = 2 if bidirectional else 1
    x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    states = [rng.standard_normal((layers * directions, batch, hidden)) for _ in range(2 if mode == "lstm" else 1)]
    weights = _sequence_weights(rng, mode, input_size, hidden, layers, directions, bias)
    arrays = [rng.standard_normal(x_shape)] + states + weights
    mine, ref = [leaf(a) for a in arrays], [torch_leaf(a) for a in arrays]
    n = len(states) + 1
    options = (bias, layers, 0.0, False, bidirectional, batch_first)
    hx, thx = (tuple(mine[1:n]), tuple(ref[1:n])) if mode == "lstm" else (mine[1], ref[1])
    out = getattr(R, mode)(mine[0], hx, mine[n:], *options)
    tout = getattr(torch, mode)(ref[0], thx, ref[n:], *options)
    assert len(out) == len(tout)
    for o, t in zip(out, tout):
        assert o.shape == tuple(t.shape)
        assert_close(o, t.detach().numpy())
    _backprop(out, np.random.default_rng(3))
    _backprop(tout, np.random.default_rng(3), torch)
    _assert_grads(mine, ref)


def test_sequence_without_initial_state_starts_from_zeros(backend):
    rng = np.random.default_rng(4)
    x = leaf(rng.standard_normal((3, 2, 3)))
    params = [leaf(w) for w in _sequence_weights(rng, "lstm", 3, 2, 1, 2, True)]
    zeros = anynn.zeros(2, 2, 2, dtype=anynn.float64)
    out, h_n, c_n = R.lstm(x, None, params, True, 1, 0.0, False, True, False)
    ref = R.lstm(x, (zeros, zeros), params, True, 1, 0.0, False, True, False)
    for a, b in zip((out, h_n, c_n), ref):
        assert_close(a, b)


# ---------------------------------------------------------------- gradcheck, every backend, tiny sizes
def test_lstm_cell_gradcheck(backend):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), rng.standard_normal((2, 2))]
    inputs = [leaf(a) for a in arrays + _weights(rng, "lstm", 3, 2, True)]
    assert anynn.gradcheck(lambda x, h, c, *w: R.lstm_cell(x, (h, c), *w), inputs)


@pytest.mark.parametrize("mode", ["gru", "rnn_tanh"])
def test_cell_gradcheck(backend, mode):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal((2, 2))] + _weights(rng, mode, 3, 2, True)
    assert anynn.gradcheck(getattr(R, f"{mode}_cell"), [leaf(a) for a in arrays])


def test_two_layer_bidirectional_lstm_gradcheck(backend):
    rng = np.random.default_rng(7)
    steps, batch, input_size, hidden = 3, 2, 3, 2
    x = leaf(rng.standard_normal((steps, batch, input_size)))
    h0, c0 = (leaf(rng.standard_normal((4, batch, hidden))) for _ in range(2))
    params = [leaf(w) for w in _sequence_weights(rng, "lstm", input_size, hidden, 2, 2, True)]

    def run(x, h0, c0, *params):
        return R.lstm(x, (h0, c0), list(params), True, 2, 0.0, False, True, False)

    assert anynn.gradcheck(run, [x, h0, c0] + params)


def test_bidirectional_batch_first_gru_gradcheck(backend):
    rng = np.random.default_rng(8)
    x, h0 = leaf(rng.standard_normal((3, 2, 3))), leaf(rng.standard_normal((2, 3, 2)))
    params = [leaf(w) for w in _sequence_weights(rng, "gru", 3, 2, 1, 2, True)]
    assert anynn.gradcheck(lambda x, h0, *p: R.gru(x, h0, list(p), True, 1, 0.0, False, True, True),
                           [x, h0] + params)


# ---------------------------------------------------------------- dropout between layers
def _layer_by_layer(x, params, p):
    """Two stacked unidirectional GRU layers with ops.dropout between them, drawing masks in the same order."""
    mid, _ = R.gru(x, None, params[:4], True, 1, 0.0, False, False, False)
    out, _ = R.gru(dropout(mid, p, True), None, params[4:], True, 1, 0.0, False, False, False)
    return out


def test_dropout_between_layers_only_in_training(backend):
    rng = np.random.default_rng(9)
    x = anynn.tensor(rng.standard_normal((4, 3, 3)), dtype=anynn.float64)
    params = [anynn.tensor(w, dtype=anynn.float64) for w in _sequence_weights(rng, "gru", 3, 5, 2, 1, True)]
    evaluated, _ = R.gru(x, None, params, True, 2, 0.5, False, False, False)
    assert_close(evaluated, R.gru(x, None, params, True, 2, 0.0, True, False, False)[0])
    anynn.manual_seed(123)
    trained, _ = R.gru(x, None, params, True, 2, 0.5, True, False, False)
    anynn.manual_seed(123)
    assert_close(trained, _layer_by_layer(x, params, 0.5))
    assert not np.allclose(trained.numpy(), evaluated.numpy())


def test_no_dropout_after_the_last_layer(backend):
    rng = np.random.default_rng(10)
    x = anynn.tensor(rng.standard_normal((4, 3, 3)), dtype=anynn.float64)
    params = [anynn.tensor(w, dtype=anynn.float64) for w in _weights(rng, "lstm", 3, 5, True)]
    trained = R.lstm(x, None, params, True, 1, 0.9, True, False, False)
    evaluated = R.lstm(x, None, params, True, 1, 0.9, False, False, False)
    for a, b in zip(trained, evaluated):
        assert_close(a, b)


# ---------------------------------------------------------------- dtypes, gradients nobody needs, errors
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_relu"])
def test_float32_stays_float32(backend, mode):
    rng = np.random.default_rng(11)
    x = leaf(rng.standard_normal((3, 2, 3)), dtype=anynn.float32)
    params = [leaf(w, dtype=anynn.float32) for w in _sequence_weights(rng, mode, 3, 4, 2, 2, True)]
    outputs = getattr(R, mode)(x, None, params, True, 2, 0.0, False, True, False)
    sum((o.sum() for o in outputs[1:]), outputs[0].sum()).backward()
    assert all(o.dtype == anynn.float32 for o in outputs)
    assert all(t.grad.dtype == anynn.float32 for t in [x] + params)


def test_input_gradient_skipped_when_not_needed(backend):
    rng = np.random.default_rng(12)
    x = anynn.tensor(rng.standard_normal((3, 2, 3)), dtype=anynn.float64)
    params = [leaf(w) for w in _weights(rng, "lstm", 3, 2, True)]
    out, h_n, c_n = R.lstm(x, None, params, True, 1, 0.0, False, False, False)
    out.sum().backward()
    assert x.grad is None
    assert all(p.grad is not None and p.grad.shape == p.shape for p in params)


def test_errors(backend):
    x = anynn.zeros(3, 2, 3, dtype=anynn.float64)
    params = [anynn.tensor(w, dtype=anynn.float64) for w in _weights(np.random.default_rng(0), "gru", 3, 2, True)]
    with pytest.raises(ValueError, match=r"unknown mode 'LSTMX'"):
        R.recurrent("LSTMX", x, None, None, params)
    with pytest.raises(ValueError, match=r"expected a 3-D input, got shape \(2, 3\)"):
        R.gru(anynn.zeros(2, 3, dtype=anynn.float64), None, params)
    with pytest.raises(ValueError, match=r"expected 8 parameters for 1 layer\(s\), 2 direction\(s\), "
                                         r"has_biases=True; got 4"):
        R.gru(x, None, params, True, 1, 0.0, False, True)
    with pytest.raises(ValueError, match=r"gru_cell: expected a 2-D \(batch, input_size\) input, got shape \(3,\)"):
        R.gru_cell(anynn.zeros(3, dtype=anynn.float64), None, *params)
    with pytest.raises(ValueError, match=r"gru: h0 has shape \(1, 3, 2\); expected \(1, 2, 2\)"):
        R.gru(x, anynn.zeros(1, 3, 2, dtype=anynn.float64), params)


def test_rnn_relu_cell_gradcheck(backend):
    rng = np.random.default_rng(13)
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal((2, 2))] + _weights(rng, "rnn_relu", 3, 2, True)
    assert anynn.gradcheck(R.rnn_relu_cell, [leaf(a) for a in arrays])


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias", [(2, True, False, True), (1, False, True, False)],
                         ids=["2layer-bidirectional", "batch_first-nobias"])
def test_rnn_sequence_gradcheck(backend, mode, layers, bidirectional, batch_first, bias):
    rng = np.random.default_rng(14)
    steps, batch, input_size, hidden = 3, 2, 3, 2
    directions = 2 if bidirectional else 1
    x = leaf(rng.standard_normal((batch, steps, input_size) if batch_first else (steps, batch, input_size)))
    h0 = leaf(rng.standard_normal((layers * directions, batch, hidden)))
    params = [leaf(w) for w in _sequence_weights(rng, mode, input_size, hidden, layers, directions, bias)]

    def run(x, h0, *params):
        return getattr(R, mode)(x, h0, list(params), bias, layers, 0.0, False, bidirectional, batch_first)

    assert anynn.gradcheck(run, [x, h0] + params)

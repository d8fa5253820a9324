"""anynn.nn.init: each initialiser's sample statistics against the bound/std PyTorch's formulas give, the gain
and fan helpers against PyTorch's, and every layer's default initialisation, on every backend."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.nn import init
from helpers import torch_or_skip

CONV_SHAPE = (128, 32, 3, 3)  # fan_in 288, fan_out 1152; 36864 samples


def _empty(shape, dtype=anynn.float32):
    return anynn.zeros(shape, dtype=dtype)


def _check_uniform(values: np.ndarray, lo: float, hi: float) -> None:
    """Inside [lo, hi), reaching close to both ends, with U(lo, hi)'s mean and standard deviation."""
    n = values.size
    width = hi - lo
    assert values.min() >= lo and values.max() < hi
    assert values.min() < lo + 0.01 * width and values.max() > hi - 0.01 * width
    std = width / math.sqrt(12)
    assert abs(values.mean() - (lo + hi) / 2) < 5 * std / math.sqrt(n)
    assert abs(values.std() / std - 1) < 0.02


def _check_normal(values: np.ndarray, mean: float, std: float) -> None:
    n = values.size
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(values.std() / std - 1) < 0.02
    centered = (values - values.mean()) / values.std()
    assert abs((centered ** 4).mean() - 3.0) < 0.15  # Gaussian kurtosis, not uniform's 1.8


def test_uniform_and_normal(backend):
    t = _empty((200, 150))
    assert init.uniform_(t, -2.0, 3.0) is t
    assert t.dtype == anynn.float32 and t.shape == (200, 150)
    _check_uniform(t.numpy().astype(np.float64), -2.0, 3.0)
    _check_uniform(init.uniform_(_empty((30000,), anynn.float64)).numpy(), 0.0, 1.0)
    _check_normal(init.normal_(_empty((200, 150)), 1.5, 0.3).numpy().astype(np.float64), 1.5, 0.3)
    _check_normal(init.normal_(_empty((30000,), anynn.float64)).numpy(), 0.0, 1.0)


def test_constants(backend):
    t = _empty((3, 4), anynn.float64)
    assert init.constant_(t, 0.7) is t
    np.testing.assert_array_equal(t.numpy(), np.full((3, 4), 0.7))
    np.testing.assert_array_equal(init.ones_(t).numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(init.zeros_(t).numpy(), np.zeros((3, 4)))
    counter = init.constant_(anynn.zeros((), dtype=anynn.int64), 5)
    assert counter.dtype == anynn.int64 and int(counter.item()) == 5
    assert init.zeros_(counter).dtype == anynn.int64


def test_calculate_gain_matches_torch(backend):
    torch = torch_or_skip()
    names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    for name in names:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name), name
    for slope in (0, 0.2, math.sqrt(5)):
        assert init.calculate_gain("leaky_relu", slope) == torch.nn.init.calculate_gain("leaky_relu", slope)
    with pytest.raises(ValueError, match=r"unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 5), (6, 2, 3, 3), (2, 3, 1, 2, 2)])
def test_fans_match_torch(backend, shape):
    torch = torch_or_skip()
    ours = init._calculate_fan_in_and_fan_out(_empty(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_need_two_dimensions(backend):
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(_empty((5,)))


def _torch_fans_and_gain(shape, nonlinearity="leaky_relu", a=0.0):
    torch = torch_or_skip()
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    return fan_in, fan_out, torch.nn.init.calculate_gain(nonlinearity, a)


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(backend, gain):
    fan_in, fan_out, _ = _torch_fans_and_gain(CONV_SHAPE)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    _check_uniform(init.xavier_uniform_(_empty(CONV_SHAPE), gain).numpy().astype(np.float64), -bound, bound)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    _check_normal(init.xavier_normal_(_empty(CONV_SHAPE), gain).numpy().astype(np.float64), 0.0, std)


@pytest.mark.parametrize("a,mode,nonlinearity", [(0.0, "fan_in", "leaky_relu"), (0.0, "fan_out", "relu"),
                                                 (math.sqrt(5), "fan_in", "leaky_relu"), (0.0, "fan_in", "tanh")])
def test_kaiming(backend, a, mode, nonlinearity):
    fan_in, fan_out, gain = _torch_fans_and_gain(CONV_SHAPE, nonlinearity, a)
    std = gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    w = init.kaiming_uniform_(_empty(CONV_SHAPE), a=a, mode=mode, nonlinearity=nonlinearity)
    _check_uniform(w.numpy().astype(np.float64), -math.sqrt(3) * std, math.sqrt(3) * std)
    w = init.kaiming_normal_(_empty(CONV_SHAPE), a=a, mode=mode, nonlinearity=nonlinearity)
    _check_normal(w.numpy().astype(np.float64), 0.0, std)


def test_kaiming_rejects_unknown_mode_and_skips_empty_tensors(backend):
    with pytest.raises(ValueError, match=r"mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_empty((3, 4)), mode="fan_avg")
    empty = _empty((5, 0))
    assert init.kaiming_uniform_(empty) is empty and init.kaiming_normal_(empty).shape == (5, 0)
    assert nn.Linear(0, 5).weight.shape == (5, 0)


def test_initialisation_is_reproducible_with_manual_seed(backend):
    anynn.manual_seed(11)
    first = nn.Linear(6, 4).weight.numpy()
    anynn.manual_seed(11)
    np.testing.assert_array_equal(nn.Linear(6, 4).weight.numpy(), first)
    assert not np.array_equal(nn.Linear(6, 4).weight.numpy(), first)


# ------------------------------------------------------------------ default initialisation of each layer
def test_linear_default_init_matches_torch_bounds(backend):
    torch = torch_or_skip()
    layer, ref = nn.Linear(300, 200), torch.nn.Linear(300, 200)
    bound = 1.0 / math.sqrt(300)  # kaiming_uniform_(a=sqrt(5)) reduces to this, as does the bias rule
    _check_uniform(layer.weight.numpy().astype(np.float64), -bound, bound)
    _check_uniform(ref.weight.detach().numpy().astype(np.float64), -bound, bound)  # the oracle agrees
    b = layer.bias.numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert layer.weight.dtype == layer.bias.dtype == anynn.float32


def test_embedding_default_init_is_standard_normal_with_zero_padding_row(backend):
    layer = nn.Embedding(600, 64, padding_idx=3)
    w = layer.weight.numpy().astype(np.float64)
    np.testing.assert_array_equal(w[3], np.zeros(64))
    _check_normal(np.delete(w, 3, axis=0), 0.0, 1.0)


def test_parameter_free_and_constant_defaults_match_torch(backend):
    torch = torch_or_skip()
    pairs = [(nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)), (nn.PReLU(), torch.nn.PReLU()),
             (nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)),
             (nn.BatchNorm1d(3, affine=False), torch.nn.BatchNorm1d(3, affine=False)),
             (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3)))]
    for ours, theirs in pairs:
        expected = theirs.state_dict()
        for key, value in ours.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), expected[key].numpy(), err_msg=f"{ours!r}: {key}")
    bn = nn.BatchNorm2d(2)
    bn.train()
    bn(anynn.tensor(np.random.default_rng(0).standard_normal((3, 2, 2, 2)) + 4.0, dtype=anynn.float32))
    bn.reset_parameters()
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(2))
    assert int(bn.num_batches_tracked.item()) == 0

"""anynn.nn.init: each initialiser's sample statistics against the bound/std PyTorch's formulas give, the gain
and fan helpers against PyTorch's, and every layer's default initialisation, on every backend."""
from __future__ import annotations

import math
import warnings

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


# ------------------------------------------------------------------ the rest of PyTorch's initialisers
def test_every_torch_initialiser_exists():
    torch = torch_or_skip()
    public = [n for n in dir(torch.nn.init) if not n.startswith("_") and callable(getattr(torch.nn.init, n))
              and getattr(torch.nn.init, n).__module__ == "torch.nn.init"]
    assert [n for n in public if not hasattr(init, n)] == []


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_eye_matches_torch(backend, shape):
    torch = torch_or_skip()
    np.testing.assert_array_equal(init.eye_(_empty(shape)).numpy(), torch.nn.init.eye_(torch.empty(shape)).numpy())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(_empty((2, 2, 2)))


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((6, 4, 3, 3), 2), ((4, 6, 3, 3, 3), 1),
                                          ((3, 5, 4, 4), 1), ((8, 2, 5, 2), 4)])
def test_dirac_matches_torch(backend, shape, groups):
    torch = torch_or_skip()
    ours = init.dirac_(_empty(shape), groups).numpy()
    np.testing.assert_array_equal(ours, torch.nn.init.dirac_(torch.empty(shape), groups).numpy())
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(_empty((6, 2, 3)), groups=4)
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        init.dirac_(_empty((6, 2)))


def test_dirac_convolution_passes_its_input_through(backend):
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = anynn.tensor(np.random.default_rng(1).standard_normal((2, 3, 5, 5)), dtype=anynn.float32)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 3, 3), (5, 5)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(backend, shape, gain):
    m = init.orthogonal_(_empty(shape, anynn.float64), gain).numpy().reshape(shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-12)
    torch = torch_or_skip()
    t = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain).reshape(shape[0], -1)
    tgram = (t @ t.T if t.shape[0] <= t.shape[1] else t.T @ t).numpy()
    np.testing.assert_allclose(gram, tgram, atol=1e-12)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(_empty((4,)))


def test_orthogonal_is_not_always_the_same_matrix(backend):
    a, b = init.orthogonal_(_empty((4, 4))).numpy(), init.orthogonal_(_empty((4, 4))).numpy()
    assert not np.allclose(a, b)
    assert np.all(np.abs(a) < 1)  # a random rotation, not a signed permutation


def _truncated_moments(mean, std, a, b):
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    alpha, beta = (a - mean) / std, (b - mean) / std
    z = cdf(beta) - cdf(alpha)
    m = mean + std * (phi(alpha) - phi(beta)) / z
    var = std ** 2 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / z - ((phi(alpha) - phi(beta)) / z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 4.0), (0.0, 0.02, -0.04, 0.04),
                                          (0.0, 1.0, 2.5, 3.5)])
def test_trunc_normal_has_the_truncated_moments(backend, mean, std, a, b):
    n = 100_000
    torch = torch_or_skip()
    far = mean < a - 2 * std or mean > b + 2 * std  # PyTorch warns then, and so do we
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = init.trunc_normal_(_empty((n,), anynn.float64), mean, std, a, b).numpy()
        theirs = torch.nn.init.trunc_normal_(torch.empty(n, dtype=torch.float64), mean, std, a, b)
    messages = [str(w.message) for w in caught]
    assert len(messages) == (2 if far else 0) and (not far or messages[0] == messages[1])
    assert values.min() >= a and values.max() <= b
    expected_mean, expected_std = _truncated_moments(mean, std, a, b)
    assert abs(values.mean() - expected_mean) < 5 * expected_std / math.sqrt(n)
    assert abs(values.std() / expected_std - 1) < 0.02
    assert abs(theirs.mean().item() - expected_mean) < 5 * expected_std / math.sqrt(n)  # the oracle agrees


def test_erfinv_matches_torch(backend):
    torch = torch_or_skip()
    y = np.concatenate([np.linspace(-1 + 1e-6, 1 - 1e-6, 2001), [-1.0, 0.0, 1.0]])  # the documented accuracy
    ours = backend.to_numpy(init.erfinv(backend, anynn.tensor(y, dtype=anynn.float64).array))
    np.testing.assert_allclose(ours, torch.special.erfinv(torch.tensor(y)).numpy(), rtol=1e-12, atol=1e-12)


def test_sparse_zeros_as_many_rows_per_column_as_torch(backend):
    torch = torch_or_skip()
    ours = init.sparse_(_empty((200, 300), anynn.float64), 0.3, std=0.5).numpy()
    theirs = torch.nn.init.sparse_(torch.empty(200, 300, dtype=torch.float64), 0.3, std=0.5).numpy()
    assert set((ours == 0).sum(axis=0)) == set((theirs == 0).sum(axis=0)) == {60}
    _check_normal(ours[ours != 0], 0.0, 0.5)
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.sparse_(_empty((2, 2, 2)), 0.5)


def test_calculate_gain_rejects_a_bad_slope_like_torch(backend):
    torch = torch_or_skip()
    for bad in ("0.1", True):
        with pytest.raises(ValueError, match="not a valid number"):
            init.calculate_gain("leaky_relu", bad)
        with pytest.raises(ValueError, match="not a valid number"):
            torch.nn.init.calculate_gain("leaky_relu", bad)
    assert init.calculate_gain("leaky_relu", 1) == torch.nn.init.calculate_gain("leaky_relu", 1)


def test_deprecated_spellings_warn_like_torch(backend):
    torch = torch_or_skip()
    with pytest.warns(FutureWarning, match="deprecated in favor of `nn.init.normal_`"):
        torch.nn.init.normal(torch.empty(2, 2))
    with pytest.warns(FutureWarning, match="deprecated in favor of `nn.init.normal_`"):
        out = init.normal(_empty((2, 2)), 3.0, 0.0)
    assert out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_initialisers_write_in_place_into_leaves_that_require_grad(backend):
    layer = nn.Linear(4, 3)
    alias = layer.weight.detach()  # shares storage, as in PyTorch
    for fill in (init.zeros_, init.eye_, init.orthogonal_, lambda w: init.trunc_normal_(w, 0, 0.1),
                 lambda w: init.dirac_(w.reshape(3, 4, 1)), lambda w: init.sparse_(w, 0.5)):
        before = layer.weight._version[0]
        fill(layer.weight)
        assert layer.weight.requires_grad and layer.weight.is_leaf and layer.weight.grad is None
        np.testing.assert_array_equal(alias.numpy(), layer.weight.numpy())
        assert layer.weight._version[0] > before

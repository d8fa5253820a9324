"""Pooling ops: max/avg (1-D, 2-D) and adaptive average pooling equal PyTorch's (float64) with their gradients,
ties after a ReLU included; gradcheck; dtypes; errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, compare_with_torch, leaf, torch_leaf, torch_or_skip


def _compare_with_torch(ours, theirs, x_host, seed=1):
    """Same float64 input and output gradient for both; compare output and input gradient."""
    compare_with_torch(ours, theirs, [x_host], seed)


def _relu_with_ties(shape, seed=0):
    """Non-negative data with whole windows of zeros and repeated values: the tie-breaking cases."""
    x = np.maximum(np.random.default_rng(seed).standard_normal(shape), 0.0)
    x[..., : shape[-1] // 2] = 0.0
    x[..., -1] = x[..., -2]
    return x


MAX_POOL2D_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=2, dilation=2),
    dict(kernel_size=3, stride=2, dilation=(2, 1), padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, padding=1, ceil_mode=True),
    dict(kernel_size=(1, 3), stride=(1, 3)),
]


@pytest.mark.parametrize("opts", MAX_POOL2D_CASES, ids=str)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "relu_ties"])
def test_max_pool2d_matches_torch(backend, opts, ties):
    torch = torch_or_skip()
    shape = (2, 3, 9, 8)
    x = _relu_with_ties(shape) if ties else np.random.default_rng(0).standard_normal(shape)
    _compare_with_torch(lambda t: F.max_pool2d(t, **opts), lambda t: torch.nn.functional.max_pool2d(t, **opts), x)


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=2, dilation=3, ceil_mode=True), dict(kernel_size=4, stride=3,
                                                                                        ceil_mode=True)], ids=str)
def test_max_pool1d_matches_torch(backend, opts):
    torch = torch_or_skip()
    x = _relu_with_ties((2, 3, 11), seed=1)
    _compare_with_torch(lambda t: F.max_pool1d(t, **opts), lambda t: torch.nn.functional.max_pool1d(t, **opts), x)


def test_max_pool_after_conv_matches_torch(backend):
    """Pooling a conv output (batch-innermost layout) with ties from the ReLU, as in LeNet."""
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    w_host = rng.standard_normal((4, 2, 3, 3))
    w, tw = leaf(w_host), torch_leaf(w_host)
    tf = torch.nn.functional
    _compare_with_torch(lambda t: F.max_pool2d(F.conv2d(t, w).relu(), 2),
                        lambda t: tf.max_pool2d(tf.conv2d(t, tw).relu(), 2), rng.standard_normal((3, 2, 9, 9)))
    assert_close(w.grad, tw.grad.numpy())


AVG_POOL2D_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3),
    dict(kernel_size=3, stride=2, padding=1, divisor_override=5),
]


@pytest.mark.parametrize("opts", AVG_POOL2D_CASES, ids=str)
def test_avg_pool2d_matches_torch(backend, opts):
    torch = torch_or_skip()
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 8))
    _compare_with_torch(lambda t: F.avg_pool2d(t, **opts), lambda t: torch.nn.functional.avg_pool2d(t, **opts), x)


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1,
                                                           count_include_pad=False, ceil_mode=True)], ids=str)
def test_avg_pool1d_matches_torch(backend, opts):
    torch = torch_or_skip()
    x = np.random.default_rng(4).standard_normal((2, 3, 10))
    _compare_with_torch(lambda t: F.avg_pool1d(t, **opts), lambda t: torch.nn.functional.avg_pool1d(t, **opts), x)


@pytest.mark.parametrize("output_size", [1, 3, (3, 4), (5, 7), (9, 8), (None, 3), (4, None), (2, 1)], ids=str)
def test_adaptive_avg_pool2d_matches_torch(backend, output_size):
    torch = torch_or_skip()
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 8))
    _compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, output_size),
                        lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size), x)


@pytest.mark.parametrize("output_size", [1, 4, 5], ids=str)
def test_adaptive_avg_pool1d_matches_torch(backend, output_size):
    torch = torch_or_skip()
    x = np.random.default_rng(6).standard_normal((2, 3, 10))
    _compare_with_torch(lambda t: F.adaptive_avg_pool1d(t, output_size),
                        lambda t: torch.nn.functional.adaptive_avg_pool1d(t, output_size), x)


@pytest.mark.parametrize("pool", [
    lambda t: F.max_pool2d(t, 3, stride=2, padding=1),
    lambda t: F.max_pool2d(t, 2, ceil_mode=True),
    lambda t: F.avg_pool2d(t, 3, stride=2, padding=1, count_include_pad=False),
    lambda t: F.adaptive_avg_pool2d(t, (2, 3)),
    lambda t: F.max_pool1d(t.reshape(1, 2, 25), 3, stride=2),
    lambda t: F.avg_pool1d(t.reshape(1, 2, 25), 2),
], ids=["max3s2p1", "max2ceil", "avg3s2p1", "adaptive", "max1d", "avg1d"])
def test_pool_gradcheck(backend, pool):
    # distinct values a few eps apart would make max non-differentiable; a permutation keeps them well apart
    x_host = np.random.default_rng(7).permutation(50).reshape(1, 2, 5, 5) / 10.0
    assert anynn.gradcheck(pool, [leaf(x_host)])


@pytest.mark.parametrize("pool", [lambda t: F.max_pool2d(t, 2), lambda t: F.avg_pool2d(t, 3, 2, 1),
                                  lambda t: F.adaptive_avg_pool2d(t, 3)], ids=["max", "avg", "adaptive"])
def test_pool_keeps_float32(backend, pool):
    x = leaf(np.random.default_rng(8).standard_normal((2, 3, 8, 8)), dtype=anynn.float32)
    out = pool(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == anynn.float32


def test_pool_errors(backend):
    with pytest.raises(ValueError, match=r"max_pool2d got input of shape \(3, 8, 8\): expected 4-D input "
                                         r"\(N, C, H, W\); for a single sample add a batch dimension with "
                                         r"x\.unsqueeze\(0\)"):
        F.max_pool2d(anynn.zeros(3, 8, 8), 2)
    with pytest.raises(ValueError, match=r"avg_pool1d got input of shape \(1, 2, 3, 8\): expected 3-D input "
                                         r"\(N, C, L\); reshape it to \(N, C, L\)"):
        F.avg_pool1d(anynn.zeros(1, 2, 3, 8), 2)
    with pytest.raises(ValueError, match=r"max_pool2d got input of shape \(1, 1, 2, 2\): its padded spatial size "
                                         r"\(2, 2\) is smaller than the pooling window \(3, 3\)"):
        F.max_pool2d(anynn.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half the kernel size"):
        F.max_pool2d(anynn.zeros(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel_size, stride and dilation must be positive"):
        F.avg_pool2d(anynn.zeros(1, 1, 8, 8), 2, stride=0)
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be non-zero"):
        F.avg_pool2d(anynn.zeros(1, 1, 8, 8), 2, divisor_override=0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be an int or a tuple of 2"):
        F.adaptive_avg_pool2d(anynn.zeros(1, 1, 8, 8), (1, 2, 3))
    with pytest.raises(TypeError, match=r"max_pool2d got anynn.int64 input: expected a floating-point tensor"):
        F.max_pool2d(anynn.zeros(1, 1, 8, 8, dtype=anynn.int64), 2)
    with pytest.raises(NotImplementedError, match=r"return_indices=True is not supported"):
        F.max_pool2d(anynn.zeros(1, 1, 8, 8), 2, return_indices=True)


@pytest.mark.parametrize("shape,output_size,path", [
    ((1, 2, 7), 3, "AdaptiveAvgPoolNd"),
    ((1, 2, 8), 4, "BlockMean"),
    ((2, 2, 6), 1, "BlockMean"),
    ((1, 2, 6, 4), (3, 2), "BlockMean"),
    ((1, 2, 6, 4), (None, 1), "BlockMean"),
    ((2, 2, 3, 4), 1, "BlockMean"),
], ids=["1d-general", "1d-block", "1d-global", "2d-block", "2d-none-block", "2d-global"])
def test_adaptive_pool_gradcheck_on_both_paths(backend, shape, output_size, path):
    """AdaptiveAvgPool1d on both paths, and AdaptiveAvgPool2d's block-mean path (an output size dividing the input,
    global pooling included); the module is checked, and the path it takes is asserted."""
    layer = (anynn.nn.AdaptiveAvgPool1d if len(shape) == 3 else anynn.nn.AdaptiveAvgPool2d)(output_size)
    x = leaf(np.random.default_rng(9).permutation(int(np.prod(shape))).reshape(shape) / 10.0)
    assert layer(x)._node.function.__name__ == path
    assert anynn.gradcheck(layer, [x])


NON_FINITE_CASES = {  # name: (input, pooling arguments)
    "NaN windows (one with two NaNs: PyTorch's last wins)": ("nan", dict(kernel_size=2)),
    "a NaN beside padding": ("nan_corner", dict(kernel_size=3, stride=2, padding=1)),
    "-inf input with padding (padding never wins)": ("neg_inf", dict(kernel_size=3, stride=1, padding=1)),
}


def _non_finite_input(kind: str) -> np.ndarray:
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 4))
    if kind == "nan":
        x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 1, 3, 2] = np.nan
    elif kind == "nan_corner":
        x[0, 1, 0, 0] = np.nan
    elif kind == "neg_inf":
        x[...] = -np.inf
        x[0, 0, 2, 2] = 1.0
    return x


def _max_pool_both_ways(backend, x_host, args, kernels, monkeypatch, upstream=1.0):
    """anynn's output and input gradient, through the backend's kernels or through the standard ops only."""
    if kernels == "standard ops only":
        monkeypatch.setattr(backend, "fused", {})
    x = leaf(x_host)
    with np.errstate(invalid="ignore"):
        out = F.max_pool2d(x, **args)
        out.backward(anynn.full(out.shape, upstream, dtype=anynn.float64))
    return backend.to_numpy(out.array), backend.to_numpy(x.grad.array)


@pytest.mark.parametrize("kernels", ["as configured", "standard ops only"])
@pytest.mark.parametrize("case", list(NON_FINITE_CASES))
def test_max_pool_routes_non_finite_inputs_like_torch(backend, case, kernels, monkeypatch):
    """-inf inputs next to padding: every path routes the gradient where PyTorch does. NaN windows: the compiled
    kernels too; the standard twins give PyTorch's output but send a NaN window's gradient to its first NaN
    (a documented difference: ``argmax`` takes the first NaN, PyTorch's kernel the last)."""
    torch = torch_or_skip()
    kind, args = NON_FINITE_CASES[case]
    x_host = _non_finite_input(kind)
    out, grad = _max_pool_both_ways(backend, x_host, args, kernels, monkeypatch)
    t = torch_leaf(x_host)
    t_out = torch.nn.functional.max_pool2d(t, **args)
    t_out.sum().backward()
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    expected = t.grad.numpy().copy()
    if kind == "nan" and not (kernels == "as configured" and "max_pool2d" in backend.fused):
        for n, c, i, j in np.argwhere(np.isnan(out)):  # 2x2 windows tile the input: to the first NaN
            window = expected[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            first = np.argwhere(np.isnan(x_host[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]))[0]
            window[...] = 0.0
            window[tuple(first)] = 1.0
    if kind == "nan_corner" and not (kernels == "as configured" and "max_pool2d" in backend.fused):
        np.testing.assert_array_equal(grad[:, 0], expected[:, 0])  # the channel without NaN
        assert np.isfinite(grad).all()
        return
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("kernels", ["as configured", "standard ops only"])
def test_max_pool_with_an_inf_upstream_gradient(backend, kernels, monkeypatch):
    """A compiled kernel gives PyTorch's gradient (inf at the winners, 0 elsewhere). The standard ops give NaN
    across such a window (inf * 0: they route with a cast-and-multiply, several times faster than where()) --
    a documented difference; an inf gradient has broken the run either way."""
    torch = torch_or_skip()
    x_host = np.random.default_rng(6).standard_normal((1, 2, 4, 4))
    out, grad = _max_pool_both_ways(backend, x_host, dict(kernel_size=2), kernels, monkeypatch, upstream=np.inf)
    t = torch_leaf(x_host)
    t_out = torch.nn.functional.max_pool2d(t, 2)
    t_out.backward(torch.full(t_out.shape, np.inf, dtype=torch.float64))
    if kernels == "as configured" and "max_pool2d" in backend.fused:
        np.testing.assert_array_equal(grad, t.grad.numpy())
    else:
        assert not np.isfinite(grad).any()

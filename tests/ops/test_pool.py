"""Pooling ops: max/avg (1-D, 2-D) and adaptive average pooling equal PyTorch's (float64) with their gradients,
ties after a ReLU included; gradcheck; dtypes; errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import OpCase, leaf, op_case_suite, torch_leaf, torch_or_skip


def _relu_with_ties(shape, seed=0):
    """Non-negative data with whole windows of zeros and repeated values: the tie-breaking cases."""
    x = np.maximum(np.random.default_rng(seed).standard_normal(shape), 0.0)
    x[..., : shape[-1] // 2] = 0.0
    x[..., -1] = x[..., -2]
    return x


def _pool(name: str, x: np.ndarray, gradcheck: bool = False, **opts) -> tuple[str, OpCase]:
    """A case named after its call: ``name`` from anynn.nn.functional and torch.nn.functional on ``x``."""
    call = f"{name}({', '.join(f'{k}={v}' for k, v in opts.items())})"
    return call, OpCase(getattr(F, name), f"nn.functional.{name}", [x], kwargs=opts, gradcheck=gradcheck)


MAX_POOL2D_OPTIONS = [
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
MAX_POOL1D_OPTIONS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                      dict(kernel_size=2, dilation=3, ceil_mode=True), dict(kernel_size=4, stride=3, ceil_mode=True)]
AVG_POOL2D_OPTIONS = [
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
AVG_POOL1D_OPTIONS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False,
                                               ceil_mode=True)]

DISTINCT = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
TIES = _relu_with_ties((2, 3, 9, 8))
# distinct values a few eps apart would make max non-differentiable; a permutation keeps them well apart
SPREAD = np.random.default_rng(7).permutation(50).reshape(1, 2, 5, 5) / 10.0


def _max_pool_after_conv(x, w, functional=F):
    return functional.max_pool2d(functional.conv2d(x, w).relu(), 2)


_rng = np.random.default_rng(2)
CONV_WEIGHT, CONV_INPUT = _rng.standard_normal((4, 2, 3, 3)), _rng.standard_normal((3, 2, 9, 9))

CASES = {
    # max pooling on distinct data and on ReLU data with ties (the gradient goes to the first maximum, as in torch)
    **{f"{call} distinct": case for call, case in (_pool("max_pool2d", DISTINCT, **o) for o in MAX_POOL2D_OPTIONS)},
    **{f"{call} relu_ties": case for call, case in (_pool("max_pool2d", TIES, **o) for o in MAX_POOL2D_OPTIONS)},
    **dict(_pool("max_pool1d", _relu_with_ties((2, 3, 11), seed=1), **o) for o in MAX_POOL1D_OPTIONS),
    **dict(_pool("avg_pool2d", np.random.default_rng(3).standard_normal((2, 3, 9, 8)), **o)
           for o in AVG_POOL2D_OPTIONS),
    **dict(_pool("avg_pool1d", np.random.default_rng(4).standard_normal((2, 3, 10)), **o) for o in AVG_POOL1D_OPTIONS),
    **dict(_pool("adaptive_avg_pool2d", np.random.default_rng(5).standard_normal((2, 3, 9, 8)), output_size=size)
           for size in [1, 3, (3, 4), (5, 7), (9, 8), (None, 3), (4, None), (2, 1)]),
    **dict(_pool("adaptive_avg_pool1d", np.random.default_rng(6).standard_normal((2, 3, 10)), output_size=size)
           for size in [1, 4, 5]),
    # pooling a conv output (batch-innermost layout) with ties from the ReLU, as in LeNet; the weight gets grads too
    "max_pool2d(conv2d(x, w).relu(), 2)": OpCase(
        _max_pool_after_conv, lambda x, w: _max_pool_after_conv(x, w, functional=torch_or_skip().nn.functional),
        [CONV_INPUT, CONV_WEIGHT], gradcheck=False),
    # gradchecked (with the three checks above) on well-separated values
    **{f"{call} spread": case for call, case in [
        _pool("max_pool2d", SPREAD, True, kernel_size=3, stride=2, padding=1),
        _pool("max_pool2d", SPREAD, True, kernel_size=2, ceil_mode=True),
        _pool("avg_pool2d", SPREAD, True, kernel_size=3, stride=2, padding=1, count_include_pad=False),
        _pool("adaptive_avg_pool2d", SPREAD, True, output_size=(2, 3)),
        _pool("max_pool1d", SPREAD.reshape(1, 2, 25), True, kernel_size=3, stride=2),
        _pool("avg_pool1d", SPREAD.reshape(1, 2, 25), True, kernel_size=2)]},
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


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

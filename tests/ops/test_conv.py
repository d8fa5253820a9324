"""F.conv1d / F.conv2d: forward and every gradient equal PyTorch's (float64), gradcheck, dtypes, errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_leaf, torch_or_skip


# (N, C, H, W), out channels, kernel, stride, padding, dilation, groups
CONV2D_CASES = [
    ((2, 3, 7, 6), 4, (3, 3), 1, 0, 1, 1),
    ((2, 3, 7, 6), 4, (3, 3), 2, 1, 1, 1),
    ((2, 3, 8, 7), 5, (3, 2), (2, 1), (1, 0), 1, 1),
    ((1, 2, 9, 9), 3, (3, 3), 1, 2, 2, 1),
    ((2, 2, 6, 6), 2, (2, 3), 1, "same", (2, 1), 1),
    ((2, 3, 5, 6), 4, (4, 2), 1, "same", 1, 1),
    ((2, 3, 5, 6), 4, (2, 2), 1, "valid", 1, 1),
    ((2, 4, 6, 5), 6, (3, 3), 1, 1, 1, 2),
    ((2, 4, 7, 7), 4, (3, 3), 2, 1, 2, 2),
    ((2, 4, 6, 6), 4, (3, 3), 1, 1, 1, 4),
    ((2, 3, 6, 5), 6, (3, 3), 2, 1, 1, 3),
    ((3, 2, 5, 5), 3, (1, 1), 1, 0, 1, 1),
    ((1, 1, 4, 4), 1, (4, 4), 1, 0, 1, 1),
]

# (N, C, L), out channels, kernel, stride, padding, dilation, groups
CONV1D_CASES = [
    ((2, 3, 9), 4, 3, 1, 0, 1, 1),
    ((2, 3, 9), 4, 3, 2, 1, 1, 1),
    ((2, 2, 10), 4, 2, 1, "same", 3, 2),
    ((2, 4, 8), 4, 3, 1, 1, 2, 4),
    ((1, 2, 6), 3, 1, 3, (2,), 1, 1),
]

TORCH_SAME_PADDING_COPY = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")


def _conv(name, case, seed, with_bias=True) -> OpCase:
    """``name`` (conv1d or conv2d) on one table row: x, weight and (if any) bias all get gradients."""
    x_shape, out_ch, kernel, stride, padding, dilation, groups = case
    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((out_ch, x_shape[1] // groups) + kernel),
              rng.standard_normal(out_ch) if with_bias else None]
    return OpCase(getattr(F, name), f"nn.functional.{name}", arrays, gradcheck=False, marks=(TORCH_SAME_PADDING_COPY,),
                  kwargs=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


def _stacked(x, w1, w2, functional=F):
    """A conv feeding a conv (and a ReLU between): the first output's internal layout is the second's input."""
    return functional.conv2d(functional.conv2d(x, w1, padding=1).relu(), w2, stride=2) * 2.0


def _gradchecked(name, x_shape, w_shape, seed, **opts) -> OpCase:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    return OpCase(getattr(F, name), f"nn.functional.{name}", arrays, kwargs=opts, marks=(TORCH_SAME_PADDING_COPY,))


_rng = np.random.default_rng(2)
CASES = {
    **{f"conv2d {case}{' bias' if with_bias else ''}": _conv("conv2d", case, 0, with_bias)
       for case in CONV2D_CASES for with_bias in (True, False)},
    **{f"conv1d {case} bias": _conv("conv1d", case, 1) for case in CONV1D_CASES},
    "conv2d(conv2d(x, w1).relu(), w2)": OpCase(
        _stacked, lambda x, w1, w2: _stacked(x, w1, w2, torch_or_skip().nn.functional),
        [_rng.standard_normal((3, 2, 8, 8)), _rng.standard_normal((4, 2, 3, 3)), _rng.standard_normal((5, 4, 3, 3))],
        gradcheck=False),
    # gradchecked (x, weight and bias), with the three other checks
    **{f"conv2d (2, 2, 5, 5) {opts}": _gradchecked("conv2d", (2, 2, 5, 5), (2, 2 // opts.get("groups", 1), 2, 3), 3,
                                                   **opts)
       for opts in [dict(stride=1, padding=1), dict(stride=2, padding=0, dilation=2), dict(padding="same", groups=2)]},
    "conv1d (2, 2, 6) {'stride': 2, 'padding': 1}": _gradchecked("conv1d", (2, 2, 6), (3, 2, 3), 4, stride=2,
                                                                 padding=1),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_conv2d_skips_gradients_nobody_needs(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    x_host, w_host = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    x, w = anynn.tensor(x_host, dtype=anynn.float64), leaf(w_host)
    F.conv2d(x, w).sum().backward()
    tw = torch_leaf(w_host)
    torch.nn.functional.conv2d(torch.tensor(x_host), tw).sum().backward()
    assert x.grad is None
    assert_close(w.grad, tw.grad.numpy())
    x, w = leaf(x_host), anynn.tensor(w_host, dtype=anynn.float64)
    F.conv2d(x, w).sum().backward()
    assert w.grad is None and x.grad.shape == x.shape


def test_conv_errors(backend):
    w = anynn.zeros(16, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d got input of shape \(3, 8, 8\): expected 4-D input \(N, C, H, W\); "
                                         r"for a single sample add a batch dimension with x\.unsqueeze\(0\)"):
        F.conv2d(anynn.zeros(3, 8, 8), w)
    with pytest.raises(ValueError, match=r"conv2d got input of shape \(8, 8\): expected 4-D .* reshape it to"):
        F.conv2d(anynn.zeros(8, 8), w)
    with pytest.raises(ValueError, match=r"conv2d got input with 1 channels: expected 3"):
        F.conv2d(anynn.zeros(2, 1, 8, 8), w)
    with pytest.raises(ValueError, match=r"conv2d got input with 4 channels: expected 6 .*groups=2"):
        F.conv2d(anynn.zeros(2, 4, 8, 8), anynn.zeros(4, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"spatial size \(2, 2\) \(padded: \(2, 2\)\), smaller than the kernel"):
        F.conv2d(anynn.zeros(1, 3, 2, 2), w)
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided convolutions"):
        F.conv2d(anynn.zeros(1, 3, 8, 8), w, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding must be an int, a tuple, 'valid' or 'same', got 'full'"):
        F.conv2d(anynn.zeros(1, 3, 8, 8), w, padding="full")
    with pytest.raises(ValueError, match=r"groups=5 must be positive and divide out_channels \(16\)"):
        F.conv2d(anynn.zeros(1, 15, 8, 8), w, groups=5)
    with pytest.raises(ValueError, match=r"bias of shape \(3,\) should be \(16,\)"):
        F.conv2d(anynn.zeros(1, 3, 8, 8), w, anynn.zeros(3))
    with pytest.raises(ValueError, match=r"stride must be an int or a tuple of 2 ints, got \(1, 1, 1\)"):
        F.conv2d(anynn.zeros(1, 3, 8, 8), w, stride=(1, 1, 1))
    with pytest.raises(TypeError, match=r"got anynn.float64 input but its weight is anynn.float32"):
        F.conv2d(anynn.zeros(1, 3, 8, 8, dtype=anynn.float64), w)
    with pytest.raises(TypeError, match=r"weight is anynn.float32 and its bias anynn.float64"):
        F.conv2d(anynn.zeros(1, 3, 8, 8), w, anynn.zeros(16, dtype=anynn.float64))
    with pytest.raises(TypeError, match=r"conv2d got anynn.int64 input: expected a floating-point tensor"):
        F.conv2d(anynn.zeros(1, 3, 8, 8, dtype=anynn.int64), w)
    with pytest.raises(ValueError, match=r"conv1d got input of shape \(3, 8\): expected 3-D input \(N, C, L\); "
                                         r"for a single sample add a batch dimension"):
        F.conv1d(anynn.zeros(3, 8), anynn.zeros(2, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: weight of shape \(2, 3, 3, 3\) should be 3-D"):
        F.conv1d(anynn.zeros(1, 3, 8), anynn.zeros(2, 3, 3, 3))

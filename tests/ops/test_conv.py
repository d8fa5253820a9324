"""F.conv1d / F.conv2d: forward and every gradient equal PyTorch's (float64), gradcheck, dtypes, errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, compare_with_torch, leaf, torch_leaf, torch_or_skip



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


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's own copy warning
@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: f"{c}")
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(backend, case, with_bias):
    torch = torch_or_skip()
    x_shape, out_ch, kernel, stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((out_ch, x_shape[1] // groups) + kernel),
              rng.standard_normal(out_ch) if with_bias else None]
    opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, **opts),
                        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **opts), arrays)


# (N, C, L), out channels, kernel, stride, padding, dilation, groups
CONV1D_CASES = [
    ((2, 3, 9), 4, 3, 1, 0, 1, 1),
    ((2, 3, 9), 4, 3, 2, 1, 1, 1),
    ((2, 2, 10), 4, 2, 1, "same", 3, 2),
    ((2, 4, 8), 4, 3, 1, 1, 2, 4),
    ((1, 2, 6), 3, 1, 3, (2,), 1, 1),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=lambda c: f"{c}")
def test_conv1d_matches_torch(backend, case):
    torch = torch_or_skip()
    x_shape, out_ch, kernel, stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((out_ch, x_shape[1] // groups, kernel)),
              rng.standard_normal(out_ch)]
    opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare_with_torch(lambda x, w, b: F.conv1d(x, w, b, **opts),
                        lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **opts), arrays)


def test_stacked_convs_match_torch(backend):
    """A conv feeding a conv (and a ReLU between): the first output's internal layout is the second's input."""
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 2, 8, 8)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((5, 4, 3, 3))]

    def ours(x, w1, w2):
        return F.conv2d(F.conv2d(x, w1, padding=1).relu(), w2, stride=2) * 2.0

    def theirs(x, w1, w2):
        tf = torch.nn.functional
        return tf.conv2d(tf.conv2d(x, w1, padding=1).relu(), w2, stride=2) * 2.0

    compare_with_torch(ours, theirs, arrays)


@pytest.mark.parametrize("opts", [dict(stride=1, padding=1), dict(stride=2, padding=0, dilation=2),
                                  dict(padding="same", groups=2)], ids=str)
def test_conv2d_gradcheck(backend, opts):
    rng = np.random.default_rng(3)
    x = leaf(rng.standard_normal((2, 2, 5, 5)))
    w = leaf(rng.standard_normal((2, 2 // opts.get("groups", 1), 2, 3)))
    b = leaf(rng.standard_normal(2))
    assert anynn.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **opts), [x, w, b])


def test_conv1d_gradcheck(backend):
    rng = np.random.default_rng(4)
    x, w, b = leaf(rng.standard_normal((2, 2, 6))), leaf(rng.standard_normal((3, 2, 3))), leaf(rng.standard_normal(3))
    assert anynn.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), [x, w, b])


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


def test_conv2d_keeps_float32(backend):
    rng = np.random.default_rng(6)
    x = leaf(rng.standard_normal((2, 3, 6, 6)), dtype=anynn.float32)
    w = leaf(rng.standard_normal((4, 3, 3, 3)), dtype=anynn.float32)
    b = leaf(rng.standard_normal(4), dtype=anynn.float32)
    out = F.conv2d(x, w, b, padding=1)
    out.sum().backward()
    assert out.dtype == anynn.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == anynn.float32


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

"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution: forward and every gradient equal PyTorch's conv2d (float64) on every backend
(the standard transforms on array-api-strict and torch, the compiled ones on numpy when Numba is installed),
gradcheck, float32 accuracy, and conv2d's choice between it and im2col."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn.ops.conv import ConvNd
from anynn.ops.winograd import WinogradConv2d, winograd_conv2d
from helpers import F32, assert_close, compare_with_torch, leaf, torch_or_skip

# (N, C, H, W), out channels, padding (rows, columns)
CASES = [
    ((2, 3, 7, 6), 4, (1, 1)),   # odd output height: the last tile row is half used
    ((1, 2, 5, 5), 3, (0, 0)),   # 3x3 output: odd both ways
    ((2, 3, 6, 9), 2, (2, 2)),   # padding wider than the kernel's reach: tiles over padding only
    ((3, 4, 4, 4), 5, (1, 0)),   # different padding per axis
    ((2, 1, 3, 3), 1, (0, 0)),   # a single output pixel
    ((2, 5, 8, 8), 3, (1, 1)),   # whole tiles, as in VGG
    ((2, 2, 11, 12), 3, (1, 1)),  # several tiles with a partial last row for both tile sizes
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_matches_torch(backend, case, with_bias, tile):
    torch = torch_or_skip()
    x_shape, out_ch, padding = case
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((out_ch, x_shape[1], 3, 3)),
              rng.standard_normal(out_ch) if with_bias else None]
    compare_with_torch(lambda x, w, b: winograd_conv2d(x, w, b, padding=padding, tile=tile),
                       lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=padding), arrays)


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_gradcheck(backend, tile):
    rng = np.random.default_rng(1)
    x, w, b = leaf(rng.standard_normal((2, 2, 5, 4))), leaf(rng.standard_normal((3, 2, 3, 3))), leaf(rng.standard_normal(3))
    assert anynn.gradcheck(lambda x, w, b: winograd_conv2d(x, w, b, padding=1, tile=tile), [x, w, b])


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_after_a_conv_reads_the_batch_last_layout(backend, tile):
    """The second conv gets the first's (O, OH, OW, N)-in-memory output, and a ReLU in between."""
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 2, 8, 6)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((5, 4, 3, 3))]
    compare_with_torch(
        lambda x, w1, w2: winograd_conv2d(winograd_conv2d(x, w1, padding=1, tile=tile).relu(), w2, tile=tile) * 2.0,
        lambda x, w1, w2: torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, w1, padding=1).relu(), w2) * 2.0,
        arrays)


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_float32_is_as_accurate_as_torch_needs(backend, tile):
    """A VGG-sized layer in float32 stays within the suite's float32 tolerance of PyTorch's float64 result."""
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    x_host, w_host = rng.standard_normal((4, 32, 16, 16)), rng.standard_normal((32, 32, 3, 3)) * 0.1
    g_host = rng.standard_normal((4, 32, 16, 16))
    x, w = leaf(x_host, anynn.float32), leaf(w_host, anynn.float32)
    out = winograd_conv2d(x, w, padding=1, tile=tile)
    out.backward(anynn.tensor(g_host, dtype=anynn.float32))
    tx, tw = torch.tensor(x_host, requires_grad=True), torch.tensor(w_host, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, padding=1)
    tout.backward(torch.tensor(g_host))
    assert out.dtype == x.grad.dtype == w.grad.dtype == anynn.float32
    for ours, theirs in ((out, tout), (x.grad, tx.grad), (w.grad, tw.grad)):
        scale = float(theirs.abs().max())
        assert_close(ours, theirs.detach().numpy(), rtol=F32["rtol"], atol=F32["rtol"] * scale)


def test_conv2d_runs_winograd_where_the_backend_compiles_it(backend):
    """conv2d takes Winograd for dense 3x3 stride-1 layers with >= 16 input channels on a backend with the
    compiled tile passes, and im2col otherwise; both give the same result."""
    rng = np.random.default_rng(4)
    x = leaf(rng.standard_normal((2, 16, 6, 6)))
    w = leaf(rng.standard_normal((4, 16, 3, 3)))
    compiled = "winograd_input" in backend.kernels
    assert F.conv2d(x, w, padding=1)._node.function is (WinogradConv2d if compiled else ConvNd)
    assert F.conv2d(x, w, stride=2)._node.function is ConvNd
    assert F.conv2d(x, w, dilation=2)._node.function is ConvNd
    assert F.conv2d(x[:, :8], w[:, :8])._node.function is ConvNd
    assert F.conv2d(x, leaf(rng.standard_normal((4, 8, 3, 3))), groups=2)._node.function is ConvNd
    im2col = ConvNd.apply(x, w, None, stride=(1, 1), pads=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
    assert_close(F.conv2d(x, w, padding=1), im2col)

"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution: forward and every gradient equal PyTorch's conv2d
(float64) on every backend (the standard transforms on array-api-strict and torch, the compiled ones on numpy
when Numba is installed), gradcheck, float32 error, and conv2d's choice between it and im2col."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn.ops.conv import ConvNd
from anynn.ops.winograd import WinogradConv2d, winograd_conv2d
from helpers import assert_close, compare_with_torch, host, leaf, torch_or_skip

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
    x, w, b = (leaf(rng.standard_normal(shape)) for shape in ((2, 2, 5, 4), (3, 2, 3, 3), (3,)))
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
def test_winograd_float32_error_stays_within_1e_5_of_the_output_scale(backend, tile):
    """A VGG-sized layer in float32 against PyTorch's float64 result: every value of the output and of both
    gradients within 1e-5 of that tensor's largest magnitude (the module docstring's bound: F(4x4) measures
    3e-6 to 4e-6, float32 im2col 2e-7 to 6e-7), and within 30x the error of float32 im2col."""
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    x_host, w_host = rng.standard_normal((4, 32, 16, 16)), rng.standard_normal((32, 32, 3, 3)) * 0.1
    g_host = rng.standard_normal((4, 32, 16, 16))
    tx, tw = torch.tensor(x_host, requires_grad=True), torch.tensor(w_host, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, padding=1)
    tout.backward(torch.tensor(g_host))
    errors = {}
    for algorithm in ("winograd", "im2col"):
        x, w = leaf(x_host, anynn.float32), leaf(w_host, anynn.float32)
        out = (winograd_conv2d(x, w, padding=1, tile=tile) if algorithm == "winograd" else
               ConvNd.apply(x, w, None, stride=(1, 1), pads=((1, 1), (1, 1)), dilation=(1, 1), groups=1))
        out.backward(anynn.tensor(g_host, dtype=anynn.float32))
        assert out.dtype == x.grad.dtype == w.grad.dtype == anynn.float32
        errors[algorithm] = [float(np.abs(host(ours) - ref.detach().numpy()).max() / float(ref.detach().abs().max()))
                             for ours, ref in ((out, tout), (x.grad, tx.grad), (w.grad, tw.grad))]
    for winograd_error, im2col_error in zip(errors["winograd"], errors["im2col"]):
        assert winograd_error <= 1e-5 and winograd_error <= 30 * max(im2col_error, 1e-7), errors


def test_plan_picks_winograd_only_for_large_dense_3x3_layers(backend):
    """Which algorithm conv2d takes for vgg_small's layers at batch 128 and for what Winograd must not take."""
    from anynn.ops.winograd import plan

    def tile(x_shape, weight_shape=None, stride=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)), groups=1,
             dtype=anynn.float32):
        weight_shape = weight_shape or (64, x_shape[1] // groups, 3, 3)
        return plan(backend, x_shape, weight_shape, stride, dilation, pads, groups, dtype)

    if "winograd_input" not in backend.fused:  # no compiled tile passes: im2col for everything
        assert tile((128, 32, 32, 32)) is None
        return
    assert tile((128, 32, 32, 32)) == 4 and tile((128, 64, 16, 16)) == 4  # vgg_small's 2nd to 4th convs
    assert tile((128, 256, 4, 4)) == 2  # outputs under 8x8: 2x2 tiles
    assert tile((128, 3, 32, 32)) is None  # vgg_small's first conv: too few channels
    assert tile((8, 64, 32, 32)) is None and tile((1, 64, 128, 128)) is None  # batch too small to vectorise
    assert tile((32, 64, 16, 16)) is None  # too few tiles to run on every core
    assert tile((128, 32, 32, 32), stride=(2, 2)) is None and tile((128, 32, 32, 32), dilation=(2, 2)) is None
    assert tile((128, 32, 32, 32), groups=2) is None and tile((128, 32, 32, 32), (64, 32, 5, 5)) is None
    assert tile((128, 32, 32, 32), dtype=anynn.float16) is None
    assert tile((128, 32, 32, 32), dtype=anynn.float64) == 4


@pytest.mark.parametrize("size", [9, 6])  # outputs of 9x9 (4x4 tiles) and 6x6 (2x2 tiles)
def test_conv2d_through_winograd_equals_im2col(backend, monkeypatch, size):
    """With the size thresholds lowered, conv2d runs small layers through Winograd wherever the backend compiles
    it: output and every requested gradient equal im2col's, also when only some inputs need a gradient."""
    from anynn.ops import winograd

    monkeypatch.setattr(winograd, "MIN_BATCH", 1)
    monkeypatch.setattr(winograd, "MIN_TRANSFORMED", 1)
    rng = np.random.default_rng(4)
    x_host, w_host, b_host = (rng.standard_normal((2, 16, size, size)), rng.standard_normal((4, 16, 3, 3)),
                              rng.standard_normal(4))
    g = anynn.tensor(rng.standard_normal((2, 4, size, size)), dtype=anynn.float64)
    compiled = "winograd_input" in backend.fused
    for needs in [(True, True, True), (True, False, False), (False, True, False), (False, False, True)]:
        runs = []
        for algorithm in ("conv2d", "im2col"):
            x, w, b = (leaf(a) if need else anynn.tensor(a, dtype=anynn.float64)
                       for a, need in zip((x_host, w_host, b_host), needs))
            if algorithm == "conv2d":
                out = F.conv2d(x, w, b, padding=1)
                assert out._node.function is (WinogradConv2d if compiled else ConvNd)
            else:
                out = ConvNd.apply(x, w, b, stride=(1, 1), pads=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
            out.backward(g)
            runs.append((out, x.grad, w.grad, b.grad))
        for ours, theirs in zip(*runs):
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert_close(ours, theirs)
    with anynn.no_grad():
        assert_close(F.conv2d(anynn.tensor(x_host), anynn.tensor(w_host), padding=1),
                     ConvNd.apply(anynn.tensor(x_host), anynn.tensor(w_host), stride=(1, 1), pads=((1, 1), (1, 1)),
                                  dilation=(1, 1), groups=1))


def test_winograd_conv2d_rejects_what_it_cannot_compute(backend):
    x = anynn.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"winograd_conv2d: weight of shape \(4, 3, 5, 5\) should be "
                                         r"\(out_channels, 3, 3, 3\) .* use conv2d for other kernels"):
        winograd_conv2d(x, anynn.zeros(4, 3, 5, 5))
    with pytest.raises(ValueError, match=r"winograd_conv2d: tile must be one of \[2, 4\], got 3"):
        winograd_conv2d(x, anynn.zeros(4, 3, 3, 3), tile=3)
    with pytest.raises(ValueError, match=r"winograd_conv2d got input of shape \(3, 8, 8\): expected 4-D"):
        winograd_conv2d(anynn.zeros(3, 8, 8), anynn.zeros(4, 3, 3, 3))

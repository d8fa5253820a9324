"""F.interpolate (nearest, nearest-exact, linear, bilinear, trilinear) and the Upsample layers: equal to PyTorch
(forward, gradient, float32 kept, every backend), gradcheck, reprs, errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn import nn
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_or_skip

_rng = np.random.default_rng(0)
X1, X2, X3 = _rng.standard_normal((2, 3, 5)), _rng.standard_normal((2, 2, 5, 4)), _rng.standard_normal((1, 2, 3, 4, 2))

INTERPOLATE_CASES = [
    (X2, dict(scale_factor=2)),
    (X2, dict(size=(7, 9))),
    (X2, dict(size=(3, 2))),
    (X2, dict(scale_factor=1.7, mode="nearest-exact")),
    (X2, dict(scale_factor=2, mode="bilinear")),
    (X2, dict(size=(7, 9), mode="bilinear", align_corners=True)),
    (X2, dict(scale_factor=(1.5, 2.5), mode="bilinear")),
    (X2, dict(size=(3, 3), mode="bilinear")),
    (X2, dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
    (X1, dict(scale_factor=3, mode="linear")),
    (X1, dict(size=8, mode="linear", align_corners=True)),
    (X1, dict(size=3)),
    (X3, dict(scale_factor=2, mode="trilinear")),
    (X3, dict(size=(4, 3, 5), mode="nearest")),
]

CASES = {
    **{f"interpolate {x.shape} {kw}": OpCase(F.interpolate, "nn.functional.interpolate", [x], kwargs=kw)
       for x, kw in INTERPOLATE_CASES},
    "pixel_shuffle 4-D": OpCase(F.pixel_shuffle, "nn.functional.pixel_shuffle",
                                [_rng.standard_normal((2, 8, 3, 2)), 2]),
    "pixel_shuffle 3-D r=3": OpCase(F.pixel_shuffle, "nn.functional.pixel_shuffle",
                                    [_rng.standard_normal((9, 2, 3)), 3]),
    "pixel_shuffle 5-D": OpCase(F.pixel_shuffle, "nn.functional.pixel_shuffle",
                                [_rng.standard_normal((2, 1, 4, 2, 2)), 2]),
    "pixel_unshuffle 4-D": OpCase(F.pixel_unshuffle, "nn.functional.pixel_unshuffle",
                                  [_rng.standard_normal((2, 2, 4, 6)), 2]),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


@pytest.mark.parametrize("name, kwargs", [
    ("Upsample", dict(scale_factor=2)), ("Upsample", dict(size=(3, 4), mode="bilinear", align_corners=True)),
    ("Upsample", dict(scale_factor=(2, 3))), ("UpsamplingNearest2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=5)), ("PixelShuffle", dict(upscale_factor=1)),
    ("PixelUnshuffle", dict(downscale_factor=1))])
def test_layers_match_torch(backend, name, kwargs):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    x, tx = leaf(X2), torch.tensor(X2, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout.detach().numpy())
    g = _rng.standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


def test_pixel_unshuffle_inverts_pixel_shuffle(backend):
    x = anynn.tensor(_rng.standard_normal((2, 12, 3, 4)))
    torch = torch_or_skip()
    shuffled = nn.PixelShuffle(2)(x)
    assert repr(nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert shuffled.shape == (2, 3, 6, 8)
    assert_close(nn.PixelUnshuffle(2)(shuffled), x.numpy())


def test_interpolate_errors(backend):
    x = anynn.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate \(mode='linear'\) got input of shape \(1, 2, 4, 4\): "
                                         r"expected 3-D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match=r"align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"mode='bicubic' is not supported"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"pixel_shuffle got input of shape \(1, 2, 4, 4\) and upscale_factor=2"):
        F.pixel_shuffle(x, 2)
    with pytest.raises(TypeError, match=r"^PixelShuffle\(upscale_factor=True\): upscale_factor must be an int, "
                                        r"got True"):
        nn.PixelShuffle(True)(x)

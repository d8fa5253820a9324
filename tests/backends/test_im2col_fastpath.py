"""im2col/col2im: each backend's fused pair (``backend.fused["im2col"]``) equals the standard twins in
anynn/ops/im2col.py, col2im is
exactly the adjoint of im2col (<im2col(x), c> == <x, col2im(c)>), on random geometries (padding included) and
on both input layouts a network produces: plain (N, C, H, W) and batch-last memory (a conv layer's output)."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.ops.im2col import col2im, im2col


def fused_im2col(backend, *args):
    """The backend's im2col where it registers one that covers the case, else the standard twin."""
    pair = backend.fused.get("im2col")
    out = None if pair is None else pair.forward(*args)
    return im2col(backend.xp, *args) if out is None else out


def fused_col2im(backend, *args):
    pair = backend.fused.get("im2col")
    out = None if pair is None else pair.backward(*args)
    return col2im(backend.xp, *args) if out is None else out


def _random_geometry(seed):
    """A random (N, C, H, W) input shape and a kernel/stride/dilation/padding that fit it."""
    rng = np.random.default_rng(seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    pads = tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 3, size=(2, 2)))
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    c, n = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, w = (int(max(1, s - sum(p) + rng.integers(0, 6))) for s, p in zip(span, pads))
    out_hw = tuple((size + sum(p) - sp) // s + 1 for size, p, sp, s in zip((h, w), pads, span, stride))
    return (n, c, h, w), kernel, stride, dilation, pads, out_hw


def _input(backend, host: np.ndarray, batch_last: bool):
    """``host`` (N, C, H, W) on the backend, optionally stored batch-last as conv layers hand it on."""
    x = backend.from_numpy(np.ascontiguousarray(np.moveaxis(host, 0, -1)) if batch_last else host)
    return backend.xp.permute_dims(x, (3, 0, 1, 2)) if batch_last else x


SEEDS = range(12)


@pytest.mark.parametrize("batch_last", [False, True], ids=["plain", "batch-last"])
@pytest.mark.parametrize("seed", SEEDS)
def test_im2col_equals_standard_default(backend, seed, batch_last):
    shape, kernel, stride, dilation, pads, out_hw = _random_geometry(seed)
    x = _input(backend, np.random.default_rng(100 + seed).standard_normal(shape), batch_last)
    fast = fused_im2col(backend, x, kernel, stride, dilation, pads, out_hw)
    standard = im2col(backend.xp, x, kernel, stride, dilation, pads, out_hw)
    n, c = shape[:2]
    assert tuple(fast.shape) == (c * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * n)
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(standard))


@pytest.mark.parametrize("seed", SEEDS)
def test_col2im_equals_standard_default(backend, seed):
    shape, kernel, stride, dilation, pads, out_hw = _random_geometry(seed)
    n, c = shape[:2]
    rows, cols = c * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * n
    patches = backend.from_numpy(np.random.default_rng(200 + seed).standard_normal((rows, cols)))
    fast = fused_col2im(backend, patches, shape, kernel, stride, dilation, pads, out_hw)
    standard = col2im(backend.xp, patches, shape, kernel, stride, dilation, pads, out_hw)
    assert tuple(fast.shape) == shape
    np.testing.assert_allclose(backend.to_numpy(fast), backend.to_numpy(standard), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("impl", ["fused", "standard"])
@pytest.mark.parametrize("seed", SEEDS)
def test_col2im_is_the_adjoint_of_im2col(backend, seed, impl):
    """<im2col(x), c> == <x, col2im(c)>: the pair is a correct forward/backward whatever the layout."""
    hooks = ({"im2col": lambda *a: fused_im2col(backend, *a), "col2im": lambda *a: fused_col2im(backend, *a)}
             if impl == "fused" else {"im2col": lambda *a: im2col(backend.xp, *a),
                                      "col2im": lambda *a: col2im(backend.xp, *a)})
    shape, kernel, stride, dilation, pads, out_hw = _random_geometry(seed)
    rng = np.random.default_rng(300 + seed)
    x_host = rng.standard_normal(shape)
    c_host = rng.standard_normal((shape[1] * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * shape[0]))
    cols = backend.to_numpy(hooks["im2col"](backend.from_numpy(x_host), kernel, stride, dilation, pads, out_hw))
    back = backend.to_numpy(hooks["col2im"](backend.from_numpy(c_host), shape, kernel, stride, dilation, pads,
                                            out_hw))
    np.testing.assert_allclose(np.sum(cols * c_host), np.sum(x_host * back), rtol=1e-12)


def test_im2col_patch_layout(backend):
    """Row (c, i, j), column (oh, ow, n) holds padded x[n, c, oh*s + i*d, ow*s + j*d]: the layout conv relies on."""
    shape, kernel, stride, dilation, pads, out_hw = (3, 2, 7, 6), (2, 3), (2, 1), (2, 1), ((1, 0), (0, 2)), (3, 6)
    x_host = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) + 1.0
    padded = np.pad(x_host, ((0, 0), (0, 0), pads[0], pads[1]))
    cols = backend.to_numpy(fused_im2col(backend, backend.from_numpy(x_host), kernel, stride, dilation, pads, out_hw))
    expected = np.empty((2, 2, 3, 3, 6, 3))
    for c in range(2):
        for i in range(2):
            for j in range(3):
                for oh in range(3):
                    for ow in range(6):
                        expected[c, i, j, oh, ow] = padded[:, c, oh * 2 + i * 2, ow + j]
    np.testing.assert_array_equal(cols, expected.reshape(12, 54))


def test_im2col_keeps_float32(backend):
    x = backend.from_numpy(np.ones((3, 2, 5, 5), dtype=np.float32))
    cols = fused_im2col(backend, x, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (5, 5))
    assert backend.dtype_of(cols.dtype) is anynn.float32
    back = fused_col2im(backend, cols, (3, 2, 5, 5), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (5, 5))
    assert backend.dtype_of(back.dtype) is anynn.float32 and tuple(back.shape) == (3, 2, 5, 5)

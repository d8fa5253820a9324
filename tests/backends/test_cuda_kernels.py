"""The cupy backend's CUDA kernels (anynn/backends/cuda/) equal their standard-only twins.

No GPU is needed: the very kernels run on the CPU in numba-cuda's simulator over NumPy arrays. The simulator
must be chosen before ``numba.cuda`` is first imported, and this process has imported it already (the cupy
backend's class registers the kernels), so the checks run in one child process with NUMBA_ENABLE_CUDASIM=1:
``python tests/backends/test_cuda_kernels.py OUT.json`` runs every function in ``CHECKS`` and writes each one's
outcome; the parametrised test below asserts on each. Shapes are small (the simulator runs each GPU thread as a
Python thread). Every check compares in float32 and float64, on the layouts the network hands the kernels
(plain, batch-last as conv layers produce, strided views), with the tolerances of the Numba CPU kernels' tests.

The counting backend mirroring cupy is checked here too: one launch per registered pass.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from types import MappingProxyType

import numpy as np
import pytest

TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
DTYPES = (np.float32, np.float64)
CHECKS: dict = {}


def check(fn):
    """Register a simulator check (run in the child process)."""
    CHECKS[fn.__name__] = fn
    return fn


def _rng():
    return np.random.default_rng(0)


def _layouts(rng, shape, dtype) -> dict:
    """The same values of ``shape`` as a plain array, batch-last memory and a strided view."""
    plain = rng.standard_normal(shape).astype(dtype)
    batch_last = np.moveaxis(np.ascontiguousarray(np.moveaxis(plain, 0, -1)), -1, 0)
    wide = np.zeros(shape[:-1] + (shape[-1] * 2,), dtype=dtype)
    wide[..., ::2] = plain
    return {"plain": plain, "batch-last": batch_last, "strided": wide[..., ::2]}


def _batch_last(a) -> bool:
    return a.ndim >= 2 and np.moveaxis(a, 0, -1).flags.c_contiguous


# ====================================================================== checks (child process, simulator)
@check
def batch_norm_passes_equal_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import norm as kernels
    from anynn.ops import norm

    rng = _rng()
    for dtype in DTYPES:
        for shape in [(6, 3), (5, 4, 7), (3, 2, 5, 6)]:
            channels = shape[1]
            vec = lambda: (rng.standard_normal(channels) + 0.5).astype(dtype)  # noqa: E731
            for layout, x in _layouts(rng, shape, dtype).items():
                mean, scale, shift, q, r = vec(), vec(), vec(), vec(), vec()
                cases = [("channel_moments", (x,)), ("channel_affine", (x, mean, scale, shift))]
                for grad_layout, grad in _layouts(rng, shape, dtype).items():  # the gradient in any layout
                    cases += [("channel_grad_sums", (grad, x, mean), grad_layout),
                              ("batch_norm_input_grad", (grad, x, mean, scale, q, r), grad_layout)]
                for name, args, *grad_layout in cases:
                    fast = getattr(kernels, name)(*args)
                    where = f"{name} x {layout} grad {grad_layout} {shape} {np.dtype(dtype).name}"
                    assert fast is not None, where
                    exact = getattr(norm, name)(xp, *[a.astype(np.float64) for a in args])
                    for got, want in zip(fast if isinstance(fast, tuple) else (fast,),
                                         exact if isinstance(exact, tuple) else (exact,)):
                        assert got.dtype == dtype and got.shape == want.shape, where
                        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=where)
                        if got.ndim == len(shape) and layout == "batch-last":
                            assert _batch_last(got), f"{where}: output not batch-last like its input"


@check
def batch_norm_training_pair_equals_its_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import norm as kernels
    from anynn.ops import norm

    rng = _rng()
    for dtype in DTYPES:
        for shape in [(6, 3), (3, 2, 5, 6)]:
            channels = shape[1]
            vec = lambda: (rng.standard_normal(channels) + 0.5).astype(dtype)  # noqa: E731
            variants = [(vec(), vec(), (vec(), np.abs(vec()), 0.1)),  # affine, running stats, float momentum
                        (None, None, None),  # no affine, nothing tracked
                        (vec(), None, (vec(), np.abs(vec()), np.asarray(0.25, dtype)))]  # 0-d momentum
            for layout, x in _layouts(rng, shape, dtype).items():
                for weight, bias, running in variants:
                    where = f"{layout} {shape} weight {weight is not None} running {running is not None} " \
                            f"{np.dtype(dtype).name}"
                    stats = running or (None, None, None)
                    fast = kernels.batch_norm_train(x, weight, bias, *stats, 1e-5)
                    assert fast is not None, where
                    wide = lambda a: a if a is None or isinstance(a, float) else a.astype(np.float64)  # noqa
                    exact = norm.batch_norm_train(xp, wide(x), wide(weight), wide(bias), *map(wide, stats), 1e-5)
                    for name, got, want in zip(("out", "mean", "inv_std", "running mean", "running var"), fast,
                                               exact):
                        if want is None:
                            assert got is None, (name, where)
                            continue
                        assert got.dtype == dtype and got.shape == want.shape, (name, where)
                        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} {where}")
                    if layout == "batch-last" and len(shape) == 4:
                        assert _batch_last(fast[0]), where
                    out, mean, inv_std = fast[:3]
                    grad = _layouts(rng, shape, dtype)["plain" if layout == "batch-last" else "batch-last"]
                    back = kernels.batch_norm_train_grad(grad, x, mean, inv_std, weight)
                    assert back is not None, where
                    exact = norm.batch_norm_train_grad(xp, *map(wide, (grad, x, mean, inv_std, weight)))
                    for name, got, want in zip(("gx", "gw", "gb"), back, exact):
                        assert got.dtype == dtype and got.shape == want.shape, (name, where)
                        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} {where}")
    x = np.ones((2, 3, 2, 2), np.float32)
    assert kernels.batch_norm_train(x.astype(np.float16), None, None, None, None, 0.1, 1e-5) is None
    assert kernels.batch_norm_train(x, np.ones(3, np.float64), None, None, None, 0.1, 1e-5) is None


@check
def batch_norm_moments_are_accurate_for_an_offset_channel():
    """float64 accumulation in two passes: a large common offset does not swamp the variance."""
    from anynn.backends.cuda import norm as kernels

    rng = _rng()
    x = (1000.0 + rng.standard_normal((4, 2, 5, 6))).astype(np.float32)
    mean, var = kernels.channel_moments(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-7)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-5)


@check
def batch_norm_passes_decline_what_they_do_not_cover():
    from anynn.backends.cuda import norm as kernels

    assert kernels.channel_moments(np.ones((4, 3, 2, 2), np.float16)) is None
    assert kernels.channel_moments(np.ones((2, 3, 2, 2, 2), np.float32)) is None  # 5-D: BatchNorm3d
    assert kernels.channel_affine(np.ones((4, 3), np.float32), *(np.ones(3, np.float64),) * 3) is None
    assert kernels.channel_grad_sums(np.ones((4, 3), np.float32), np.ones((4, 3), np.float64),
                                     np.ones(3, np.float64)) is None


@check
def relu_and_its_gradient_equal_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import elementwise as kernels
    from anynn.ops.elementwise import _relu, _relu_backward

    rng = _rng()
    for dtype in DTYPES:
        for layout, x in _layouts(rng, (3, 2, 5, 6), dtype).items():
            x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
            out = kernels.relu(x)
            if layout == "strided":  # not one block of memory: left to the standard op
                assert out is None
                continue
            np.testing.assert_array_equal(out, _relu(xp, x), err_msg=layout)
            assert out.strides == x.strides, layout
            grad = _layouts(rng, x.shape, dtype)[layout]
            back = kernels.relu_backward(grad, out)
            np.testing.assert_array_equal(back, _relu_backward(xp, grad, out), err_msg=layout)
            assert back.strides == grad.strides, layout
    layouts = _layouts(rng, (3, 2, 5, 6), np.float32)
    assert kernels.relu_backward(layouts["plain"], layouts["batch-last"]) is None  # layouts differ
    assert kernels.relu(np.ones(5, np.float16)) is None


@check
def leaky_relu_and_its_gradient_equal_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import elementwise as kernels
    from anynn.ops.activation import _leaky_relu, _leaky_relu_backward

    rng = _rng()
    for dtype in DTYPES:
        for slope in (0.01, 0.0, -0.5):  # a negative slope: the gradient follows the input's sign, not the output's
            for layout, x in _layouts(rng, (3, 2, 5, 6), dtype).items():
                x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
                where = f"slope {slope} {layout} {np.dtype(dtype).name}"
                out = kernels.leaky_relu(x, slope)
                if layout == "strided":
                    assert out is None and kernels.leaky_relu_backward(x, x, slope) is None, where
                    continue
                np.testing.assert_array_equal(out, _leaky_relu(xp, x, slope), err_msg=where)
                assert out.strides == x.strides and out.dtype == dtype, where
                grad = _layouts(rng, x.shape, dtype)[layout]
                back = kernels.leaky_relu_backward(grad, x, slope)
                np.testing.assert_array_equal(back, _leaky_relu_backward(xp, grad, x, slope), err_msg=where)
                assert back.strides == grad.strides and back.dtype == dtype, where
    layouts = _layouts(rng, (3, 2, 5, 6), np.float32)
    assert kernels.leaky_relu_backward(layouts["plain"], layouts["batch-last"], 0.1) is None  # layouts differ
    assert kernels.leaky_relu(np.ones(5, np.float16), 0.1) is None


@check
def bias_relu_and_its_gradients_equal_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import bias as kernels
    from anynn.ops.activation import _bias_relu, _bias_relu_backward

    rng = _rng()
    for dtype in DTYPES:
        for shape in [(6, 3), (5, 4, 7), (3, 2, 5, 6)]:
            b = rng.standard_normal(shape[1]).astype(dtype)
            for layout, x in _layouts(rng, shape, dtype).items():
                x[(0,) * len(shape)] = np.nan  # NaN stays NaN, and has no gradient
                where = f"{shape} {layout} {np.dtype(dtype).name}"
                out = kernels.bias_relu(x, b)
                want = _bias_relu(xp, x, b)
                np.testing.assert_allclose(out, want, **TOL[dtype], err_msg=where)
                assert out.dtype == dtype and np.isnan(out[(0,) * len(shape)]), where
                if len(shape) == 4:
                    assert _batch_last(out) == (layout == "batch-last"), where
                for grad_layout, grad in _layouts(rng, shape, dtype).items():
                    gx, gb = kernels.bias_relu_backward(grad, out)
                    want_gx, want_gb = _bias_relu_backward(xp, grad.astype(np.float64), out.astype(np.float64))
                    np.testing.assert_array_equal(gx, want_gx.astype(dtype), err_msg=f"{where} grad {grad_layout}")
                    np.testing.assert_allclose(gb, want_gb, **TOL[dtype], err_msg=f"{where} grad {grad_layout}")
                    assert gx.dtype == gb.dtype == dtype and gb.shape == (shape[1],), where
    x = np.ones((2, 3), np.float32)
    assert kernels.bias_relu(x, np.ones(3, np.float64)) is None
    assert kernels.bias_relu(x.astype(np.float16), np.ones(3, np.float16)) is None
    assert kernels.bias_relu_backward(x, x.astype(np.float64)) is None


# kernel, stride, dilation, pads ((top, bottom), (left, right)) on a 5x6 input
GEOMETRIES = [
    ((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),
    ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),  # overlapping windows
    ((2, 2), (2, 2), (1, 1), ((0, 1), (0, 0))),  # ceil mode: an extra row of padding
    ((3, 2), (1, 2), (2, 1), ((1, 1), (0, 1))),  # dilated, asymmetric
    ((2, 2), (2, 2), (1, 1), ((2, 2), (0, 0))),  # windows that see only padding: -inf out, no gradient
    ((1, 1), (2, 3), (1, 1), ((0, 0), (0, 0))),
]


def _out_hw(hw, kernel, stride, dilation, pads):
    return tuple((n + p[0] + p[1] - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, p in zip(hw, kernel, stride, dilation, pads))


def _reference_winners(x, kernel, stride, dilation, pads, out_hw):
    """Loops: the first maximum of each window wins, padding never, the last NaN (PyTorch's rule); -1 where a
    window sees only padding."""
    n_size, c_size, h_in, w_in = x.shape
    (kh, kw), (sh, sw), (dh, dw), ((pt, _), (pl, _)) = kernel, stride, dilation, pads
    winners = np.full((n_size, c_size) + tuple(out_hw), -1, np.int64)
    for n in range(n_size):
        for c in range(c_size):
            for oh in range(out_hw[0]):
                for ow in range(out_hw[1]):
                    best = None
                    for i in range(kh):
                        for j in range(kw):
                            h, w = oh * sh + i * dh - pt, ow * sw + j * dw - pl
                            if 0 <= h < h_in and 0 <= w < w_in:
                                v = x[n, c, h, w]
                                if best is None or v > best or v != v:
                                    best, winners[n, c, oh, ow] = v, i * kw + j
    return winners


@check
def max_pool_equals_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import pool as kernels
    from anynn.ops.pool import max_pool_scatter, max_pool_windows

    rng = _rng()
    for dtype in DTYPES:
        for geometry in GEOMETRIES:
            out_hw = _out_hw((5, 6), *geometry)
            for values in ("continuous", "ties", "nan"):
                for layout, x in _layouts(rng, (3, 2, 5, 6), dtype).items():
                    where = f"{geometry} {values} {layout} {np.dtype(dtype).name}"
                    if values == "ties":  # zeros after a ReLU and small integers: the first maximum must win
                        x[...] = np.maximum(np.round(x * 2), 0.0)
                    elif values == "nan":
                        x[0, 0, 0, 0] = x[0, 0, 1, 1] = x[1, 1, 2, 3] = x[2, 0, 4, 5] = np.nan
                    out, winners = kernels.max_pool2d(x, *geometry, out_hw)
                    want_out, _ = max_pool_windows(xp, x, *geometry, out_hw)
                    np.testing.assert_array_equal(out, want_out, err_msg=where)
                    want_winners = _reference_winners(x, *geometry, out_hw)
                    np.testing.assert_array_equal(winners, want_winners, err_msg=where)
                    assert winners.dtype == np.int8 and _batch_last(out) == _batch_last(winners) \
                        == (layout == "batch-last"), where
                    for grad_layout, grad in _layouts(rng, out.shape, dtype).items():
                        dx = kernels.max_pool2d_backward(grad, winners, x.shape, *geometry)
                        want = max_pool_scatter(xp, grad, want_winners, x.shape, *geometry)
                        # overlapping windows add their gradients in another precision: equal up to rounding
                        np.testing.assert_allclose(dx, want, **TOL[dtype], err_msg=f"{where} grad {grad_layout}")
                        assert dx.dtype == dtype and _batch_last(dx) == (layout == "batch-last"), where


@check
def max_pool_declines_what_it_does_not_cover():
    from anynn.backends.cuda import pool as kernels

    x = _rng().standard_normal((2, 3, 14, 14))
    no_pads = ((0, 0), (0, 0))
    assert kernels.max_pool2d(x, (12, 12), (1, 1), (1, 1), no_pads, (3, 3)) is None  # 144 offsets > int8
    assert kernels.max_pool2d(x.astype(np.float16), (2, 2), (2, 2), (1, 1), no_pads, (7, 7)) is None


@check
def im2col_and_col2im_equal_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import conv as kernels
    from anynn.ops.im2col import col2im, im2col

    rng = _rng()
    for dtype in DTYPES:
        for geometry in GEOMETRIES:
            out_hw = _out_hw((5, 6), *geometry)
            for layout, x in _layouts(rng, (3, 2, 5, 6), dtype).items():
                where = f"{geometry} {layout} {np.dtype(dtype).name}"
                cols = kernels.im2col(x, *geometry, out_hw)
                np.testing.assert_array_equal(cols, im2col(xp, x, *geometry, out_hw), err_msg=where)
                assert cols.dtype == dtype and cols.flags.c_contiguous, where
            upstream = rng.standard_normal(cols.shape).astype(dtype)
            for name, patches in (("contiguous", upstream), ("transposed", np.asfortranarray(upstream))):
                dx = kernels.col2im(patches, (3, 2, 5, 6), *geometry, out_hw)
                want = col2im(xp, patches, (3, 2, 5, 6), *geometry, out_hw)
                np.testing.assert_allclose(dx, want, **TOL[dtype], err_msg=f"{geometry} {name}")
                assert dx.dtype == dtype and _batch_last(dx), geometry
    assert kernels.im2col(np.ones((2, 2, 3, 3), np.float16), (2, 2), (1, 1), (1, 1), ((0, 0),) * 2, (2, 2)) is None


@check
def softmax_cross_entropy_equals_the_twins():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import loss as kernels
    from anynn.ops.loss import softmax_cross_entropy, softmax_cross_entropy_grad

    rng = _rng()
    for dtype in DTYPES:
        for classes in (7, 40):  # fewer classes than a block's threads, and more
            x = rng.standard_normal((6, classes)).astype(dtype) * 3
            x[1, :2] = [1e4, -1e4]  # extreme logits: finite loss and gradient
            x[2, 3] = -np.inf
            # a class, ignore_index, out of range above and below (NaN loss and gradient), the last class
            target = np.array([0, -100, 3, classes, -3, classes - 1], np.int64)
            for layout, ignore_index, eps in (("plain", -100, 0.0), ("plain", -100, 0.1), ("plain", 3, 0.0),
                                              ("column-major", 3, 0.1)):
                logits = x if layout == "plain" else np.asfortranarray(x)
                where = f"{classes} classes {layout} ignore {ignore_index} eps {eps} {np.dtype(dtype).name}"
                fast = kernels.softmax_cross_entropy(logits, target, ignore_index, eps)
                assert fast is not None, where
                exact = softmax_cross_entropy(xp, logits.astype(np.float64), target, ignore_index, eps)
                for name, got, want in zip(("loss", "logp", "weight"), fast, exact):
                    assert got.dtype == dtype and got.shape == want.shape, (name, where)
                    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} {where}")
                _, logp, weight = fast
                # rows 1 (target -100) and 2 (target 3): one ignored (weight 0), the other NaN or 1
                ignored, other = (1, 1.0) if ignore_index == -100 else (2, np.nan)
                np.testing.assert_array_equal(weight[[ignored, 3 - ignored, 3, 4]],
                                              [0.0, other, np.nan, np.nan], err_msg=where)
                for g in (rng.standard_normal(6).astype(dtype), np.asarray(0.25, dtype)):
                    gx = kernels.softmax_cross_entropy_grad(g, logp, target, weight, eps)
                    want = softmax_cross_entropy_grad(xp, g.astype(np.float64), logp.astype(np.float64),
                                                      target, weight.astype(np.float64), eps)
                    assert gx.dtype == dtype and gx.shape == x.shape, where
                    np.testing.assert_allclose(gx, want, **TOL[dtype], err_msg=f"grad {g.ndim}-d {where}")
                    assert np.isnan(gx[3:5]).all() and (gx[ignored] == 0).all(), where
                    assert np.isfinite(gx[[0, 5]]).all() and (ignore_index == -100) == np.isfinite(gx[1]).all()
    x = np.zeros((2, 3), np.float32)
    assert kernels.softmax_cross_entropy(x.astype(np.float16), np.zeros(2, np.int64), -100, 0.0) is None
    assert kernels.softmax_cross_entropy(x, np.zeros(2, np.int32), -100, 0.0) is None
    assert kernels.softmax_cross_entropy(np.zeros((2, 3, 4), np.float32), np.zeros((2, 4), np.int64), -100,
                                         0.0) is None  # (N, C, d1): the standard op


def _optimizer_arrays(rng, dtype, count):
    """``count`` arrays of one flat bucket's size (positive ones where squares of gradients are kept)."""
    return [np.abs(rng.standard_normal(37)).astype(dtype) if i >= 3 else rng.standard_normal(37).astype(dtype)
            for i in range(count)]


def _hyper(value, dtype, on_device):
    """A hyperparameter as a capturable optimizer hands it (a 0-d array) or as a Python number."""
    return np.asarray(value, dtype) if on_device else value


@check
def sgd_update_equals_its_twin():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import optim as kernels
    from anynn.optim.sgd import sgd_update

    rng = _rng()
    for dtype in DTYPES:
        for momentum, dampening, weight_decay, nesterov, maximize in [
                (0.0, 0.0, 0.0, False, False), (0.0, 0.0, 1e-2, False, True), (0.9, 0.0, 0.0, False, False),
                (0.9, 0.1, 1e-2, False, False), (0.9, 0.0, 1e-2, True, True)]:
            for first in ((False, True) if momentum else (False,)):
                for on_device in (False, True):
                    where = f"momentum {momentum} damp {dampening} wd {weight_decay} nesterov {nesterov} " \
                            f"maximize {maximize} first {first} device scalars {on_device} {np.dtype(dtype).name}"
                    p, grad, buf = _optimizer_arrays(rng, dtype, 3)
                    if first:
                        buf[...] = np.nan  # a new buffer's contents are never read
                    wide = [a.astype(np.float64) for a in (p, grad, buf)]
                    lr, mom = _hyper(0.05, dtype, on_device), _hyper(momentum, dtype, on_device and momentum)
                    args = (dampening, weight_decay, nesterov, maximize, first)
                    has_buf = momentum != 0
                    out = kernels.sgd_update(p, grad, buf if has_buf else None, lr, mom, *args)
                    assert out is p, where
                    sgd_update(xp, wide[0], wide[1], wide[2] if has_buf else None, 0.05, momentum, *args)
                    np.testing.assert_allclose(p, wide[0], **TOL[dtype], err_msg=f"param {where}")
                    if has_buf:
                        np.testing.assert_allclose(buf, wide[2], **TOL[dtype], err_msg=f"buffer {where}")
                    np.testing.assert_array_equal(grad, wide[1].astype(dtype), err_msg=f"grad untouched {where}")
    p, grad, buf = _optimizer_arrays(rng, np.float32, 3)
    assert kernels.sgd_update(p.astype(np.float16), grad.astype(np.float16), None, 0.1, 0.0, 0, 0, False, False,
                              False) is None
    assert kernels.sgd_update(p, grad.astype(np.float64), None, 0.1, 0.0, 0, 0, False, False, False) is None
    assert kernels.sgd_update(p, np.repeat(grad, 2)[::2], None, 0.1, 0.0, 0, 0, False, False, False) is None
    assert kernels.sgd_update(p, grad, buf, np.asarray(0.1), 0.9, 0, 0, False, False, False) is None  # f64 lr


@check
def adam_update_equals_its_twin():
    import array_api_compat.numpy as xp

    from anynn.backends.cuda import optim as kernels
    from anynn.optim.adam import adam_update

    rng = _rng()
    for dtype in DTYPES:
        for weight_decay, decoupled, maximize, amsgrad in [(0.0, False, False, False), (1e-2, False, True, False),
                                                           (1e-2, True, False, True), (0.0, False, False, True)]:
            for step in (1, 7):
                for on_device in (False, True):
                    where = f"wd {weight_decay} decoupled {decoupled} maximize {maximize} amsgrad {amsgrad} " \
                            f"step {step} device scalars {on_device} {np.dtype(dtype).name}"
                    p, grad, m, v, vmax = _optimizer_arrays(rng, dtype, 5)
                    wide = [a.astype(np.float64) for a in (p, grad, m, v, vmax)]
                    hyper = [_hyper(value, dtype, on_device) for value in (1e-2, 0.9)]
                    out = kernels.adam_update(p, grad, m, v, vmax if amsgrad else None, *hyper, 0.999, 1e-8,
                                              weight_decay, decoupled, maximize, _hyper(step, dtype, on_device))
                    assert out is p, where
                    adam_update(xp, wide[0], wide[1], wide[2], wide[3], wide[4] if amsgrad else None, 1e-2, 0.9,
                                0.999, 1e-8, weight_decay, decoupled, maximize, step)
                    for name, got, want in zip(("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                                               (p, grad, m, v, vmax), wide):
                        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} {where}")
    p, grad, m, v = _optimizer_arrays(rng, np.float32, 4)
    assert kernels.adam_update(p, grad, m, v.astype(np.float64), None, 1e-3, 0.9, 0.999, 1e-8, 0, False, False,
                               1) is None
    assert kernels.adam_update(p.astype(np.float16), *(a.astype(np.float16) for a in (grad, m, v)), None, 1e-3,
                               0.9, 0.999, 1e-8, 0, False, False, 1) is None


@check
def kernels_run_in_the_simulator_on_the_input_library():
    """The allocation seam gives NumPy arrays here (CuPy arrays on a GPU), and the launch is capped."""
    from anynn.backends.cuda import runtime

    assert runtime.SIMULATED
    out = runtime.empty(np.ones(3), (2, 5), np.float32)
    assert type(out) is np.ndarray and out.shape == (2, 5) and out.dtype == np.float32
    assert runtime.library(np.ones(2)) is np and runtime.library([1.0]) is None
    assert runtime.stream_for(np.ones(2)) == 0
    assert runtime.blocks_for(0) == 1 and runtime.blocks_for(10 ** 9) == runtime.MAX_BLOCKS


def _run_checks(path: str) -> None:
    """Child process: run every check, write {name: {"ok", "error", "seconds"}} to ``path``."""
    results = {}
    for name, fn in CHECKS.items():
        start = time.perf_counter()
        try:
            fn()
            results[name] = {"ok": True, "error": "", "seconds": time.perf_counter() - start}
        except Exception:  # noqa: BLE001 - reported to the parent, which fails that check's test
            results[name] = {"ok": False, "error": traceback.format_exc(), "seconds": time.perf_counter() - start}
    from numba.cuda.core import config

    results["_simulated"] = bool(config.ENABLE_CUDASIM)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f)


# ====================================================================== the tests (this process)
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Run all CHECKS once in numba-cuda's simulator, in a child process; their outcomes by name."""
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda): the cupy "
                        "backend then has no fused kernels, and there is nothing to check")
    path = tmp_path_factory.mktemp("cudasim") / "results.json"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(path)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the simulator run failed:\n{proc.stdout}\n{proc.stderr}"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["_seconds"] = time.perf_counter() - start
    return results


def test_the_checks_ran_in_the_simulator(simulated):
    assert simulated["_simulated"] is True
    assert set(CHECKS) <= set(simulated)


@pytest.mark.parametrize("name", list(CHECKS))
def test_kernel_in_the_simulator(simulated, name):
    result = simulated[name]
    assert result["ok"], f"{name} failed in numba-cuda's simulator:\n{result['error']}"


EXPECTED = {"batch_norm", "batch_norm_stats", "batch_norm_affine", "relu", "max_pool2d", "im2col",
            "softmax_cross_entropy", "leaky_relu", "bias_relu", "sgd_update", "adam_update"}


def test_the_cupy_backend_registers_the_kernels_by_class():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed: CupyBackend.fused is empty")
    from anynn.backends import cuda
    from anynn.backends.cupy import CupyBackend
    from anynn.ops._fused import FusedOp

    assert EXPECTED <= set(CupyBackend.fused)
    assert set(CupyBackend.fused) == set(cuda.FUSED)
    for name, pair in CupyBackend.fused.items():
        assert name in FusedOp.registry, f"{name}: no op asks for it"
        assert pair is cuda.FUSED[name]


def _counted_step(backend, build):
    """Launch counts by (op, call) of one forward and backward of ``build()``'s function on ``backend``."""
    import anynn
    import anynn.profiler as profiler

    with anynn.use_backend(backend):
        anynn.manual_seed(0)
        fn = build()
        with profiler.count() as tally:
            out = fn()
            out.backward(anynn.ones_like(out))
    return tally


def _layer(make, shape):
    def build():
        import anynn

        x = anynn.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), requires_grad=True)
        layer = make(anynn.nn)
        return lambda: layer(x)
    return build


def _cross_entropy():
    import anynn

    x = anynn.tensor(np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32), requires_grad=True)
    target = anynn.tensor(np.array([0, 1, 2, 3, 4, -100, 1, 2], np.int64))
    return lambda: anynn.nn.functional.cross_entropy(x, target, label_smoothing=0.1)


def _bias_relu():
    import anynn
    from anynn.ops.activation import bias_relu

    rng = np.random.default_rng(0)
    x = anynn.tensor(rng.standard_normal((4, 3, 6, 6)).astype(np.float32), requires_grad=True)
    b = anynn.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    return lambda: bias_relu(x, b)


LAYERS = {
    "batch_norm": (_layer(lambda nn: nn.BatchNorm2d(3), (4, 3, 6, 6)),
                   {("BatchNorm.forward", "batch_norm"), ("BatchNorm.backward", "batch_norm_backward")}),
    "batch_norm_eval": (_layer(lambda nn: nn.BatchNorm2d(3).eval(), (4, 3, 6, 6)),
                        {("BatchNorm.forward", "batch_norm_affine"), ("BatchNorm.backward", "batch_norm_affine"),
                         ("BatchNorm.backward", "batch_norm_stats_backward")}),
    "relu": (_layer(lambda nn: nn.ReLU(), (4, 3, 6, 6)),
             {("Relu.forward", "relu"), ("Relu.backward", "relu_backward")}),
    "leaky_relu": (_layer(lambda nn: nn.LeakyReLU(0.2), (4, 3, 6, 6)),
                   {("LeakyRelu.forward", "leaky_relu"), ("LeakyRelu.backward", "leaky_relu_backward")}),
    "bias_relu": (_bias_relu,
                  {("BiasRelu.forward", "bias_relu"), ("BiasRelu.backward", "bias_relu_backward")}),
    "max_pool": (_layer(lambda nn: nn.MaxPool2d(2), (4, 3, 6, 6)),
                 {("MaxPoolNd.forward", "max_pool2d"), ("MaxPoolNd.backward", "max_pool2d_backward")}),
    "conv": (_layer(lambda nn: nn.Conv2d(3, 4, 3, padding=1), (4, 3, 6, 6)),
             {("ConvNd.forward", "im2col"), ("ConvNd.backward", "im2col_backward")}),
    "cross_entropy": (_cross_entropy,
                      {("SoftmaxCrossEntropy.forward", "softmax_cross_entropy"),
                       ("SoftmaxCrossEntropy.backward", "softmax_cross_entropy_backward")}),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_counting_backend_counts_one_launch_per_registered_pass(layer, monkeypatch):
    """Mirroring cupy, each fused pass the layer runs is one launch; without the kernels it is many more."""
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed: CupyBackend.fused is empty")
    from anynn.backends.counting import CountingBackend
    from anynn.backends.cupy import CupyBackend

    build, passes = LAYERS[layer]
    fused = _counted_step(CountingBackend("cupy"), build)
    calls = fused.calls()
    for op_call in passes:
        assert calls[op_call] == 1, (op_call, dict(calls))
    monkeypatch.setattr(CupyBackend, "fused", MappingProxyType({}))
    standard = _counted_step(CountingBackend("cupy"), build)
    assert not any(call in {c for _, c in passes} for _, call in standard.calls())
    assert fused.launches < standard.launches, (fused.launches, standard.launches)


if __name__ == "__main__":
    _run_checks(sys.argv[1])


def test_a_gpu_launch_turns_off_numbas_stream_sync_for_its_own_call(monkeypatch):
    """On a GPU, numba would synchronise CuPy's exported stream before every launch (a host sync per kernel);
    the kernel runs on that stream, so launch() switches the sync off for the call and restores it after."""
    import types

    from anynn.backends.cuda import runtime

    config = types.SimpleNamespace(CUDA_ARRAY_INTERFACE_SYNC=1)
    seen = []

    class Kernel:
        def __getitem__(self, launch_config):
            seen.append(("config", launch_config))
            return lambda *args: seen.append(("call", config.CUDA_ARRAY_INTERFACE_SYNC, args))

    monkeypatch.setattr(runtime, "_CONFIG", config)
    monkeypatch.setattr(runtime, "stream_for", lambda like: "the array's stream")
    runtime.launch(Kernel(), 3, None, "a", "b")
    assert seen == [("config", (3, runtime.BLOCK, "the array's stream")), ("call", 0, ("a", "b"))]
    assert config.CUDA_ARRAY_INTERFACE_SYNC == 1

"""The NumPy backend's compiled kernels (anynn/backends/numba/) equal their standard-only twins.

Every kernel runs here in both its serial and its multi-threaded build (the size threshold is moved), on the
memory layouts the network hands it (plain, batch-last as conv layers produce, sliced views), in float32 and
float64. The ops' own tests then check the kernels' results against PyTorch through the numpy backend.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn.backends import backend_for

compiled = pytest.importorskip("anynn.backends.numba", reason="Numba is not installed "
                               "(pip install 'anynn[fast]'); the numpy backend then runs the standard ops")
import array_api_compat.numpy as xp  # noqa: E402

from anynn.backends.numba import conv as conv_kernels  # noqa: E402
from anynn.backends.numba import elementwise as elementwise_kernels  # noqa: E402
from anynn.backends.numba import pool as pool_kernels  # noqa: E402
from anynn.backends.numba import runtime  # noqa: E402
from anynn.backends.numba import winograd as winograd_kernels  # noqa: E402
from anynn.backends.numba import norm as norm_kernels  # noqa: E402
from anynn.ops.conv import DIRECT  # noqa: E402
from anynn.ops.im2col import col2im, im2col  # noqa: E402

from anynn.ops import norm  # noqa: E402
from anynn.ops.elementwise import _relu, _relu_backward  # noqa: E402

RNG = np.random.default_rng(0)
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


@pytest.fixture(params=["serial", "parallel"])
def build(request, monkeypatch):
    """Run the kernels in one build: every array counts as large (parallel) or as small (serial)."""
    monkeypatch.setattr(runtime, "_PARALLEL_MIN", 0 if request.param == "parallel" else 1 << 62)
    monkeypatch.setattr(conv_kernels, "_IM2COL_MIN", 0)
    monkeypatch.setattr(elementwise_kernels, "_RELU_MIN", 0)
    return request.param


def _layouts(shape: tuple[int, ...], dtype) -> dict[str, np.ndarray]:
    """The same values of ``shape`` as a plain array, batch-last memory and a strided view."""
    plain = RNG.standard_normal(shape).astype(dtype)
    batch_last = np.ascontiguousarray(np.moveaxis(plain, 0, -1))
    wide = np.zeros(shape[:-1] + (shape[-1] * 2,), dtype=dtype)
    wide[..., ::2] = plain
    return {"plain": plain, "batch-last": np.moveaxis(batch_last, -1, 0), "strided": wide[..., ::2]}


SHAPES = [(6, 3), (5, 4, 7), (4, 3, 5, 6)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_channel_passes_equal_the_standard_ops(build, shape, dtype):
    channels = shape[1]
    vec = lambda: (RNG.standard_normal(channels) + 0.5).astype(dtype)  # noqa: E731
    for layout, x in _layouts(shape, dtype).items():
        grad = RNG.standard_normal(shape).astype(dtype)
        mean, scale, shift, q, r = vec(), vec(), vec(), vec(), vec()
        cases = {
            "channel_moments": (x,),
            "channel_affine": (x, mean, scale, shift),
            "channel_grad_sums": (grad, x, mean),
            "batch_norm_input_grad": (grad, x, mean, scale, q, r),
        }
        for name, args in cases.items():
            fast = getattr(norm_kernels, name)(*args)
            exact = getattr(norm, name)(xp, *[a.astype(np.float64) for a in args])
            for got, want in zip(fast if isinstance(fast, tuple) else (fast,),
                                 exact if isinstance(exact, tuple) else (exact,)):
                assert got.dtype == dtype and got.shape == want.shape, (name, layout)
                np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} on {layout} {shape}")


@contextlib.contextmanager
def _numpy_backend(compiled: bool):
    """The numpy backend as the current one, with its compiled kernels or with none (the standard ops)."""
    backend = backend_for("numpy")
    saved = backend.fused
    backend.fused = saved if compiled else {}
    try:
        with anynn.use_backend(backend):
            yield backend
    finally:
        backend.fused = saved


def test_batch_norm_in_eval_mode_gives_the_input_gradient_through_the_kernels(build):
    x_host = _layouts((6, 3, 4, 5), np.float64)["batch-last"]
    grads = []
    for compiled in (True, False):
        with _numpy_backend(compiled) as backend:
            bn = anynn.nn.BatchNorm2d(3, dtype=anynn.float64).eval()
            bn.running_mean.array = backend.from_numpy(np.array([0.5, -1.0, 2.0]))
            x = anynn.tensor(x_host, requires_grad=True)
            bn(x).sum().backward()
            grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-14, atol=1e-14)


def test_channel_affine_keeps_the_input_memory_order(build):
    x = _layouts((4, 3, 5, 6), np.float32)["batch-last"]
    out = norm_kernels.channel_affine(x, *(np.ones(3, np.float32),) * 3)
    assert np.argsort(out.strides).tolist() == np.argsort(x.strides).tolist()


def test_channel_passes_leave_unsupported_cases_to_the_standard_ops():
    x16 = np.ones((4, 3, 2, 2), np.float16)
    assert norm_kernels.channel_moments(x16) is None
    assert norm_kernels.channel_moments(np.ones((2, 3, 2, 2, 2), np.float32)) is None  # 5-D: BatchNorm3d
    x = np.ones((4, 3), np.float32)
    assert norm_kernels.channel_affine(x, *(np.ones(3, np.float64),) * 3) is None  # mixed dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_its_gradient_equal_the_standard_ops(build, dtype):
    for layout, x in _layouts((8, 3, 6, 5), dtype).items():
        x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
        out = elementwise_kernels.relu(x)
        if layout == "strided":  # not one block of memory: left to NumPy
            assert out is None
            continue
        np.testing.assert_array_equal(out, _relu(xp, x), err_msg=layout)
        grad = RNG.standard_normal(x.shape).astype(dtype)
        grad = np.moveaxis(np.ascontiguousarray(np.moveaxis(grad, 0, -1)), -1, 0) if layout == "batch-last" else grad
        np.testing.assert_array_equal(elementwise_kernels.relu_backward(grad, out), _relu_backward(xp, grad, out))


def test_relu_backward_needs_matching_layouts(build):
    layouts = _layouts((8, 3, 6, 5), np.float32)
    assert elementwise_kernels.relu_backward(layouts["plain"], layouts["batch-last"]) is None


POOLS = [  # kernel, stride, padding, dilation, ceil_mode
    (2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 1, 1, 1, False), (2, 2, 0, 1, True), (3, 2, 0, 2, True),
    ((2, 3), (1, 2), (1, 0), (2, 1), False), (3, 3, 1, 1, True),
    (3, 1, 1, 3, False),  # dilated windows that see only padding: -inf out, no gradient
]


def _pool(x: np.ndarray, cfg, kernels: bool, upstream: np.ndarray | None = None):
    """Output and input gradient of F.max_pool2d on the numpy backend, with or without its kernels."""
    backend = backend_for("numpy")
    saved = backend.fused
    backend.fused = saved if kernels else {}
    try:
        with anynn.use_backend(backend):
            t = anynn.tensor(x, requires_grad=True)
            k, s, p, d, ceil = cfg
            out = F.max_pool2d(t, k, s, p, d, ceil_mode=ceil)
            out.backward(anynn.tensor(np.ones(out.shape, x.dtype) if upstream is None else upstream))
            return out.numpy(), t.grad.numpy()
    finally:
        backend.fused = saved


@pytest.mark.parametrize("cfg", POOLS)
@pytest.mark.parametrize("values", ["continuous", "ties"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_kernel_equals_the_standard_op(build, cfg, values, dtype):
    for layout, x in _layouts((3, 4, 9, 8), dtype).items():
        if values == "ties":  # zeros after a ReLU and small integers: the first maximum must win
            x = np.maximum(np.round(x * 2), 0.0)
        upstream_shape = _pool(x, cfg, kernels=False)[0].shape
        upstream = RNG.standard_normal(upstream_shape).astype(dtype)
        fast_out, fast_grad = _pool(x, cfg, True, upstream)
        std_out, std_grad = _pool(x, cfg, False, upstream)
        np.testing.assert_array_equal(fast_out, std_out, err_msg=f"{cfg} {layout}")
        # overlapping windows add their gradients in another order: equal up to rounding
        np.testing.assert_allclose(fast_grad, std_grad, **TOL[dtype], err_msg=f"{cfg} {layout}")


def test_max_pool_kernel_covers_1d_pooling_and_leaves_large_windows_to_the_standard_op(build):
    x2d = RNG.standard_normal((2, 3, 14, 14))
    no_pads = ((0, 0), (0, 0))
    assert pool_kernels.max_pool2d(x2d, (3, 3), (1, 1), (1, 1), no_pads, (12, 12)) is not None
    assert pool_kernels.max_pool2d(x2d, (12, 12), (1, 1), (1, 1), no_pads, (3, 3)) is None  # 144 offsets > int8
    x = RNG.standard_normal((4, 3, 20))
    backend = backend_for("numpy")
    with anynn.use_backend(backend):
        fast = F.max_pool1d(anynn.tensor(x), 3, 2, 1)
        saved = backend.fused
        backend.fused = {}
        try:
            standard = F.max_pool1d(anynn.tensor(x), 3, 2, 1)
        finally:
            backend.fused = saved
    np.testing.assert_array_equal(fast.numpy(), standard.numpy())


def test_max_pool_kernel_routes_through_a_flattened_gradient(build):
    """A gradient that comes back through Flatten is in plain layout while the saved winners are batch-last."""
    x = _layouts((4, 3, 6, 6), np.float32)["batch-last"]
    out, winners = pool_kernels.max_pool2d(x, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), (3, 3))
    grad = np.ascontiguousarray(RNG.standard_normal(out.shape).astype(np.float32))
    dx = pool_kernels.max_pool2d_backward(grad, winners, x.shape, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))
    expected = _pool(x, (2, 2, 0, 1, False), False, grad)[1]
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("config", [((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
                                    ((5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),
                                    ((3, 3), (2, 2), (1, 1), ((1, 0), (0, 1))),
                                    ((3, 2), (2, 1), (2, 1), ((0, 0), (0, 0))),
                                    ((1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_equal_the_standard_hooks(build, config, dtype):
    kernel, stride, dilation, pads = config
    for layout, x in _layouts((4, 3, 11, 10), dtype).items():
        out_hw = tuple((size + sum(p) - d * (k - 1) - 1) // s + 1
                       for size, p, k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation))
        fast = conv_kernels.im2col(x, kernel, stride, dilation, pads, out_hw)
        np.testing.assert_array_equal(fast, im2col(xp, x, kernel, stride, dilation, pads, out_hw),
                                      err_msg=layout)
        cols = RNG.standard_normal(fast.shape).astype(dtype)
        summed = conv_kernels.col2im(cols, x.shape, kernel, stride, dilation, pads, out_hw)
        expected = col2im(xp, cols, x.shape, kernel, stride, dilation, pads, out_hw)
        np.testing.assert_allclose(summed, expected, **TOL[dtype])
        assert summed.transpose(1, 2, 3, 0).flags.c_contiguous  # batch-last and contiguous, as conv hands on


# x shape, out channels, kernel, stride, padding, dilation (conv2d options), or a 1-D case (x of 3 dims)
DIRECT_CASES = [((16, 1, 12, 11), 6, (5, 5), 1, 2, 1), ((16, 3, 9, 9), 4, (3, 3), 2, 1, 2),
                ((17, 2, 7, 8), 3, (3, 2), (1, 2), (1, 0), 1), ((16, 1, 13), 5, (5,), 1, 2, 1)]


@pytest.mark.parametrize("case", DIRECT_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["plain", "batch-last", "strided"])
@pytest.mark.parametrize("needs", ["all", "weight only (a first layer)", "no bias"])
def test_direct_conv_equals_the_im2col_gemms_and_torch(build, case, dtype, layout, needs):
    """The compiled direct loops (forward and weight gradient) against ConvNd's standard im2col GEMMs on the same
    backend and against PyTorch in float64, with the suite's kernel tolerances; the input gradient (col2im in
    both) is checked against PyTorch."""
    torch = pytest.importorskip("torch")
    x_shape, out_ch, kernel, stride, padding, dilation = case
    conv = F.conv2d if len(x_shape) == 4 else F.conv1d
    rng = np.random.default_rng(11)
    x_host = rng.standard_normal(x_shape).astype(dtype)
    w_host = rng.standard_normal((out_ch, x_shape[1]) + kernel).astype(dtype)
    b_host = None if needs == "no bias" else rng.standard_normal(out_ch).astype(dtype)
    g_host = None
    results = []
    for compiled in (True, False):
        with _numpy_backend(compiled):
            x = anynn.tensor(x_host, requires_grad=needs != "weight only (a first layer)")
            if layout == "batch-last":
                x.array = np.moveaxis(np.ascontiguousarray(np.moveaxis(x_host, 0, -1)), -1, 0)
            elif layout == "strided":
                wide = np.zeros(x_shape[:-1] + (2 * x_shape[-1],), dtype=dtype)
                wide[..., ::2] = x_host
                x.array = wide[..., ::2]
            w = anynn.tensor(w_host, requires_grad=True)
            b = None if b_host is None else anynn.tensor(b_host, requires_grad=True)
            out = conv(x, w, b, stride=stride, padding=padding, dilation=dilation)
            assert DIRECT.ran_compiled(out._node) == compiled
            if g_host is None:
                g_host = rng.standard_normal(out.shape).astype(dtype)
            out.backward(anynn.tensor(g_host))
            grads = (out, x.grad, w.grad, None if b is None else b.grad)
            results.append([None if t is None else t.numpy() for t in grads])
    tconv = torch.nn.functional.conv2d if len(x_shape) == 4 else torch.nn.functional.conv1d
    tx, tw = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x_host, w_host))
    tb = None if b_host is None else torch.tensor(b_host.astype(np.float64), requires_grad=True)
    tout = tconv(tx, tw, tb, stride=stride, padding=padding, dilation=dilation)
    tout.backward(torch.tensor(g_host.astype(np.float64)))
    expected = [tout.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()]
    expected[1] = expected[1] if needs != "weight only (a first layer)" else None
    for direct, standard, oracle in zip(*results, expected):
        assert (direct is None) == (standard is None) == (oracle is None)
        if direct is not None:
            assert direct.dtype == dtype
            np.testing.assert_allclose(direct, standard, **TOL[dtype])
            np.testing.assert_allclose(direct, oracle, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_conv_pair_equals_its_standard_twins(build, dtype):
    """The registered pair against DIRECT's twins (im2col GEMMs), called as the protocol calls them."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 1, 12, 11)).astype(dtype)
    w = rng.standard_normal((6, 1, 5, 5)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    geometry = ((1, 1), (1, 1), ((2, 2), (2, 2)))
    pair = compiled.FUSED["conv2d_direct"]
    out = pair.forward(x, w, b, *geometry, (12, 11), 1)
    np.testing.assert_allclose(out, DIRECT.standard_forward(xp, x, w, b, *geometry, (12, 11), 1), **TOL[dtype])
    g = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(pair.backward(x, g, w.shape, *geometry),
                               DIRECT.standard_backward(xp, x, g, w.shape, *geometry), **TOL[dtype])


def test_direct_conv_leaves_other_layers_to_im2col(build):
    def runs(n=16, c=1, out=16, kernel=(5, 5), groups=1, dtype=np.float32):
        x = np.ones((n, c, 8, 8), dtype)
        w = np.ones((out, c // groups) + kernel, dtype)
        out_hw = (9 - kernel[0], 9 - kernel[1])
        return conv_kernels.conv2d_direct(x, w, None, (1, 1), (1, 1), ((0, 0), (0, 0)), out_hw, groups) is not None

    assert runs() and runs(c=2, kernel=(4, 4)) and runs(n=16, out=16)  # 32 products per output, 16 outputs
    assert not runs(n=15)  # the batch is the vectorised axis
    assert not runs(c=3, kernel=(4, 3)) and not runs(c=2, kernel=(5, 5))  # 36 and 50 products per output
    assert not runs(out=17)
    assert not runs(c=8, kernel=(1, 1))  # a 1x1 conv: its im2col copies nothing
    assert not runs(c=2, groups=2) and not runs(dtype=np.float16)


@pytest.mark.parametrize("case", [((2, 3, 7, 6), 4, ((1, 1), (1, 1))), ((3, 2, 5, 8), 3, ((0, 0), (2, 2))),
                                  ((2, 4, 4, 4), 2, ((1, 1), (0, 0))), ((1, 2, 3, 3), 1, ((0, 0), (0, 0))),
                                  ((2, 3, 10, 9), 2, ((1, 1), (1, 1)))], ids=str)
@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_tile_passes_equal_the_standard_transforms(build, case, tile, dtype):
    from anynn.ops import winograd

    bt, _, at = winograd.TRANSFORMS[tile]
    a = len(bt)
    x_shape, out_ch, pads = case
    n, c = x_shape[0], x_shape[1]
    out_hw = winograd.output_size(x_shape, pads)
    tiles = winograd.tile_grid(out_hw, tile)
    count = tiles[0] * tiles[1] * n
    exact = lambda fn, *args: fn(xp, *[a.astype(np.float64) if isinstance(a, np.ndarray) else a  # noqa: E731
                                       for a in args])
    for layout, x in _layouts(x_shape, dtype).items():
        got = winograd_kernels.winograd_input(x, bt, pads, tiles)
        assert got.dtype == dtype and got.shape == (a * a, c, count)
        np.testing.assert_allclose(got, exact(winograd.input_tiles, x, bt, pads, tiles), **TOL[dtype], err_msg=layout)
    for layout, g in _layouts((n, out_ch) + out_hw, dtype).items():
        got = winograd_kernels.winograd_grad_output(g, at, tiles)
        np.testing.assert_allclose(got, exact(winograd.grad_output_tiles, g, at, tiles), **TOL[dtype], err_msg=layout)
    m = RNG.standard_normal((a * a, out_ch, count)).astype(dtype)
    for bias in (RNG.standard_normal(out_ch).astype(dtype), None):
        got = winograd_kernels.winograd_output(m, at, bias, out_hw, tiles)
        np.testing.assert_allclose(got, exact(winograd.output_from_tiles, m, at, bias, out_hw, tiles), **TOL[dtype])
        assert got.transpose(1, 2, 3, 0).flags.c_contiguous  # batch-last, as conv layers hand on
    dv = RNG.standard_normal((a * a, c, count)).astype(dtype)
    got = winograd_kernels.winograd_grad_input(dv, bt, x_shape, pads, tiles)
    np.testing.assert_allclose(got, exact(winograd.grad_input_from_tiles, dv, bt, x_shape, pads, tiles), **TOL[dtype])
    assert got.transpose(1, 2, 3, 0).flags.c_contiguous


def test_winograd_tile_passes_leave_other_dtypes_to_the_standard_transforms():
    from anynn.ops.winograd import TRANSFORMS

    bt, _, at = TRANSFORMS[2]
    x = np.ones((1, 2, 4, 4), dtype=np.float16)
    assert winograd_kernels.winograd_input(x, bt, ((1, 1), (1, 1)), (2, 2)) is None
    assert winograd_kernels.winograd_grad_output(x, at, (2, 2)) is None
    assert winograd_kernels.winograd_output(np.ones((16, 2, 4), np.float16), at, None, (4, 4), (2, 2)) is None
    assert winograd_kernels.winograd_output(np.ones((16, 2, 4)), at, np.ones(2, np.float32), (4, 4), (2, 2)) is None
    assert winograd_kernels.winograd_grad_input(np.ones((16, 2, 4), np.float16), bt, (1, 2, 4, 4), ((1, 1), (1, 1)),
                                             (2, 2)) is None


def test_numba_can_be_switched_off(monkeypatch):
    from anynn.backends.numpy import fused_kernels

    monkeypatch.setenv("ANYNN_NUMBA", "0")
    assert fused_kernels()[1] is None and set(fused_kernels()[0]) == {"im2col"}  # NumPy's strided-window copy
    monkeypatch.setenv("ANYNN_NUMBA", "1")
    fused, compiler = fused_kernels()
    assert compiler == "numba" and set(fused) == set(compiled.FUSED) | {"batch_norm"}  # the twin with Numba passes
    monkeypatch.setenv("ANYNN_WINOGRAD", "0")
    fused, _ = fused_kernels()
    assert "winograd_input" not in fused and "relu" in fused


def test_openblas_workers_are_stopped_only_while_no_other_thread_runs():
    import threading

    from anynn.backends.numpy import blas_pool_stopper, only_main_thread_running

    if threading.active_count() == 1:
        assert only_main_thread_running()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not only_main_thread_running()
    finally:
        release.set()
        other.join()
    stop = blas_pool_stopper()
    if stop is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: nothing to stop")
    a = RNG.standard_normal((300, 200))
    before = a @ a.T
    stop()
    np.testing.assert_array_equal(a @ a.T, before)  # the next GEMM restarts the workers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("running", [True, False])
def test_batch_norm_training_pair_equals_its_standard_twins(build, dtype, running):
    """The numpy backend's fused batch norm (the twin with the compiled passes plugged in) against the twin."""
    pair = backend_for("numpy").fused["batch_norm"]
    for layout, x in _layouts((6, 3, 4, 5), dtype).items():
        weight, bias = (RNG.standard_normal(3) + 1.0).astype(dtype), RNG.standard_normal(3).astype(dtype)
        stats = (np.zeros(3, dtype), np.ones(3, dtype), 0.1) if running else (None, None, None)
        fast = pair.forward(x, weight, bias, *stats, 1e-5)
        exact = norm.batch_norm_train(xp, x, weight, bias, *stats, 1e-5)
        for got, want in zip(fast, exact):
            assert (got is None) == (want is None)
            if got is not None:
                assert got.dtype == dtype, layout
                np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=layout)
        grad = RNG.standard_normal(x.shape).astype(dtype)
        mean, inv_std = exact[1], exact[2]
        for got, want in zip(pair.backward(grad, x, mean, inv_std, weight),
                             norm.batch_norm_train_grad(xp, grad, x, mean, inv_std, weight)):
            np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=layout)

"""Per-op kernels, forward + backward, float32: anynn on each backend and PyTorch in the same group.

Every timed call ends with a device synchronisation, so GPU numbers include the kernels, not just their launch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

# name: (N, C, H, W, out_channels, kernel, stride, padding) as in the LeNet-5 and vgg_small layers
CONV_CASES = {
    "lenet-conv1": (256, 1, 28, 28, 6, 5, 1, 2),
    "lenet-conv2": (256, 6, 14, 14, 16, 5, 1, 0),
    "vgg-conv2": (128, 32, 32, 32, 32, 3, 1, 1),
    "vgg-conv3": (128, 32, 16, 16, 64, 3, 1, 1),
}
FEATURE_MAP = (128, 32, 32, 32)  # vgg_small's first block output: pooling and batch-norm cases
LSTM = dict(batch=64, input=128, hidden=256)
MLP_PARAMS = [(1024, 784), (1024,), (256, 1024), (256,), (10, 256), (10,)]  # mlp(hidden=(1024, 256)): 1.07M


def _leaves(impl, rng, *shapes):
    return [impl.tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes]


def _clear(*tensors) -> None:
    for t in tensors:
        t.grad = None


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_backward(benchmark, impl, rng, batch, case):
    n, c, h, w, out, k, stride, pad = CONV_CASES[case]
    n = batch(n)
    x, weight, bias = _leaves(impl, rng, (n, c, h, w), (out, c, k, k), (out,))
    side = (h + 2 * pad - k) // stride + 1
    grad = impl.tensor(rng.standard_normal((n, out, side, side)))

    def run():
        _clear(x, weight, bias)
        impl.F.conv2d(x, weight, bias, stride=stride, padding=pad).backward(grad)
        impl.sync()

    benchmark.group = f"conv2d fwd+bwd {case} ({n}x{c}x{h}x{w} -> {out}, {k}x{k})"
    benchmark.extra_info["gflop"] = 3 * 2 * n * out * side * side * c * k * k / 1e9
    benchmark(run)


def test_max_pool_forward_backward(benchmark, impl, rng, batch):
    n, c, h, w = FEATURE_MAP
    n = batch(n)
    (x,) = _leaves(impl, rng, (n, c, h, w))
    grad = impl.tensor(rng.standard_normal((n, c, h // 2, w // 2)))

    def run():
        _clear(x)
        impl.F.max_pool2d(x, 2).backward(grad)
        impl.sync()

    benchmark.group = f"max_pool2d 2x2 fwd+bwd ({n}x{c}x{h}x{w})"
    benchmark(run)


def test_batch_norm_forward_backward(benchmark, impl, rng, batch):
    n, c, h, w = FEATURE_MAP
    n = batch(n)
    x, weight, bias = _leaves(impl, rng, (n, c, h, w), (c,), (c,))
    running_mean, running_var = impl.tensor(np.zeros(c)), impl.tensor(np.ones(c))
    grad = impl.tensor(rng.standard_normal((n, c, h, w)))

    def run():
        _clear(x, weight, bias)
        impl.F.batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=0.1,
                          eps=1e-5).backward(grad)
        impl.sync()

    benchmark.group = f"batch_norm train fwd+bwd ({n}x{c}x{h}x{w})"
    benchmark(run)


def test_lstm_step_forward_backward(benchmark, impl, rng, batch):
    n, d, hidden = batch(LSTM["batch"]), LSTM["input"], LSTM["hidden"]
    x, h, c, w_ih, w_hh, b_ih, b_hh = _leaves(impl, rng, (n, d), (n, hidden), (n, hidden), (4 * hidden, d),
                                              (4 * hidden, hidden), (4 * hidden,), (4 * hidden,))
    grad = impl.tensor(rng.standard_normal((n, hidden)))

    def run():
        _clear(x, h, c, w_ih, w_hh, b_ih, b_hh)
        h_next, _ = impl.F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
        h_next.backward(grad)
        impl.sync()

    benchmark.group = f"lstm_cell fwd+bwd (batch {n}, input {d}, hidden {hidden})"
    benchmark(run)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_optimizer_step(benchmark, impl, rng, optimizer):
    params = [impl.parameter(rng.standard_normal(shape) * 0.01) for shape in MLP_PARAMS]
    for p in params:
        p.grad = impl.tensor(rng.standard_normal(p.shape) * 0.01)
    options = dict(lr=0.01, momentum=0.9) if optimizer == "SGD" else dict(lr=1e-3)
    opt = getattr(impl.optim, optimizer)(params, **options)

    def run():
        opt.step()
        impl.sync()

    count = sum(math.prod(shape) for shape in MLP_PARAMS)
    benchmark.group = f"{optimizer} step ({count / 1e6:.2f}M parameters in {len(MLP_PARAMS)} tensors)"
    benchmark(run)

"""bias_relu (a layer's bias add fused with the ReLU after it) against PyTorch's relu(x + bias) in float64
(outputs and both gradients), gradcheck, float32, every backend; its launches on the cupy path."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.ops.activation import bias_relu
from helpers import OpCase, op_case_suite


def _torch_bias_relu(x, bias):
    shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
    return (x + bias.reshape(shape)).relu()


def _case(shape, seed=0) -> OpCase:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    bias = rng.standard_normal(shape[1])
    smooth_x = x + np.where(np.abs(x + bias.reshape((1, -1) + (1,) * (len(shape) - 2))) < 0.1, 0.3, 0.0)
    return OpCase(bias_relu, _torch_bias_relu, [x, bias], gradcheck_inputs=[smooth_x, bias])


CASES = {
    "linear_(5, 4)": _case((5, 4)),
    "conv1d_(3, 4, 6)": _case((3, 4, 6), 1),
    "conv2d_(2, 3, 4, 5)": _case((2, 3, 4, 5), 2),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_bias_that_does_not_fit_is_named(backend):
    with pytest.raises(ValueError, match=r"bias_relu: bias of shape \(4,\) does not fit an input of shape \(2, 3\)"):
        bias_relu(anynn.zeros(2, 3), anynn.zeros(4))


def test_one_launch_each_way_on_the_cupy_path():
    """Mirroring cupy: one launch forward, one backward (input and bias gradients), where the separate bias add
    and ReLU take four (add, relu; relu_backward, sum)."""
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed: CupyBackend.fused is empty")
    from anynn import profiler
    from anynn.backends import backend_for

    rng = np.random.default_rng(0)
    with anynn.use_backend(backend_for("counting", "cupy")):
        x = anynn.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32), requires_grad=True)
        b = anynn.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
        seed = anynn.ones(4, 3, 5, 5)
        with profiler.count() as fused:
            bias_relu(x, b).backward(seed)
        with profiler.count() as separate:
            (x + b.reshape(1, 3, 1, 1)).relu().backward(seed)
    assert fused.launches == 2, dict(fused.calls())
    assert separate.launches > fused.launches, dict(separate.calls())

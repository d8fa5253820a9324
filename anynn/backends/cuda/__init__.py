"""Compiled GPU kernels for the cupy backend (numba-cuda): fused passes where CuPy would launch one kernel per
array operation. One module per op family, mirroring ``anynn/ops/`` and ``anynn/backends/numba/``;
``runtime`` holds the launch configuration, the stream and the allocation seam.

:data:`FUSED` registers them with the fast-path protocol (``anynn/ops/_fused.py``) under the names the ops
ask for; ``CupyBackend.fused`` is this mapping. Each pass has a standard-only twin in its op, and
``tests/backends/test_cuda_kernels.py`` runs these very kernels on the CPU, in numba-cuda's simulator over NumPy
arrays, against the twins. A pass returns ``None`` for a case it does not cover (a dtype other than
float32/float64, an unusual rank or layout), and the op then runs the twin.

On a GPU the kernels take CuPy arrays (numba.cuda reads them through DLPack / ``__cuda_array_interface__``),
run on CuPy's current stream, and allocate their outputs with CuPy: no host syncs, no host data, and each pass
is one launch (``anynn.profiler`` counts it so on the counting backend).
"""
from __future__ import annotations

from anynn.backends.base import FusedKernels
from anynn.backends.cuda import bias, conv, elementwise, loss, norm, optim, pool

FUSED: dict[str, FusedKernels] = {
    "batch_norm": FusedKernels(norm.batch_norm_train, norm.batch_norm_train_grad),
    "batch_norm_stats": FusedKernels(norm.channel_moments, norm.channel_grad_sums),
    "batch_norm_affine": FusedKernels(norm.channel_affine, norm.batch_norm_input_grad),
    "relu": FusedKernels(elementwise.relu, elementwise.relu_backward),
    "leaky_relu": FusedKernels(elementwise.leaky_relu, elementwise.leaky_relu_backward),
    "bias_relu": FusedKernels(bias.bias_relu, bias.bias_relu_backward),
    "max_pool2d": FusedKernels(pool.max_pool2d, pool.max_pool2d_backward),
    "im2col": FusedKernels(conv.im2col, conv.col2im),
    "softmax_cross_entropy": FusedKernels(loss.softmax_cross_entropy, loss.softmax_cross_entropy_grad),
    # single passes (no backward): the optimizers' multi-tensor updates, one launch per flat bucket
    "sgd_update": FusedKernels(optim.sgd_update, None),
    "adam_update": FusedKernels(optim.adam_update, None),
}

__all__ = ["FUSED"]

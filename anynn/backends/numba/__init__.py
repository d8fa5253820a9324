"""Compiled CPU kernels for the NumPy backend (Numba): fused, multi-threaded versions of the passes NumPy
runs one array-sized operation at a time, on one core. One module per op family, mirroring ``anynn/ops/``;
``runtime`` holds what they share.

:data:`FUSED` registers them with the fast-path protocol (``anynn/ops/_fused.py``): each fused operation's
forward and backward together, under the name its op asks for. Each pass has a standard-only twin in that
op, and ``tests/backends/test_numba_kernels.py`` proves every pair agrees. A pass returns ``None`` for a case
it does not cover (a dtype other than float32/float64, an unusual rank), and the op then runs the twin.

Layouts: the passes take arrays in their logical (N, C, ...) shape, in whatever memory order they have
(convolutions hand on batch-last (C, H, W, N) memory), and give the loops views ordered so the innermost loop
walks the fastest-varying axis. Outputs are allocated in the input's memory order, except the convolution
passes', which are batch-last like ConvNd's GEMM results.
"""
from __future__ import annotations

from anynn.backends.base import FusedKernels
from anynn.backends.numba import conv, elementwise, norm, pool, winograd
from anynn.backends.numba.runtime import set_threads

FUSED: dict[str, FusedKernels] = {
    "batch_norm_stats": FusedKernels(norm.channel_moments, norm.channel_grad_sums),
    "batch_norm_affine": FusedKernels(norm.channel_affine, norm.batch_norm_input_grad),
    "relu": FusedKernels(elementwise.relu, elementwise.relu_backward),
    "max_pool2d": FusedKernels(pool.max_pool2d, pool.max_pool2d_backward),
    "im2col": FusedKernels(conv.im2col, conv.col2im),
    "conv2d_direct": FusedKernels(conv.conv2d_direct, conv.conv2d_direct_weight_grad),
    "winograd_input": FusedKernels(winograd.winograd_input, winograd.winograd_grad_input),
    "winograd_output": FusedKernels(winograd.winograd_output, winograd.winograd_grad_output),
}

__all__ = ["FUSED", "set_threads"]

"""ReLU and LeakyReLU and their gradients as CUDA kernels, one thread per element of a dense block; twins in
``anynn/ops/elementwise.py`` (ReLU) and ``anynn/ops/activation.py`` (LeakyReLU)."""
from __future__ import annotations

from typing import Any

from numba import cuda

from anynn.backends.cuda.runtime import FLOATS, blocks_for, dense_order, empty_in_order, launch, library


@cuda.jit
def _relu(x, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        out[i] = 0 if v <= 0 else v  # NaN stays NaN, as in PyTorch


@cuda.jit
def _relu_backward(grad, y, out):
    for i in range(cuda.grid(1), grad.shape[0], cuda.gridsize(1)):
        out[i] = grad[i] if y[i] > 0 else 0


@cuda.jit
def _leaky_relu(x, slope, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        out[i] = v if v > 0 else v * slope  # NaN * slope: NaN stays NaN


@cuda.jit
def _leaky_relu_backward(grad, x, slope, out):
    for i in range(cuda.grid(1), grad.shape[0], cuda.gridsize(1)):
        out[i] = grad[i] if x[i] > 0 else grad[i] * slope


def _memory_order_view(a: Any, order: tuple[int, ...]) -> Any:
    """The 1-D view of a dense ``a`` whose memory order is ``order``."""
    return a.transpose(order).reshape(-1)


def relu(x: Any) -> Any:
    """``max(x, 0)``, in ``x``'s memory order; declines arrays that are not one dense block."""
    order = dense_order(x) if x.dtype in FLOATS and library(x) is not None else None
    if order is None:
        return None
    out = empty_in_order(x, order)
    launch(_relu, blocks_for(x.size), x, _memory_order_view(x, order), _memory_order_view(out, order))
    return out


def relu_backward(grad: Any, y: Any) -> Any:
    """``grad`` where the ReLU's output ``y`` is positive, else 0; both dense and laid out alike."""
    if grad.dtype not in FLOATS or grad.dtype != y.dtype or grad.shape != y.shape or library(grad) is None:
        return None
    order = dense_order(grad)
    if order is None or dense_order(y) != order:
        return None
    out = empty_in_order(grad, order)
    view = _memory_order_view
    launch(_relu_backward, blocks_for(grad.size), grad, view(grad, order), view(y, order), view(out, order))
    return out


def leaky_relu(x: Any, negative_slope: float) -> Any:
    """``x`` where positive, else ``negative_slope * x``, in ``x``'s memory order; dense arrays only."""
    order = dense_order(x) if x.dtype in FLOATS and library(x) is not None else None
    if order is None:
        return None
    out = empty_in_order(x, order)
    slope = x.dtype.type(negative_slope)  # the slope in x's precision, as the standard op multiplies
    launch(_leaky_relu, blocks_for(x.size), x, _memory_order_view(x, order), slope, _memory_order_view(out, order))
    return out


def leaky_relu_backward(grad: Any, x: Any, negative_slope: float) -> Any:
    """``grad`` where the input ``x`` is positive, else ``negative_slope * grad``; both dense and laid out alike."""
    if grad.dtype not in FLOATS or grad.dtype != x.dtype or grad.shape != x.shape or library(grad) is None:
        return None
    order = dense_order(grad)
    if order is None or dense_order(x) != order:
        return None
    out = empty_in_order(grad, order)
    view = _memory_order_view
    launch(_leaky_relu_backward, blocks_for(grad.size), grad, view(grad, order), view(x, order),
           grad.dtype.type(negative_slope), view(out, order))
    return out

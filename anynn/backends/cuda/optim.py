"""Multi-tensor optimizer updates as one CUDA kernel each: SGD (momentum, dampening, Nesterov, weight decay,
maximize) and Adam/AdamW (AMSGrad, L2 or decoupled weight decay). Twins ``sgd_update`` in ``anynn/optim/sgd.py``
and ``adam_update`` in ``anynn/optim/adam.py``.

The optimizers run their update once per flat bucket (``anynn/optim/flat.py``: a group's parameters of one dtype
are views into one buffer, and so are their gradients and states), so one launch updates every parameter of
the bucket in place: one thread per element, reading the parameter, gradient and states once and writing them
once, where the standard update launches one kernel per array operation (4 for SGD with momentum, ~13 for
Adam). Arithmetic is float64 per element, stored in the parameter's dtype.

Hyperparameters that a capturable optimizer keeps on the device (``lr``, ``momentum``, ``beta1``, Adam's
``step``: 0-d arrays, ``anynn/optim/capturable.py``) are read by the kernel from device memory, so a captured
CUDA graph sees each replay's values; Python numbers are passed by value.
"""
from __future__ import annotations

import math
from typing import Any

from numba import cuda

from anynn.backends.cuda.runtime import FLOATS, blocks_for, launch, library


@cuda.jit(device=True)
def _value(on_device, array, number):
    """A hyperparameter: the 0-d device array's value (seen as shape (1,)) or the Python number."""
    return float(array[0]) if on_device else number


@cuda.jit
def _sgd(p, grad, buf, lr_dev, lr_arr, lr, mom_dev, mom_arr, mom, dampening, weight_decay, nesterov, maximize,
         has_buf, first):
    lr = _value(lr_dev, lr_arr, lr)
    mom = _value(mom_dev, mom_arr, mom)
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g += weight_decay * float(p[i])
        if has_buf:
            if first:
                b = g
            else:
                b = mom * float(buf[i]) + (1.0 - dampening) * g
            buf[i] = b
            g = g + mom * b if nesterov else b
        p[i] = float(p[i]) - lr * g


@cuda.jit
def _adam(p, grad, exp_avg, exp_avg_sq, max_sq, lr_dev, lr_arr, lr, b1_dev, b1_arr, beta1, beta2, eps,
          weight_decay, decoupled, maximize, amsgrad, step_dev, step_arr, step):
    lr = _value(lr_dev, lr_arr, lr)
    beta1 = _value(b1_dev, b1_arr, beta1)
    step = _value(step_dev, step_arr, step)
    step_size = lr / (1.0 - beta1 ** step)
    bias2 = math.sqrt(1.0 - beta2 ** step)
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        w = float(p[i])
        if weight_decay != 0:
            if decoupled:
                w *= 1.0 - lr * weight_decay
            else:
                g += weight_decay * w
        m = float(exp_avg[i])
        m += (1.0 - beta1) * (g - m)
        v = beta2 * float(exp_avg_sq[i]) + (1.0 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(float(max_sq[i]), v)
            max_sq[i] = v
        p[i] = w - step_size * (m / (math.sqrt(v) / bias2 + eps))


def _contiguous_1d_views(arrays: list[Any]) -> list[Any] | None:
    """The arrays as 1-D views if all are C-contiguous arrays of one float dtype, shape and library, else None."""
    first = arrays[0]
    if first.dtype not in FLOATS or library(first) is None:
        return None
    for a in arrays:
        if type(a) is not type(first) or a.dtype != first.dtype or a.shape != first.shape \
                or not a.flags.c_contiguous:
            return None
    return [a.reshape(-1) for a in arrays]


def _scalar(value: Any, like: Any) -> tuple[bool, Any, float] | None:
    """A hyperparameter as the kernel takes it: (on device, array of shape (1,), number); None if it is an array
    the kernel cannot read (another library or dtype: the pass then declines)."""
    if isinstance(value, (int, float)):
        return False, like[:1], float(value)
    if type(value) is not type(like) or value.dtype != like.dtype or value.size != 1:
        return None
    return True, value.reshape(1), 0.0


def sgd_update(p: Any, grad: Any, buf: Any, lr: Any, momentum: Any, dampening: float, weight_decay: float,
               nesterov: bool, maximize: bool, first: bool) -> Any:
    """One SGD step on ``p`` (and ``buf``, None without momentum) in place, in one launch; returns ``p``."""
    flat = _contiguous_1d_views([p, grad] + ([] if buf is None else [buf]))
    if flat is None:
        return None
    lr_args, mom_args = _scalar(lr, flat[0]), _scalar(momentum, flat[0])
    if lr_args is None or mom_args is None:
        return None
    launch(_sgd, blocks_for(p.size), p, flat[0], flat[1], flat[2] if buf is not None else flat[0], *lr_args,
           *mom_args, float(dampening), float(weight_decay), bool(nesterov), bool(maximize), buf is not None,
           bool(first))
    return p


def adam_update(p: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any, lr: Any, beta1: Any,
                beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool, step: Any) -> Any:
    """One Adam/AdamW step on ``p`` and its moments in place, in one launch; returns ``p``."""
    amsgrad = max_exp_avg_sq is not None
    flat = _contiguous_1d_views([p, grad, exp_avg, exp_avg_sq] + ([max_exp_avg_sq] if amsgrad else []))
    if flat is None:
        return None
    scalars = [_scalar(value, flat[0]) for value in (lr, beta1, step)]
    if any(s is None for s in scalars):
        return None
    (lr_args, b1_args, step_args) = scalars
    launch(_adam, blocks_for(p.size), p, *flat[:4], flat[4] if amsgrad else flat[0], *lr_args, *b1_args,
           float(beta2), float(eps), float(weight_decay), bool(decoupled), bool(maximize), amsgrad, *step_args)
    return p


__all__ = ["adam_update", "sgd_update"]

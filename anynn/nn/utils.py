"""Gradient clipping and parameters <-> vector, with ``torch.nn.utils``'s names and semantics.

Clipping stays on the device: the total norm and the scale factor ``min(max_norm / (norm + 1e-6), 1)`` are
0-d arrays, and every gradient is multiplied by the factor (also when it is 1) instead of branching on a value
read back to the host. A clipped gradient is a new array bound to ``p.grad.array``: the engine may hand the
same gradient array to several parameters, so writing into it would clip the others too.
"""
from __future__ import annotations

import math
import types
import warnings
from typing import Any, Iterable, Union

from anynn.autograd.factories import tensor as _tensor
from anynn.autograd.tensor import BackendMismatchError, Tensor
from anynn.ops._args import expect_tensor
from anynn.ops._util import cast
from anynn.ops.shape import concat

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm", "parameters_to_vector",
           "vector_to_parameters"]

TensorOrTensors = Union[Tensor, Iterable[Tensor]]


def _grads(parameters: TensorOrTensors) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _same_backend(name: str, tensors: list[Tensor]) -> Any:
    backend = tensors[0].backend
    for t in tensors[1:]:
        if t.backend is not backend:
            raise BackendMismatchError(name, backend, t.backend)
    return backend


def _partial_norm(xp: Any, a: Any, p: float, device: Any) -> Any:
    """What p-norms of several arrays combine through (:func:`_combine`): the max or min of ``|a|`` for
    ``p = +-inf``, else ``sum(|a| ** p)`` (the count of non-zeros for ``p = 0``), as a 0-d array."""
    if math.prod(a.shape) == 0:
        return xp.zeros((), dtype=a.dtype, device=device)
    if p == math.inf:
        return xp.max(xp.abs(a))
    if p == -math.inf:
        return xp.min(xp.abs(a))
    if p == 0:
        return xp.sum(xp.astype(a != 0, a.dtype))
    if p == 1:
        return xp.sum(xp.abs(a))
    if p == 2:
        flat = xp.reshape(a, (-1,))
        return xp.vecdot(flat, flat)
    return xp.sum(xp.abs(a) ** p)


def _combine(xp: Any, partials: list[Any], p: float) -> Any:
    """Fold per-array partial norms into one, pairwise (no stack: on CuPy joining more than 8 arrays uploads a
    pointer table, which a captured step cannot do). For ``p = 0`` PyTorch counts the arrays with a non-zero
    element (the 0-norm of the per-array norms), and so does this."""
    join = xp.maximum if p == math.inf else xp.minimum if p == -math.inf else xp.add
    if p == 0:
        partials = [xp.astype(part != 0, part.dtype) for part in partials]
    total = partials[0]
    for part in partials[1:]:
        total = join(total, part)
    return total


def _finish(xp: Any, partial: Any, p: float) -> Any:
    if p in (math.inf, -math.inf, 0, 1):
        return partial
    return xp.sqrt(partial) if p == 2 else partial ** (1.0 / p)


def get_total_norm(tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` viewed as one vector (``'inf'`` for the max-norm).

    Everything stays on the device; ``error_if_nonfinite=True`` reads the norm back to the host to check it
    (one device sync).
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _tensor(0.0)
    backend = _same_backend("get_total_norm", tensors)
    xp = backend.xp
    partials = [_partial_norm(xp, t.array, norm_type, backend.device) for t in tensors]
    dtype = xp.result_type(*partials) if len(partials) > 1 else partials[0].dtype
    partials = [cast(xp, n, dtype) for n in partials]
    total = _finish(xp, _combine(xp, partials, norm_type), norm_type)
    if error_if_nonfinite and not bool(xp.all(xp.isfinite(total))):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(total, backend)


def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale every gradient by ``min(max_norm / (total_norm + 1e-6), 1)`` (``total_norm`` computed before)."""
    grads = _grads(parameters)
    if not grads:
        return
    backend = _same_backend("clip_grads_with_norm_", grads + [total_norm])
    xp = backend.xp
    coef = xp.clip(float(max_norm) / (total_norm.array + 1e-6), max=1.0)
    for g in grads:
        g.array = g.array * cast(xp, coef, g.array.dtype)


def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so their total ``norm_type``-norm is at most ``max_norm``; returns the norm
    before clipping as a 0-d Tensor on the gradients' backend (no host sync)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    total_norm = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.array = g.xp.clip(g.array, min=-clip_value, max=clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one 1-D tensor (differentiable, like ``torch.cat``)."""
    flat = [p.reshape(-1) for p in parameters]
    if not flat:
        raise ValueError("parameters_to_vector got no parameters")
    return concat(flat)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (each keeps its shape and dtype).

    The parameters get copies, not views of ``vec``: optimizers update parameter arrays in place.
    """
    expect_tensor("vector_to_parameters", vec, "vec")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.shape != (total,):
        raise ValueError(f"vector_to_parameters got vec of shape {vec.shape} but the parameters hold {total} "
                         f"elements; expected shape ({total},)")
    xp, offset = vec.xp, 0
    for p in params:
        n = p.numel()
        p.array = p.backend.asarray(xp.reshape(vec.array[offset:offset + n], p.shape), p.dtype)
        offset += n

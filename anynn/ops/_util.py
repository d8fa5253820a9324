"""Small helpers shared by the ops: gradient un-broadcasting, axis normalisation."""
from __future__ import annotations

from typing import Any


def unbroadcast(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes broadcasting added or stretched, so it has ``shape`` again."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes)
    return xp.reshape(grad, tuple(shape))


def norm_axis(axis: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...] | None:
    """``axis`` as a sorted tuple of non-negative ints (None stays None: all axes)."""
    if axis is None:
        return None
    if isinstance(axis, int):
        axis = (axis,)
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
    return tuple(sorted(a % max(ndim, 1) for a in axis))


def shape_of(x: Any) -> tuple[int, ...]:
    """Shape of an array, or () for a Python scalar."""
    return tuple(getattr(x, "shape", ()))


__all__ = ["norm_axis", "shape_of", "unbroadcast"]

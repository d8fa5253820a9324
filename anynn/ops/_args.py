"""Argument checks shared by every op and layer: host metadata only (types, shapes, dtypes, Python numbers).

Each check raises an error that names the caller (``who``: a layer, named by its repr, or a functional op's
name), what it expected, what it got and what to do. Checks that read array *values* (class labels, embedding
indices) live in :mod:`anynn.ops._checks`, which defers them on GPUs.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.ops._util import broadcast_shape

REDUCTIONS = ("none", "mean", "sum")

#: Why a size must be positive, by argument name (the hint of :func:`positive_sizes`).
_SIZE_HINTS = {"kernel_size": "a kernel needs at least one element (kernel_size=1 for a pointwise layer)",
               "stride": "stride=1 moves the window one element at a time",
               "dilation": "dilation=1 is an ordinary, undilated window",
               "output_size": "each output side needs at least one element"}


def describe(who: Any) -> str:
    """How an error names its caller: a layer by its repr, a functional op by its name."""
    return who if isinstance(who, str) else repr(who)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# ---------------------------------------------------------------- Python values
def ntuple(value: Any, n: int, name: str, who: Any) -> tuple[int, ...]:
    """``value`` as an n-tuple of ints (an int is repeated), PyTorch's ``_pair``/``_single``, else a ValueError."""
    if _is_int(value):
        return (int(value),) * n
    try:
        items = tuple(value)
    except TypeError:  # 2.5, None: not iterable
        items = None
    if items is None or len(items) != n or not all(_is_int(v) for v in items):
        raise ValueError(f"{describe(who)}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def positive_sizes(who: Any, **sizes: Any) -> None:
    """A ValueError naming ``who`` unless every entry of every size (an int or a tuple of ints) is positive."""
    for name, value in sizes.items():
        entries = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not all(_is_int(v) for v in entries):
            raise ValueError(f"{describe(who)}: {name} must be an int or a tuple of ints, got {value!r}")
        if any(v < 1 for v in entries):
            raise ValueError(f"{describe(who)}: {name} must be positive, got {value!r}; "
                             f"{_SIZE_HINTS.get(name, 'use 1 or more')}")


def size_arg(who: Any, name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum`` (a layer size), else a ValueError naming ``who``."""
    if not _is_int(value) or value < minimum:
        need = "a non-negative int" if minimum == 0 else f"an int >= {minimum}"
        raise ValueError(f"{describe(who)} got {name}={value!r}: expected {need}")
    return int(value)


def number_arg(who: Any, name: str, value: Any) -> float:
    """``value`` as a float (a real number, bools included as PyTorch takes them), else a TypeError naming ``who``."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{describe(who)} got {name}={value!r} of type {type(value).__name__}: expected a float")
    return float(value)


def check_reduction(who: Any, reduction: str) -> None:
    """A loss's ``reduction``: one of 'none', 'mean', 'sum'."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{describe(who)} got reduction={reduction!r}: expected one of 'none', 'mean', 'sum'")


# ---------------------------------------------------------------- tensors
def expect_tensor(who: Any, value: Any, name: str = "input", optional: bool = False) -> None:
    """A TypeError naming ``who`` unless ``value`` is an anynn Tensor (or None, where ``optional``)."""
    if isinstance(value, Tensor) or (optional and value is None):
        return
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(f"{describe(who)} got {name} of type {kind}: expected an anynn Tensor; wrap arrays and lists "
                    "with anynn.tensor(...)")


def expect_float(who: Any, value: Tensor, name: str = "input") -> None:
    """A TypeError naming ``who`` unless the tensor ``value`` has a floating-point dtype."""
    if not value.dtype.is_floating_point:
        raise TypeError(f"{describe(who)} got {name} with dtype {value.dtype.name}: expected a floating-point "
                        f"tensor; convert it with {name}.float()")


def check_input(x: Any, dims: int, who: Any) -> None:
    """Raise unless ``x`` is a batched floating-point tensor: (N, C, L) for 1-D layers, (N, C, H, W) for 2-D."""
    expect_tensor(who, x)
    if x.ndim != dims + 2:
        layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
        hint = ("for a single sample add a batch dimension with x.unsqueeze(0)" if x.ndim == dims + 1
                else f"reshape it to {layout}")
        raise ValueError(f"{describe(who)} got input of shape {x.shape}: expected {dims + 2}-D input {layout}; {hint}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{describe(who)} got {x.dtype} input: expected a floating-point tensor; convert it with "
                        "x.float()")


# ---------------------------------------------------------------- loss inputs and targets
def class_count(who: Any, input: Tensor) -> int:
    """The number of classes of an (N, C, d1, ...) or unbatched (C,) float input."""
    expect_tensor(who, input)
    if input.ndim == 0:
        raise ValueError(f"{describe(who)} got a 0-d input: expected scores of shape (N, C), (N, C, d1, ...) or (C,)")
    expect_float(who, input)
    return input.shape[0] if input.ndim == 1 else input.shape[1]


def index_shape(input: Tensor) -> tuple[int, ...]:
    """The shape class-index targets must have: the input's shape without the class dimension."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def check_class_target(who: Any, input: Tensor, target: Tensor, allow_probabilities: bool) -> bool:
    """Validate a class-index (or, if allowed, class-probability) target; True for probabilities."""
    expect_tensor(who, target, "target")
    expected = index_shape(input)
    if target.dtype.kind in "iu":
        if target.shape == expected:
            return False
        raise ValueError(_target_shape_message(who, input, target, expected, allow_probabilities))
    if allow_probabilities and target.dtype.is_floating_point and target.shape == input.shape:
        return True
    hint = "use target.long()"
    if allow_probabilities:
        hint += f" or pass class probabilities with the same shape as the input {input.shape}"
    raise TypeError(f"{describe(who)} got target with dtype {target.dtype.name}: expected integer class indices "
                    f"(int64) of shape {expected}; {hint}")


def _target_shape_message(who: Any, input: Tensor, target: Tensor, expected: tuple, probs: bool) -> str:
    head = f"{describe(who)} got input of shape {input.shape} and target of shape {target.shape}"
    if input.ndim > 1 and target.ndim >= 1 and target.shape[0] != input.shape[0]:
        return (f"{head}: the batch sizes differ ({input.shape[0]} vs {target.shape[0]}); expected target of shape "
                f"{expected}, one class index per sample")
    if target.shape == input.shape:
        fix = "pass class indices (e.g. target.argmax(1))"
        if probs:
            fix += " or one-hot / probability targets as floats (target.float())"
        return f"{head}: integer targets hold one class index per sample, without a class dimension; {fix}"
    return (f"{head}: expected target of shape {expected} (the input's shape without its class dimension "
            f"{0 if input.ndim == 1 else 1})")


def check_class_weight(who: Any, weight: Tensor | None, classes: int) -> None:
    """An optional per-class weight: a (C,) tensor."""
    expect_tensor(who, weight, "weight", optional=True)
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"{describe(who)} got weight of shape {weight.shape} for an input with {classes} classes: "
                         f"expected one weight per class, shape ({classes},)")


def check_pair(who: Any, input: Tensor, target: Tensor, same_shape: bool) -> None:
    """Input and target must be float tensors of one shape (``same_shape``) or, with a warning, broadcast."""
    expect_tensor(who, input)
    expect_tensor(who, target, "target")
    expect_float(who, input)
    expect_float(who, target, "target")
    if input.shape == target.shape:
        return
    if same_shape:
        raise ValueError(f"{describe(who)} got input of shape {input.shape} and target of shape {target.shape}: "
                         f"expected the same shape; reshape the target (target.reshape{input.shape})")
    both = broadcast_shape(input.shape, target.shape)
    if both is None:
        raise ValueError(f"{describe(who)} got input of shape {input.shape} and target of shape {target.shape}, "
                         "which do not broadcast: expected the same shape")
    warnings.warn(f"{describe(who)}: using a target size {target.shape} that is different to the input size "
                  f"{input.shape}; they broadcast to {both}, which is likely wrong (e.g. (N, 1) against (N,) gives "
                  "(N, N)). Please ensure they have the same size.", stacklevel=3)


def check_elementwise_weight(who: Any, name: str, weight: Tensor | None, input: Tensor, exact: bool) -> None:
    """An optional element-wise weight: the input's shape (``exact``) or one that broadcasts to it."""
    expect_tensor(who, weight, name, optional=True)
    if weight is None:
        return
    fits = weight.shape == input.shape if exact else broadcast_shape(weight.shape, input.shape) == input.shape
    if not fits:
        need = f"shape {input.shape}" if exact else f"a shape that broadcasts to the input's {input.shape}"
        raise ValueError(f"{describe(who)} got {name} of shape {weight.shape}: expected {need}")


def check_beta(who: Any, beta: float) -> None:
    """SmoothL1's ``beta``: a number >= 0 (NaN refused, as PyTorch does)."""
    number_arg(who, "beta", beta)
    if not beta >= 0:
        raise ValueError(f"{describe(who)} got beta={beta}: expected beta >= 0 (the width of the quadratic zone; "
                         "0 is L1)")


def check_delta(who: Any, delta: float) -> None:
    """Huber's ``delta``: a number > 0 (NaN refused, as PyTorch does)."""
    number_arg(who, "delta", delta)
    if not delta > 0:
        raise ValueError(f"{describe(who)} got delta={delta}: expected delta > 0 (where the loss turns from quadratic "
                         "to linear; 1.0 is the default)")


__all__ = ["REDUCTIONS", "check_beta", "check_class_target", "check_class_weight", "check_delta",
           "check_elementwise_weight", "check_input", "check_pair", "check_reduction", "class_count", "describe",
           "expect_float", "expect_tensor", "index_shape", "ntuple", "number_arg", "positive_sizes", "size_arg"]

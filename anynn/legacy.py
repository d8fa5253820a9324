"""PyTorch's legacy typed constructors: ``anynn.FloatTensor([1, 2])``, ``anynn.LongTensor(3, 4)``, ...

Each makes a tensor of its dtype on the current backend from data, or of the given sizes (zeros here, where
PyTorch leaves the memory uninitialised), and ``isinstance(x, anynn.FloatTensor)`` asks for that dtype, as
PyTorch's do.
"""
from __future__ import annotations

from typing import Any

from anynn import dtypes as D
from anynn.autograd.factories import tensor, zeros
from anynn.autograd.tensor import Tensor


class _TypedTensorMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype


class _TypedTensor(metaclass=_TypedTensorMeta):
    dtype: D.DType

    def __new__(cls, *args: Any) -> Tensor:  # type: ignore[misc]
        if not args:
            return zeros(0, dtype=cls.dtype)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return zeros(*args, dtype=cls.dtype)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}(): expected sizes (ints) or one sequence of data, got {args!r}")
        data = args[0]
        if isinstance(data, Tensor) and data.dtype is not cls.dtype:
            raise TypeError(f"{cls.__name__}(): expected a tensor of {cls.dtype!r}, got {data.dtype!r}; convert it "
                            f"with x.to({cls.dtype!r})")
        return tensor(data, dtype=cls.dtype)


def _typed(name: str, dtype: D.DType) -> type:
    doc = f"A {dtype!r} tensor from data, or of the given sizes (PyTorch's legacy ``torch.{name}``)."
    return _TypedTensorMeta(name, (_TypedTensor,), {"dtype": dtype, "__doc__": doc, "__module__": "anynn"})


FloatTensor = _typed("FloatTensor", D.float32)
DoubleTensor = _typed("DoubleTensor", D.float64)
HalfTensor = _typed("HalfTensor", D.float16)
ByteTensor = _typed("ByteTensor", D.uint8)
CharTensor = _typed("CharTensor", D.int8)
ShortTensor = _typed("ShortTensor", D.int16)
IntTensor = _typed("IntTensor", D.int32)
LongTensor = _typed("LongTensor", D.int64)
BoolTensor = _typed("BoolTensor", D.bool_)

__all__ = ["BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor",
           "LongTensor", "ShortTensor"]

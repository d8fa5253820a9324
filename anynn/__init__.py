"""anynn: a readable deep-learning framework written once against the Array API standard.

The same model trains on NumPy, CuPy, PyTorch tensors or array-api-strict; pick one with
``ANYNN_BACKEND`` or :func:`set_backend`.
"""
from anynn import backends
from anynn.backends import (BackendUnavailable, available, get_backend, manual_seed, set_backend, use_backend,
                            why_unavailable)
from anynn.dtypes import (TORCH_ALIASES, DType, bool_, float16, float32, float64, get_default_dtype, int8, int16,
                          int32, int64, set_default_dtype, uint8)
from anynn.autograd import (BackendMismatchError, Function, Tensor, enable_grad, is_grad_enabled, no_grad,
                            set_grad_enabled)
from anynn.autograd.factories import (arange, eye, full, full_like, linspace, ones, ones_like, rand, randint, randn,
                                      randperm, tensor, zeros, zeros_like)
from anynn.autograd.gradcheck import GradcheckError, gradcheck
from anynn import data, datasets, models, nn, optim, training
from anynn import cuda, utils
from anynn.device import device
from anynn.serialization import load, save
from anynn import ops
from anynn.ops import argmax, concat, logsumexp, maximum, minimum, stack, where

cat = concat
__version__ = "0.1.0"


def _tensor(x, name: str) -> Tensor:
    """``x`` if it is a Tensor; anything else (a NumPy array, a list) gets the same hint as an op would give."""
    if not isinstance(x, Tensor):
        raise TypeError(f"anynn.{name}: got a {type(x).__module__}.{type(x).__name__} where a Tensor was expected; "
                        "wrap arrays with anynn.tensor(...) (it converts from any backend)")
    return x


def _unary(name: str):
    def op(x: Tensor) -> Tensor:
        return getattr(_tensor(x, name), name)()

    op.__name__ = name
    op.__doc__ = f"Element-wise {name} (differentiable)."
    return op


exp, log, sqrt, tanh, sigmoid, relu, abs = (_unary(n) for n in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs"))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp to [min, max] (either may be None); the gradient passes where min <= x <= max."""
    return _tensor(x, "clip").clip(min, max)


clamp = clip


def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return _tensor(x, "sum").sum(axis, keepdims)


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return _tensor(x, "mean").mean(axis, keepdims)


def max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Largest value over ``axis`` (all axes if None); values only, see ``Tensor.max``."""
    return _tensor(x, "max").max(axis, keepdims)


def min(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis`` (all axes if None); values only, see ``Tensor.min``."""
    return _tensor(x, "min").min(axis, keepdims)


def reshape(x: Tensor, shape) -> Tensor:
    return _tensor(x, "reshape").reshape(shape)


def permute(x: Tensor, dims) -> Tensor:
    return _tensor(x, "permute").permute(dims)


def transpose(x: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    return _tensor(x, "transpose").transpose(dim0, dim1)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""
    return ops.MatMul.apply(a, b)


# PyTorch's dtype names (anynn.float, anynn.long, anynn.int, anynn.bool, ...), bound last: they shadow the builtins
# of this module, whose annotations (float | None) are evaluated when each def runs.
globals().update(TORCH_ALIASES)

"""``ArrayFunction``: one differentiable operation, its forward and backward side by side, written against ``xp``.

Subclasses define two static methods::

    class Mul(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):           # backend arrays (or Python scalars) in, one array out
            ctx.save(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):          # one gradient per positional input (None: no gradient)
            a, b = ctx.saved
            return grad * b, grad * a

``Mul.apply(x, y)`` runs the forward on the arrays inside the tensors and, when recording, links the result
to its inputs. Positional arguments are Tensors or Python scalars (or None for an absent optional input);
options go in keywords. ``backward`` may skip work for inputs that need no gradient by checking
``ctx.needs_input_grad[i]``; each gradient it returns must have its input's shape and dtype.
"""
from __future__ import annotations

from typing import Any

from anynn.autograd import anomaly as _anomaly
from anynn.autograd.grad_mode import state as _grad_state
from anynn.autograd.tensor import Tensor, BORROWED, BackendMismatchError, in_place_writes, own

_SCALARS = (int, float, bool, type(None))
_new = object.__new__


class Context:
    """What an ArrayFunction's forward leaves for its backward; also carries ``xp`` and the ``backend``.

    When the call is recorded, ``function`` is the ArrayFunction class, ``inputs`` its positional arguments and
    ``needs_input_grad`` says, for each of them, whether it is a Tensor that wants a gradient.
    """

    def __init__(self, backend):
        self.backend = backend
        self.xp = backend.xp
        self.saved: tuple = ()

    def save(self, *arrays: Any) -> None:
        """Keep arrays (or anything) for backward; freed after backward unless ``retain_graph=True``."""
        self.saved = arrays


def not_an_input(name: str, arg: Any) -> TypeError:
    kind = f"{type(arg).__module__}.{type(arg).__name__}"
    return TypeError(f"{name}: got a {kind} where a Tensor or a Python number was expected; wrap arrays with "
                     "anynn.tensor(...) (it converts from any backend), and pass NumPy scalars as float(x)")


class ArrayFunction:
    """Base class of every differentiable operation (see the module docstring)."""

    #: True for views (reshape, permute, indexing, ...): the output shares its first input's version counter,
    #: so an in-place change through either is seen by every op that saved the other.
    shares_storage = False

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the arrays inside ``args``; record the call if any input requires grad.

        This runs once per operation, so it is kept flat: one pass over the arguments, no helper calls.
        """
        view = cls.shares_storage
        if view and isinstance(args[0], Tensor) and args[0]._version is BORROWED:
            own(args[0])  # a view of a gradient the engine handed over unshared gets memory of its own first
        backend = None
        needs_grad = False
        raw = []
        wants = []
        for arg in args:
            if type(arg) is Tensor or isinstance(arg, Tensor):
                if arg._backend is not backend:
                    if backend is not None:
                        raise BackendMismatchError(cls.__name__, backend, arg._backend)
                    backend = arg._backend
                if arg.requires_grad:
                    needs_grad = True
                    wants.append(True)
                else:
                    wants.append(False)
                raw.append(arg.array)
            elif type(arg) in _SCALARS:
                wants.append(False)
                raw.append(arg)
            elif isinstance(arg, _SCALARS):  # a subclass such as NumPy's float64 would upcast float32 arrays
                wants.append(False)
                raw.append(float(arg) if isinstance(arg, float) else int(arg))
            else:
                raise not_an_input(cls.__name__, arg)
        if backend is None:
            raise TypeError(f"{cls.__name__}: at least one input must be a Tensor")
        if kwargs and any(isinstance(v, Tensor) for v in kwargs.values()):
            raise TypeError(f"{cls.__name__}: tensors must be positional arguments (keywords are for options), "
                            "or their gradients would be lost")
        ctx = _new(Context)  # Context(backend), inlined
        ctx.backend = backend
        ctx.xp = backend.xp
        ctx.saved = ()
        out = _new(Tensor)  # Tensor._make, inlined
        out.array = cls.forward(ctx, *raw, **kwargs)
        out._backend = backend
        out.grad = None
        out._retain = False
        out._version = args[0]._version if view else [0]
        if _anomaly.flag.enabled:
            _anomaly.check_forward(cls, ctx.xp, args, out.array)
        if needs_grad and _grad_state.enabled:
            ctx.function = cls
            ctx.inputs = args
            ctx.needs_input_grad = tuple(wants)
            ctx.writes = in_place_writes[0]
            out.requires_grad = True
            out._node = ctx
        else:
            out.requires_grad = False
            out._node = None
        return out


__all__ = ["ArrayFunction", "Context", "Function", "FunctionCtx", "once_differentiable"]

# PyTorch's path for its custom Function (torch.autograd.function.Function, once_differentiable): the Tensor-level
# class lives in custom_function.py; bound after ArrayFunction and Context exist, which that module imports.
from anynn.autograd.custom_function import Function, FunctionCtx, once_differentiable  # noqa: E402

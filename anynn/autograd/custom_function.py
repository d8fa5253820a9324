"""``Function``: PyTorch's custom autograd Function, whose forward and backward see Tensors.

Code written for ``torch.autograd.Function`` runs as it is::

    class Exp(anynn.autograd.Function):
        @staticmethod
        def forward(ctx, x):              # Tensors in (and any other arguments), a Tensor or a tuple out
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):   # one gradient per output in, one per forward argument out
            y, = ctx.saved_tensors
            return grad_output * y

    y = Exp.apply(x)

``apply`` runs ``forward`` with recording off (what it does inside is not part of the graph) and, when an
input requires grad, records one node whose backward calls ``backward`` with Tensors, recording off again, so
a gradient is computed once and is not itself differentiable (no ``create_graph``). The ``ctx`` is PyTorch's:
``save_for_backward``/``saved_tensors`` (a saved tensor changed in place before backward raises there),
``needs_input_grad``, ``mark_non_differentiable``, ``mark_dirty`` and ``set_materialize_grads``. A forward may
also be split as PyTorch 2 allows: ``forward(*args)`` without ``ctx`` plus
``setup_context(ctx, inputs, output)``. Several outputs are recorded as described in ``anynn.autograd.engine``.

The operations of ``anynn.ops`` are written one level down, as ``ArrayFunction`` subclasses that see backend
arrays; this class is for user code that wants PyTorch's interface.
"""
from __future__ import annotations

from typing import Any, Callable

from anynn.autograd import anomaly as _anomaly
from anynn.autograd.engine import Slots, link_outputs
from anynn.autograd.function import Context
from anynn.autograd.grad_mode import state as _grad_state
from anynn.autograd.tensor import BORROWED, BackendMismatchError, Tensor, in_place_writes, share_version


class FunctionCtx:
    """The ``ctx`` a custom Function's ``forward`` fills and its ``backward`` reads (PyTorch's names).

    Any other attribute (``ctx.alpha = 0.5``) may be set in forward and read in backward, as in PyTorch.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        #: for each argument of ``apply``: is it a Tensor whose gradient is wanted? (backward may skip the others)
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self.to_save: tuple = ()
        self.non_differentiable: tuple = ()
        self.dirty_tensors: tuple = ()
        self._saved: tuple | None = None  # (tensors, versions) while backward runs

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors (inputs, outputs or intermediates; None allowed) for ``backward``'s ``ctx.saved_tensors``;
        call it once, in forward. Other values can be kept as plain attributes (``ctx.dim = dim``)."""
        for index, tensor in enumerate(tensors):
            if tensor is not None and not isinstance(tensor, Tensor):
                raise TypeError(f"save_for_backward can only save Tensors (or None), but argument {index} is a "
                                f"{type(tensor).__name__}; keep other values as attributes of ctx (ctx.value = ...)")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to ``save_for_backward``, inside ``backward``. Raises if one of them was changed in
        place after forward, as PyTorch does: the gradient would be computed from the wrong values."""
        if self._saved is None:
            raise RuntimeError("ctx.saved_tensors is available inside backward only (call ctx.save_for_backward(...) "
                               "in forward); after a backward without retain_graph=True the tensors are freed")
        tensors, versions = self._saved
        for index, (tensor, version) in enumerate(zip(tensors, versions)):
            if tensor is not None and tensor._version[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: saved tensor {index} (shape {list(tensor.shape)}, {tensor.dtype}) is at version "
                    f"{tensor._version[0]}; expected version {version}. Something changed it in place between "
                    "forward and backward(); call backward() before the change, or use the out-of-place form "
                    "(y = y + 1 rather than y += 1 or y.add_(1))")
        return tensors

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        """Outputs that get no gradient (indices, masks): they do not require grad, and backward is still passed
        a gradient for them (zeros, or None with ``set_materialize_grads(False)``)."""
        self.non_differentiable = outputs

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Inputs that forward changed in place; each must also be returned as an output, whose history then
        continues through this Function."""
        self.dirty_tensors = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward gets None (not zeros) for an output that no gradient reached."""
        self.materialize_grads = bool(value)


class _Backward:
    """What the engine calls for a custom Function's node (``node.function``): unwraps and wraps the gradients
    around the user's ``backward``. Named after the Function, so the engine's errors name the user's class."""

    def __init__(self, function: type):
        self.function = function
        self.__name__ = function.__name__

    def backward(self, node: Context, grad: Any) -> tuple:
        ctx: FunctionCtx = node.ctx
        backend = node.backend
        given = grad if type(grad) is Slots else (grad,)
        grads: list[Tensor | None] = []
        for g, like in zip(given, node.output_specs):
            if g is None and like is not None and ctx.materialize_grads:
                g = backend.xp.zeros(like[0], dtype=like[1], device=backend.device)
            if g is None:
                grads.append(None)
                continue
            handed = Tensor._make(g, backend)
            handed._version = BORROWED  # it may be shared (the engine's seed): copied before any in-place write
            grads.append(handed)
        ctx._saved = (node.saved, node.saved_versions)
        previous, _grad_state.enabled = _grad_state.enabled, False
        try:
            returned = self.function.backward(ctx, *grads)
        finally:
            _grad_state.enabled = previous
            ctx._saved = None
        return self._arrays(node, returned)

    def _arrays(self, node: Context, returned: Any) -> tuple:
        """The backend arrays of what ``backward`` returned, one per input, checked as PyTorch checks them."""
        name = self.__name__
        returned = returned if isinstance(returned, tuple) else tuple(returned) if isinstance(returned, list) \
            else (returned,)
        inputs = node.inputs
        if len(returned) < len(inputs) or any(r is not None for r in returned[len(inputs):]):
            raise RuntimeError(f"{name}.backward returned {len(returned)} gradients, but forward took "
                               f"{len(inputs)} arguments; return one per argument of forward (None for an argument "
                               "that has no gradient)")
        arrays = []
        for index, (value, parent, wants) in enumerate(zip(returned, inputs, node.needs_input_grad)):
            if value is None or not wants:
                if value is not None and not isinstance(parent, Tensor):
                    raise RuntimeError(f"{name}.backward returned a gradient different from None at position "
                                       f"{index}, but forward argument {index} is not a Tensor; return None there")
                arrays.append(None)
                continue
            if not isinstance(value, Tensor):
                raise TypeError(f"{name}.backward returned a {type(value).__name__} as the gradient of input "
                                f"{index}; return a Tensor (or None)")
            if value._backend is not parent._backend:
                raise BackendMismatchError(f"{name}.backward", parent._backend, value._backend)
            array = value.array
            if tuple(array.shape) != parent.shape:
                array = _summed_to(name, index, array, parent)
            if array.dtype != parent.array.dtype:
                array = node.xp.astype(array, parent.array.dtype)
            arrays.append(array)
        return tuple(arrays)


def _summed_to(name: str, index: int, grad: Any, parent: Tensor) -> Any:
    """A gradient with the input's broadcast shape summed back to the input's shape (PyTorch accepts those)."""
    from anynn.ops import unbroadcast

    shape, target = tuple(grad.shape), parent.shape
    lead = len(shape) - len(target)
    if lead < 0 or any(t != 1 and t != s for s, t in zip(shape[lead:], target)):
        raise RuntimeError(f"{name}.backward returned a gradient of shape {list(shape)} for input {index}, but that "
                           f"input has shape {list(target)}; return a gradient of the input's shape")
    return unbroadcast(parent.xp, grad, target)


class Function:
    """Base class of a custom autograd Function, PyTorch's way (see the module docstring)."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls._node_function = _Backward(cls)

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a custom Function defines forward(ctx, *args) as a @staticmethod")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Tensor | None) -> Any:
        raise NotImplementedError("this custom Function defines no backward(ctx, *grad_outputs), so it cannot be "
                                  "differentiated; define it as a @staticmethod")

    def __call__(self, *args: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__}: a custom Function is called through its class, "
                           f"{type(self).__name__}.apply(...), with static forward and backward methods "
                           "(instances with a non-static forward are PyTorch's legacy style, not supported)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on ``args`` with recording off; record one node if any Tensor argument requires grad.
        Returns what forward returned: one Tensor, or a tuple."""
        name = cls.__name__
        backend = None
        wants = []
        for arg in args:
            if isinstance(arg, Tensor):
                if backend is None:
                    backend = arg._backend
                elif arg._backend is not backend:
                    raise BackendMismatchError(name, backend, arg._backend)
                wants.append(arg.requires_grad)
            else:
                wants.append(False)
        recording = _grad_state.enabled and any(wants)
        ctx = FunctionCtx(tuple(wants) if recording else (False,) * len(args))
        previous, _grad_state.enabled = _grad_state.enabled, False
        try:
            if cls.setup_context is not Function.setup_context:  # PyTorch 2's split: forward(*args) has no ctx
                result = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, result)
            else:
                result = cls.forward(ctx, *args, **kwargs)
        finally:
            _grad_state.enabled = previous
        outputs = result if isinstance(result, tuple) else (result,)
        if _anomaly.flag.enabled:
            for out in outputs:
                if isinstance(out, Tensor):
                    _anomaly.check_forward(cls, out.xp, args, out.array)
        if not recording:
            return result
        return _record(cls, ctx, args, wants, result, outputs, backend)


def _record(cls: type, ctx: FunctionCtx, args: tuple, wants: list, result: Any, outputs: tuple,
            backend: Any) -> Any:
    """Link the outputs of a recorded call to one node (and its inputs); returns ``result`` with outputs that
    are inputs (not marked dirty) replaced by new tensors sharing their storage, as PyTorch does."""
    name = cls.__name__
    inputs = list(args)
    dirty = ctx.dirty_tensors
    for tensor in dirty:
        index = next((i for i, a in enumerate(args) if a is tensor), None)
        if index is None or not any(out is tensor for out in outputs):
            raise RuntimeError(f"{name}: ctx.mark_dirty() was given a tensor that is not both an input and an output "
                               "of forward; mark only inputs changed in place, and return them")
        if tensor.requires_grad and tensor._node is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation "
                               "(ctx.mark_dirty); change a copy (x.clone()) instead")
        before = Tensor._make(tensor.array, tensor._backend, tensor.requires_grad)  # the old value's history
        before._node = tensor._node
        inputs[index] = before
    links: list[Tensor | None] = []
    specs: list[tuple | None] = []
    final = []
    for out in outputs:
        if not isinstance(out, Tensor):
            links.append(None)
            specs.append(None)
            final.append(out)
            continue
        if out._backend is not backend:
            raise BackendMismatchError(name, backend, out._backend)
        if any(out is a for a in args) and not any(out is d for d in dirty):
            alias = Tensor._make(out.array, out._backend)
            alias._version = share_version(out)
            out = alias
        differentiable = out.dtype.is_floating_point and not any(out is n for n in ctx.non_differentiable)
        if not differentiable:
            out._node, out.requires_grad = None, False
        links.append(out if differentiable else None)
        specs.append((out.shape, out.array.dtype))
        final.append(out)
    returned = tuple(final) if isinstance(result, tuple) else final[0]
    if all(link is None for link in links):
        return returned
    saved = tuple(_saved_form(t, links) for t in ctx.to_save)
    node = object.__new__(Context)
    node.function = cls._node_function
    node.backend, node.xp = backend, backend.xp
    node.inputs, node.needs_input_grad = tuple(inputs), tuple(wants)
    node.saved = saved
    node.saved_versions = tuple(None if t is None else t._version[0] for t in saved)
    node.writes = in_place_writes[0]
    node.ctx = ctx
    node.output_specs = tuple(specs)
    ctx.to_save = ()  # the node keeps them now (an output kept by ctx would make a reference cycle)
    link_outputs(node, links)
    return returned


def _saved_form(tensor: Tensor | None, outputs: list) -> Tensor | None:
    """How a saved tensor is kept: an output as a new tensor sharing its storage and version (keeping the
    output itself would make a reference cycle through its node), anything else as it is."""
    if tensor is None or not any(tensor is out for out in outputs):
        return tensor
    kept = Tensor._make(tensor.array, tensor._backend)
    kept._version = tensor._version
    return kept


def once_differentiable(backward: Callable) -> Callable:
    """PyTorch's decorator for a backward that is not itself differentiable; anynn's backward never is, so it
    returns ``backward`` unchanged."""
    return backward


__all__ = ["Function", "FunctionCtx", "once_differentiable"]

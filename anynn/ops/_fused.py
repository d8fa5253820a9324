"""The fast-path protocol: an op's fused passes, which a backend may run as compiled code.

A fused operation is a pair of passes, forward and backward (or a pass and its adjoint), that an op needs
as a unit: ``max_pool2d`` saves each window's winner in its forward for its backward to scatter through, so
the two must come from the same place. The op declares the pair once with its standard-only twins::

    RELU = FusedOp("relu", forward=_relu, backward=_relu_backward)   # twins take xp first

and calls ``RELU.forward(ctx, x)`` / ``RELU.backward(ctx, grad, y)``. The forward asks the backend once
(``backend.fused``, name -> :class:`~anynn.backends.base.FusedKernels`); the backward runs the same side the
forward ran. A compiled pass may return None for a case it does not cover (a dtype, a layout): the standard
twin then runs, and the backward follows it. ``tests/backends`` proves every compiled pair equals its twins.

A single pass outside autograd (an optimizer's multi-tensor update) is a FusedOp without a backward, run by
``OP.run(backend, *args)``.
"""
from __future__ import annotations

from typing import Any, Callable

Pass = Callable[..., Any]
_ASK = object()


class FusedOp:
    """A named forward/backward pair with its standard-only twins (``twin(xp, *args)``)."""

    __slots__ = ("name", "standard_forward", "standard_backward", "_key")
    #: Every declared pair by name (the counting backend finds the twins of a mirrored backend's kernels here).
    registry: dict[str, "FusedOp"] = {}

    def __init__(self, name: str, forward: Pass, backward: Pass | None = None):
        if name in FusedOp.registry:
            raise ValueError(f"a fused operation named {name!r} exists already")
        FusedOp.registry[name] = self
        self.name = name
        self.standard_forward = forward
        self.standard_backward = backward
        self._key = "fused_" + name

    def __repr__(self) -> str:
        return f"FusedOp({self.name!r})"

    def compiled(self, backend: Any) -> bool:
        """Whether ``backend`` registers this pair (it may still decline a case at run time)."""
        return self.name in backend.fused

    def forward(self, ctx: Any, *args: Any) -> Any:
        """The forward pass: the backend's compiled one where it has it and it covers the case, else the twin."""
        kernels = ctx.backend.fused.get(self.name)
        if kernels is not None:
            out = kernels.forward(*args)
            if out is not None:
                setattr(ctx, self._key, kernels)
                return out
        setattr(ctx, self._key, None)
        return self.standard_forward(ctx.xp, *args)

    def run(self, backend: Any, *args: Any) -> Any:
        """A single pass outside autograd (no context, no backward): the backend's compiled one where it has it
        and it covers the case, else the twin."""
        kernels = backend.fused.get(self.name)
        out = None if kernels is None else kernels.forward(*args)
        return self.standard_forward(backend.xp, *args) if out is None else out

    def try_run(self, backend: Any, *args: Any) -> Any:
        """The backend's compiled single pass where it has it and it covers the case, else None (the caller then
        runs its own algorithm, of which the standard twin is the tested equal)."""
        kernels = backend.fused.get(self.name)
        return None if kernels is None else kernels.forward(*args)

    def try_forward(self, ctx: Any, *args: Any) -> Any:
        """The compiled forward where the backend has it and it covers the case, else None: for ops whose
        fallback is another algorithm of their own (the standard twin then exists for the tests)."""
        kernels = ctx.backend.fused.get(self.name)
        out = None if kernels is None else kernels.forward(*args)
        setattr(ctx, self._key, None if out is None else kernels)
        return out

    def ran_compiled(self, ctx: Any) -> bool:
        """Whether this context's forward ran the compiled pass (its saved arrays are then the kernel's)."""
        return getattr(ctx, self._key, None) is not None

    def backward(self, ctx: Any, *args: Any) -> Any:
        """The backward pass from the side the forward ran on (the backend's choice if this context ran no
        forward, e.g. batch norm's gradient sums in eval mode). A compiled backward may decline a case only
        where its forward saved nothing of its own."""
        kernels = getattr(ctx, self._key, _ASK)
        if kernels is _ASK:
            kernels = ctx.backend.fused.get(self.name)
        if kernels is not None:
            out = kernels.backward(*args)
            if out is not None:
                return out
        return self.standard_backward(ctx.xp, *args)


__all__ = ["FusedOp"]

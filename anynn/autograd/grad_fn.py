"""``Tensor.grad_fn``: PyTorch's view of the node that made a tensor (``name()``, ``next_functions``).

The engine's nodes are plain records (``anynn.autograd.function.Context``); this view reads them as PyTorch's
``grad_fn`` objects read, so ``loss.grad_fn.next_functions[0][0]`` walks the graph back as in the tutorials.
A leaf that requires grad appears as ``AccumulateGrad`` (its ``variable`` is the leaf), an input without a
gradient as ``None``. A call with several outputs is one node, whichever output it is reached from.
"""
from __future__ import annotations

from typing import Any

from anynn.autograd.engine import PickSlot
from anynn.autograd.tensor import Tensor


class Node:
    """The recorded call behind a tensor; ``function`` and ``inputs`` are the engine's own record."""

    __slots__ = ("_node",)

    def __init__(self, node: Any):
        self._node = node

    @property
    def function(self) -> Any:
        return self._node.function

    @property
    def inputs(self) -> tuple:
        return self._node.inputs

    def name(self) -> str:
        """PyTorch's naming: the operation followed by ``Backward0`` (``MulBackward0``)."""
        function = self._node.function
        return f"{getattr(function, '__name__', type(function).__name__)}Backward0"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """One ``(node, 0)`` per tensor input: its ``grad_fn``, ``AccumulateGrad`` for a leaf that requires
        grad, None for a tensor without gradient."""
        return tuple((_next(t), 0) for t in self._node.inputs if isinstance(t, Tensor))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other._node is self._node

    def __hash__(self) -> int:
        return id(self._node)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self._node):#x}>"


class AccumulateGrad:
    """Where a leaf's gradient ends up (``variable`` is the leaf), as PyTorch's ``AccumulateGrad``."""

    __slots__ = ("variable",)
    next_functions: tuple = ()

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self) -> int:
        return id(self.variable)

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self.variable):#x}>"


def grad_fn_of(tensor: Tensor) -> Node | None:
    """``tensor.grad_fn``: the view of its node, None for a leaf."""
    node = tensor._node
    while node is not None and node.function is PickSlot:  # one output of several: the call itself
        node = node.inputs[0]._node
    return None if node is None else Node(node)


def _next(tensor: Tensor) -> Node | AccumulateGrad | None:
    if not tensor.requires_grad:
        return None
    return AccumulateGrad(tensor) if tensor._node is None else grad_fn_of(tensor)


__all__ = ["AccumulateGrad", "Node", "grad_fn_of"]

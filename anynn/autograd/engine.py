"""The tape walk behind ``Tensor.backward()``: topological order once, gradients summed per tensor."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from ``root`` through recorded nodes, each after all tensors that use it."""
    order: list[Tensor] = []
    seen = {id(root)}
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        stack.append((tensor, True))
        node = tensor._node
        if node is None:
            continue
        if not hasattr(node, "inputs"):
            raise RuntimeError(
                "backward() went through a graph a second time, but its saved arrays were freed after the first "
                "backward(); pass retain_graph=True to the first call if you need two backward passes")
        for parent in node.inputs:
            if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in seen:
                seen.add(id(parent))
                stack.append((parent, False))
    order.reverse()
    return order


def _accumulate(tensor: Tensor, grad: Any) -> None:
    if tensor.grad is None:
        tensor.grad = Tensor._make(grad, tensor._backend)
    else:
        tensor.grad = Tensor._make(tensor.grad.data + grad, tensor._backend)


def run_backward(root: Tensor, grad: Tensor | None = None, retain_graph: bool = False) -> None:
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input had requires_grad=True, "
                           "or it was computed under anynn.no_grad()")
    xp = root._backend.xp
    if grad is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output, got shape {root.shape}; "
                               "reduce it first (e.g. loss.sum()) or pass grad=")
        seed = xp.ones_like(root.data)
    else:
        seed = grad.data if isinstance(grad, Tensor) else root._backend.asarray(grad, root.dtype)
        if tuple(seed.shape) != root.shape:
            raise RuntimeError(f"backward(): grad has shape {tuple(seed.shape)} but the tensor has shape {root.shape}")
    grads: dict[int, Any] = {id(root): seed}
    for tensor in _topological_order(root):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        node = tensor._node
        if node is None or tensor._retain:
            _accumulate(tensor, g)
        if node is None:
            continue
        input_grads = node.function.backward(node, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, pg in zip(node.inputs, input_grads):
            if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            key = id(parent)
            previous = grads.get(key)
            grads[key] = pg if previous is None else previous + pg
        if not retain_graph:
            del node.inputs, node.saved

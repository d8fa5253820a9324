"""The tape walk behind ``Tensor.backward()``.

Two loops, no recursion (so a chain of any length works): the first counts, for every tensor reachable from
the root, how many recorded uses will send it a gradient; the second runs each node's backward only once
all of those uses have reported (Kahn's algorithm), so a tensor used twice gets the sum of both gradients
before it passes anything on.

Two hooks let code outside autograd follow a backward pass (``DistributedDataParallel`` starts reducing a
bucket of gradients while the rest of backward still runs, then finishes at the end):

* ``register_post_accumulate_grad_hook(leaf, hook)``: ``hook(leaf)`` runs right after the engine has added
  this backward's gradient into ``leaf.grad``. A leaf receives all of its gradient at once (the second loop
  sums every use first), so the hook runs at most once per backward, and not at all when no gradient reached
  the leaf. Returns a handle whose ``remove()`` unregisters it.
* ``queue_callback(fn)``: called *during* a backward (from a hook or an op's backward), runs ``fn()``
  once after the current backward has finished its walk, in queueing order. Callbacks queued by a backward
  that raises are dropped.

(PyTorch's ``Tensor.register_post_accumulate_grad_hook`` and ``Variable._execution_engine.queue_callback``.)
"""
from __future__ import annotations

import weakref
from typing import Any, Callable

from anynn.autograd import anomaly
from anynn.autograd.tensor import BORROWED, BackendMismatchError, Tensor, in_place_writes

_FREED = ("backward() went through a graph a second time, but its saved arrays were freed after the first "
          "backward(); pass retain_graph=True to the first call if you need two backward passes")


_ONES: dict[tuple, Any] = {}  # backward()'s seeds; never written to, like every gradient array
_LEAF_HOOKS: dict[int, dict[object, Callable[[Tensor], None]]] = {}  # id(leaf) -> its post-accumulate hooks
_QUEUED: list[Callable[[], None]] = []  # end-of-backward callbacks, innermost backward's last
_RUNNING = [0]  # how many backward passes are walking now (a hook may run another)


class HookHandle:
    """Returned by ``register_post_accumulate_grad_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, key: int, token: object):
        self._key, self._token = key, token

    def remove(self) -> None:
        hooks = _LEAF_HOOKS.get(self._key)
        if hooks is not None:
            hooks.pop(self._token, None)
            if not hooks:
                del _LEAF_HOOKS[self._key]


def register_post_accumulate_grad_hook(tensor: Tensor, hook: Callable[[Tensor], None]) -> HookHandle:
    """Run ``hook(tensor)`` each time a backward has accumulated its gradient into the leaf ``tensor.grad``."""
    if not isinstance(tensor, Tensor) or not tensor.is_leaf or not tensor.requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook needs a leaf tensor that requires grad (a "
                           "parameter); a non-leaf's gradient is not accumulated")
    key = id(tensor)
    hooks = _LEAF_HOOKS.get(key)
    if hooks is None:
        hooks = _LEAF_HOOKS[key] = {}
        weakref.finalize(tensor, _LEAF_HOOKS.pop, key, None)  # an id may be reused once the tensor is gone
    token = object()
    hooks[token] = hook
    return HookHandle(key, token)


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once when the backward now running has finished (call it from a hook)."""
    if not _RUNNING[0]:
        raise RuntimeError("queue_callback can only be called during backward (from a hook or an op's "
                           "backward)")
    _QUEUED.append(callback)


def _count_uses(root: Tensor) -> dict[int, int]:
    """For each tensor (by id) reachable from ``root`` through recorded nodes: its number of recorded uses."""
    uses = {id(root): 0}
    stack = [root]
    while stack:
        node = stack.pop()._node
        if node is None:
            continue
        try:
            inputs = node.inputs
        except AttributeError:
            raise RuntimeError(_FREED) from None
        for parent, wants in zip(inputs, node.needs_input_grad):
            if wants:
                key = id(parent)
                if key in uses:
                    uses[key] += 1
                else:
                    uses[key] = 1
                    stack.append(parent)
    return uses


def _accumulate(tensor: Tensor, grad: Any) -> None:
    """Add ``grad`` into ``tensor.grad``. The first gradient is kept as it is, not copied (a launch per
    parameter on a GPU): it may share memory with another tensor's gradient or be a read-only broadcast view, so it
    is marked borrowed and gets memory of its own before anything writes into it (``p.grad.zero_()``)."""
    if tensor.grad is None:
        tensor.grad = Tensor._make(grad, tensor._backend)
        tensor.grad._version = BORROWED  # copied on the first in-place write or view (Tensor.zero_, .data, ...)
    else:
        tensor.grad.array = tensor.grad.array + grad
        if tensor.grad._version is BORROWED:
            tensor.grad._version = [0]


def _mismatch(function: type, index: int, parent: Tensor, grad: Any) -> RuntimeError:
    return RuntimeError(
        f"{function.__name__}.backward returned a gradient of shape {tuple(grad.shape)} and dtype {grad.dtype} "
        f"for input {index}, which has shape {parent.shape} and dtype {parent.array.dtype}; a gradient must match "
        "its input (reduce broadcast axes with anynn.ops.unbroadcast)")


def _seed(root: Tensor, grad: Any) -> Any:
    """The gradient backward starts from: ones for a scalar root, else ``grad`` checked against the root."""
    backend = root._backend
    if grad is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output, got shape {root.shape}; "
                               "reduce it first (e.g. loss.sum()) or pass grad=")
        key = (backend, root.array.dtype, root.shape)
        ones = _ONES.get(key)
        if ones is None:  # one constant per backend, dtype and shape: no launch per backward on a GPU
            ones = _ONES[key] = backend.xp.ones_like(root.array)
        return ones
    if isinstance(grad, Tensor):
        if grad._backend is not backend:
            raise BackendMismatchError("backward", backend, grad._backend)
        seed = grad.array
        if seed.dtype != root.array.dtype:
            seed = backend.xp.astype(seed, root.array.dtype)
    else:
        seed = backend.asarray(grad, root.dtype)
    if tuple(seed.shape) != root.shape:
        raise RuntimeError(f"backward(): grad has shape {tuple(seed.shape)} but the tensor has shape {root.shape}")
    return seed


def run_backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(t) into ``t.grad`` for every leaf ``t`` (and every tensor with ``retain_grad()``),
    then run the callbacks queued during the walk."""
    start = len(_QUEUED)
    _RUNNING[0] += 1
    try:
        _walk(root, grad, retain_graph)
    except BaseException:
        del _QUEUED[start:]
        raise
    finally:
        _RUNNING[0] -= 1
    while len(_QUEUED) > start:
        _QUEUED.pop(start)()


def _walk(root: Tensor, grad: Any, retain_graph: bool) -> None:
    """The tape walk. The loop runs once per recorded op, so it is kept flat (a node's backward is called in
    place)."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input had requires_grad=True, "
                           "or it was computed under anynn.no_grad()")
    seed = _seed(root, grad)
    uses = _count_uses(root)
    grads: dict[int, Any] = {id(root): seed}
    ready = [root]
    checking = anomaly.flag.enabled
    leaf_hooks = _LEAF_HOOKS
    while ready:
        tensor = ready.pop()
        g = grads.pop(id(tensor), None)
        node = tensor._node
        if g is not None and (node is None or tensor._retain):
            _accumulate(tensor, g)
            if leaf_hooks and node is None:
                hooks = leaf_hooks.get(id(tensor))
                if hooks:
                    for hook in list(hooks.values()):
                        hook(tensor)
        if node is None:
            continue
        try:
            inputs = node.inputs
        except AttributeError:
            raise RuntimeError(_FREED) from None
        if g is None:  # nothing reached this node's output: pass nothing on, but release its inputs all the same
            input_grads: Any = (None,) * len(inputs)
        else:
            if node.writes != in_place_writes[0]:  # something was written in place since this node was recorded
                _check_versions(node, tensor)
            input_grads = node.function.backward(node, g)
            if type(input_grads) is not tuple:
                input_grads = tuple(input_grads) if isinstance(input_grads, list) else (input_grads,)
            if checking:
                anomaly.check_backward(node.function, node.xp, input_grads)
            if len(input_grads) != len(inputs):
                input_grads = _padded(node, input_grads)
        for index, wants in enumerate(node.needs_input_grad):
            if not wants:
                continue
            parent = inputs[index]
            key = id(parent)
            pg = input_grads[index]
            if pg is not None:
                data = parent.array
                if pg.shape != data.shape or pg.dtype != data.dtype:
                    raise _mismatch(node.function, index, parent, pg)
                previous = grads.get(key)
                grads[key] = pg if previous is None else previous + pg
            uses[key] -= 1
            if uses[key] == 0:
                ready.append(parent)
        if not retain_graph:
            del node.inputs
            node.saved = ()


def _check_versions(node: Any, output: Tensor) -> None:
    """Raise if an in-place change since the forward makes this node's backward wrong: an array it saved was
    written, or an input's history was rewritten (anynn rebases a tensor's history on an in-place op, so a node
    recorded earlier would send its gradient into the new history). Versions count in-place writes (see
    ``Tensor.mark_modified``): a tensor changed after the node was recorded has a version above ``node.writes``."""
    name = node.function.__name__
    arrays = [s for s in node.saved if hasattr(s, "shape") and node.backend.is_native(s)]

    def saved(tensor: Tensor) -> bool:
        return any(node.backend.may_share_memory(s, tensor.array) for s in arrays)

    advice = ("Something changed it in place between the forward and backward() (an optimizer.step(), add_(), "
              "x[...] = ..., += on a Tensor); call backward() before the change, or use the out-of-place form "
              "(y = y + 1).")
    if node.out_counter[0] > node.writes and saved(output):
        raise RuntimeError(
            "one of the variables needed for gradient computation has been modified by an inplace operation: "
            f"the output of {name} (shape {list(output.shape)}, {output.dtype}), which {name} saved for backward, "
            f"was changed in place after {name} ran. " + advice)
    for index, parent in enumerate(node.inputs):
        if not isinstance(parent, Tensor) or parent._version[0] <= node.writes:
            continue
        what = f"input {index} of {name} (shape {list(parent.shape)}, {parent.dtype})"
        if saved(parent):
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"{what}, which {name} saved for backward, was changed in place after {name} ran. " + advice)
        if node.needs_input_grad[index] and parent._node is not None:
            raise RuntimeError(
                f"{what} was modified in place after {name} used it; anynn rewrites an in-place-modified tensor's "
                "history, so this gradient cannot reach the earlier value. Use the out-of-place form (y = y * 2) "
                "for a tensor that other operations already used.")


def _padded(node: Any, grads: tuple) -> tuple:
    """A backward's gradients, one per input: missing trailing ones are None; too many is an error."""
    count = len(node.inputs)
    if len(grads) > count:
        raise RuntimeError(f"{node.function.__name__}.backward returned {len(grads)} gradients for {count} inputs")
    return grads + (None,) * (count - len(grads))


__all__ = ["HookHandle", "queue_callback", "register_post_accumulate_grad_hook", "run_backward"]

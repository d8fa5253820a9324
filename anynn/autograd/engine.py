"""The tape walk behind ``Tensor.backward()`` and ``anynn.autograd.grad()``.

Two loops, no recursion (so a chain of any length works): the first counts, for every tensor reachable from
the roots, how many recorded uses will send it a gradient; the second runs each node's backward only once
all of those uses have reported (Kahn's algorithm), so a tensor used twice gets the sum of both gradients
before it passes anything on. ``backward()`` adds the gradients that reach leaves into their ``.grad``;
``grad(outputs, inputs)`` runs the same walk but hands back the gradients of ``inputs`` and touches no ``.grad``.

A node has one output tensor. A call with several outputs (a custom ``Function`` returning a tuple) is recorded
as one node whose output is a hidden tensor, plus one small ``PickSlot`` node per output (``link_outputs``): each
sends its output's gradient into its slot of a ``Slots`` tuple, and the hidden tensor, like any tensor used
several times, is ready once every reachable output has reported, its slots summed. The node's backward then
gets all of its outputs' gradients at once, and the walk's loop needs no case of its own.

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
from typing import Any, Callable, Sequence

from anynn.autograd import anomaly
from anynn.autograd.tensor import BORROWED, BackendMismatchError, Tensor, in_place_writes

_FREED = ("backward() went through a graph a second time, but its saved arrays were freed after the first "
          "backward(); pass retain_graph=True to the first call if you need two backward passes")


_ONES: dict[tuple, Any] = {}  # backward()'s seeds; never written to (a gradient sharing one is BORROWED: copied first)
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


def _count_uses(roots: tuple[Tensor, ...]) -> dict[int, int]:
    """For each tensor (by id) reachable from ``roots`` through recorded nodes: its number of recorded uses."""
    uses = dict.fromkeys(map(id, roots), 0)
    stack = list(roots)
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


def _leading_to(roots: tuple[Tensor, ...], wanted: dict[int, Any]) -> set[int]:
    """The ids of the tensors through which a gradient reaches a ``wanted`` tensor (those included): the nodes
    ``grad()`` must run, as PyTorch runs only those. A depth-first walk that decides a tensor after its inputs."""
    needed: set[int] = set()
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False) for root in roots]
    while stack:
        tensor, inputs_done = stack.pop()
        key, node = id(tensor), tensor._node
        if inputs_done:
            if key in wanted or any(wants and id(parent) in needed
                                    for parent, wants in zip(node.inputs, node.needs_input_grad)):
                needed.add(key)
            continue
        if key in seen:
            continue
        seen.add(key)
        if node is None:
            if key in wanted:
                needed.add(key)
            continue
        stack.append((tensor, True))
        stack.extend((parent, False) for parent, wants in zip(node.inputs, node.needs_input_grad) if wants)
    return needed


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
                               "reduce it first (e.g. loss.sum()) or pass its gradient, y.backward(gradient)")
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
        raise RuntimeError(f"backward(): the gradient has shape {tuple(seed.shape)} but the tensor has shape "
                           f"{root.shape}")
    return seed


def run_backward(root: Tensor | Sequence[Tensor], grad: Any = None, retain_graph: bool = False,
                 wanted: dict[int, Any] | None = None) -> None:
    """Accumulate d(root)/d(t) into ``t.grad`` for every leaf ``t`` (and every tensor with ``retain_grad()``),
    then run the callbacks queued during the walk. ``root`` may be a sequence of tensors, with ``grad`` then a
    sequence of their gradients (None: ones for a scalar). Given ``wanted`` (``{id(tensor): None}``), the walk
    instead stores the gradient of each of those tensors there, and no ``.grad`` changes."""
    roots = (root,) if isinstance(root, Tensor) else tuple(root)
    seeds = (grad,) if isinstance(root, Tensor) else tuple(grad) if grad is not None else (None,) * len(roots)
    start = len(_QUEUED)
    _RUNNING[0] += 1
    try:
        _walk(roots, seeds, retain_graph, wanted)
    except BaseException:
        del _QUEUED[start:]
        raise
    finally:
        _RUNNING[0] -= 1
    while len(_QUEUED) > start:
        _QUEUED.pop(start)()


def _walk(roots: tuple[Tensor, ...], seeds: tuple, retain_graph: bool, wanted: dict[int, Any] | None) -> None:
    """The tape walk. The loop runs once per recorded op, so it is kept flat (a node's backward is called in
    place)."""
    grads: dict[int, Any] = {}
    for index, (root, grad) in enumerate(zip(roots, seeds, strict=True)):
        if not root.requires_grad:
            which = f"output {index} " if len(roots) > 1 else ""
            raise RuntimeError(f"backward() on a tensor {which}that does not require grad: no input had "
                               "requires_grad=True, or it was computed under anynn.no_grad()")
        seed = _seed(root, grad)
        previous = grads.get(id(root))
        grads[id(root)] = seed if previous is None else previous + seed
    uses = _count_uses(roots)
    needed = _leading_to(roots, wanted) if wanted is not None else None
    ready = [root for key, root in {id(r): r for r in roots}.items() if uses[key] == 0]
    checking = anomaly.flag.enabled
    leaf_hooks = _LEAF_HOOKS
    while ready:
        tensor = ready.pop()
        g = grads.pop(id(tensor), None)
        node = tensor._node
        if g is not None:
            if wanted is None:
                if node is None or tensor._retain:
                    _accumulate(tensor, g)
                    if leaf_hooks and node is None:
                        hooks = leaf_hooks.get(id(tensor))
                        if hooks:
                            for hook in list(hooks.values()):
                                hook(tensor)
            else:  # gradients of given tensors: no leaf's .grad changes, and no node runs that leads to none of them
                key = id(tensor)
                if key in wanted:
                    wanted[key] = g
                if key not in needed:
                    g = None
                elif node is not None and tensor._retain:
                    _accumulate(tensor, g)
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
            if checking and node.function is not PickSlot:
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
    if output._version[0] > node.writes and saved(output):
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
        if node.needs_input_grad[index] and getattr(parent, "_rebased", -1) > node.writes:
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


# ------------------------------------------------------------------ gradients of given tensors
def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple, without touching any ``.grad``
    (``torch.autograd.grad``). ``grad_outputs`` holds one gradient per output (None: ones, for a scalar
    output). An input that the outputs do not depend on raises unless ``allow_unused=True`` (then its gradient
    is None) or ``materialize_grads=True`` (then zeros). The graph is freed unless ``retain_graph=True``.
    Higher-order gradients (``create_graph=True``) and batched gradients are not supported yet."""
    if create_graph:
        raise NotImplementedError(
            "anynn.autograd.grad(create_graph=True): higher-order gradients (double backward) are not supported "
            "yet; anynn's backward runs on backend arrays and records no graph of its own. Write the derivative "
            "you need in closed form, or compute this part with PyTorch")
    if is_grads_batched:
        raise NotImplementedError("anynn.autograd.grad(is_grads_batched=True): batched gradients (vmap over "
                                  "grad_outputs) are not supported yet; loop over the rows of grad_outputs instead")
    if materialize_grads and allow_unused is False:
        raise ValueError("anynn.autograd.grad: expected allow_unused to be True or not passed when "
                         "materialize_grads=True")
    outputs = _tensors("outputs", outputs)
    inputs = _tensors("inputs", inputs)
    if grad_outputs is None:
        seeds: tuple = (None,) * len(outputs)
    else:
        seeds = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
        if len(seeds) != len(outputs):
            raise ValueError(f"anynn.autograd.grad: grad_outputs has {len(seeds)} entries but there are "
                             f"{len(outputs)} outputs; give one gradient (or None) per output")
    for index, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(f"anynn.autograd.grad: input {index} does not require grad, so it has no gradient; "
                               "call .requires_grad_() on it before computing the outputs")
    wanted: dict[int, Any] = dict.fromkeys(map(id, inputs))
    run_backward(outputs, seeds, bool(retain_graph), wanted)
    results: list[Tensor | None] = []
    for index, tensor in enumerate(inputs):
        g = wanted[id(tensor)]
        if g is None:
            if materialize_grads:
                g = tensor.xp.zeros_like(tensor.array)
            elif not allow_unused:
                raise RuntimeError(f"anynn.autograd.grad: input {index} appears not to have been used in the graph "
                                   "of the outputs; pass allow_unused=True to get None for it (or "
                                   "materialize_grads=True for zeros)")
            else:
                results.append(None)
                continue
        results.append(_handed_over(g, tensor))
    return tuple(results)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Tensor | Sequence[Tensor | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """``torch.autograd.backward``: accumulate the gradients of ``tensors`` into the leaves' ``.grad``, or, given
    ``inputs``, into those tensors' ``.grad`` only (leaves or not)."""
    if create_graph:
        raise NotImplementedError(
            "backward(create_graph=True): higher-order gradients (double backward) are not supported yet; "
            "anynn's backward runs on backend arrays and records no graph of its own")
    roots = _tensors("tensors", tensors)
    seeds = (None,) * len(roots) if grad_tensors is None else \
        (grad_tensors,) if isinstance(grad_tensors, Tensor) else tuple(grad_tensors)
    if inputs is None:
        run_backward(roots, seeds, bool(retain_graph))
        return
    targets = _tensors("inputs", inputs)
    for tensor in targets:
        if tensor._node is not None:
            tensor.retain_grad()  # as in PyTorch: a non-leaf among inputs keeps its .grad from now on
    wanted: dict[int, Any] = dict.fromkeys(map(id, targets))
    run_backward(roots, seeds, bool(retain_graph), wanted)
    for tensor in {id(t): t for t in targets}.values():
        g = wanted[id(tensor)]
        if g is not None and tensor._node is None:  # the walk filled the non-leaves' (retained) .grad
            _accumulate(tensor, g)
            hooks = _LEAF_HOOKS.get(id(tensor))
            for hook in list(hooks.values()) if hooks else ():
                hook(tensor)


def _tensors(name: str, given: Any) -> tuple[Tensor, ...]:
    """One Tensor or a sequence of Tensors, as a non-empty tuple."""
    tensors = (given,) if isinstance(given, Tensor) else tuple(given)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"anynn.autograd: {name} must be a Tensor or a non-empty sequence of Tensors, got "
                        f"{type(given).__name__}")
    return tensors


def _handed_over(g: Any, like: Tensor) -> Tensor:
    """A gradient array handed to the caller as a Tensor; marked borrowed as in ``_accumulate`` (it may share
    memory with another gradient), so it gets memory of its own before anything writes into it."""
    out = Tensor._make(g, like._backend)
    out._version = BORROWED
    return out


# ------------------------------------------------------------------ nodes with several outputs
class Slots(tuple):
    """The gradients of a node's several outputs, one slot each (None: none reached that output).

    It is also the (empty) array of the hidden tensor such a node outputs, so the walk's shape and dtype check
    passes; adding two Slots adds them slot by slot, so the walk sums what the ``PickSlot`` nodes send."""

    shape: tuple = ()
    dtype = None

    def __add__(self, other: tuple) -> "Slots":  # type: ignore[override]
        return Slots(a if b is None else b if a is None else a + b for a, b in zip(self, other))


class PickSlot:
    """``function`` of the node between one output and the hidden tensor of its call: it sends the output's
    gradient into slot ``node.slot`` of ``node.count``."""

    @staticmethod
    def backward(node: Any, grad: Any) -> tuple:
        slots = [None] * node.count
        slots[node.slot] = grad
        return (Slots(slots),)


def link_outputs(node: Any, outputs: Sequence[Tensor | None]) -> None:
    """Record ``node`` as the maker of ``outputs`` (None: an output with no gradient). One output becomes the
    node's own output; several share a hidden tensor, each through a ``PickSlot`` node, and the node's backward
    then gets a ``Slots`` of their gradients (see the module docstring)."""
    if len(outputs) == 1:
        out = outputs[0]
        out._node, out.requires_grad = node, True
        return
    hidden = Tensor._make(Slots(), node.backend, True)
    hidden._node = node
    for slot, out in enumerate(outputs):
        if out is None:
            continue
        pick = object.__new__(type(node))
        pick.function, pick.backend, pick.xp = PickSlot, node.backend, node.xp
        pick.inputs, pick.needs_input_grad, pick.saved = (hidden,), (True,), ()
        pick.slot, pick.count = slot, len(outputs)
        pick.writes = node.writes
        out._node, out.requires_grad = pick, True


__all__ = ["HookHandle", "PickSlot", "Slots", "backward", "grad", "link_outputs", "queue_callback",
           "register_post_accumulate_grad_hook", "run_backward"]

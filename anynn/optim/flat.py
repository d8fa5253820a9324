"""Multi-tensor updates: a parameter group's parameters and optimizer state as views into flat buffers.

On a GPU every array operation is a kernel launch costing ~20 us of host time, so an update written per
parameter costs (its operations) x (the parameters) launches. Every built-in update is elementwise, so one run
on the concatenation of a group's parameters equals one run per parameter. ``FlatBucket`` makes that
concatenation free to keep: the parameters of one group that share a backend and dtype are re-homed so that
each ``p.array`` is a view into one flat 1-D buffer; the optimizer state (``exp_avg``, ...) lives in flat buffers
the same way, each ``optimizer.state[p][key]`` staying a per-parameter Tensor (a view), so ``state_dict`` keeps
PyTorch's layout; and the gradients are gathered into a flat buffer with one assignment each. A step then
costs one operation per parameter (the gathering) plus the update's handful for the whole bucket.

Anything may rebind ``p.array`` (``model.load_state_dict``, ``model.to``, user code) or a state tensor's
``.array`` (``optimizer.load_state_dict``). Before each step identity checks, which cost no array operation,
find every parameter and state tensor that is no longer its view; it is copied back into its place and
rebound (one operation each, only when it happens), so a flat buffer never goes stale.
"""
from __future__ import annotations

import math
from typing import Any

from anynn.autograd.tensor import Tensor

__all__ = ["FlatBucket", "make_buckets"]


def make_buckets(params: list[Tensor]) -> list["FlatBucket"]:
    """One bucket per backend and dtype among the floating-point ``params``, in order of first appearance.

    Frozen parameters (``requires_grad=False``) stay out: they get no gradient, and a bucket runs flat only in
    steps where all its parameters have one. No bucket at all when a parameter appears twice or two share one
    array: each would need two places in a flat buffer, so such a group keeps the per-parameter updates.
    """
    if len({id(p) for p in params}) != len(params) or len({id(p.array) for p in params}) != len(params):
        return []
    kinds: dict[tuple[Any, Any], list[int]] = {}
    for i, p in enumerate(params):
        if p.requires_grad and p.dtype.is_floating_point:
            kinds.setdefault((p.backend, p.array.dtype), []).append(i)
    return [FlatBucket([params[i] for i in indices], indices) for indices in kinds.values()]


class _Flat:
    """A Tensor holding a flat 1-D buffer, and the per-parameter views into that buffer."""

    def __init__(self, tensor: Tensor, views: list[Any]):
        self.tensor, self.array, self.views = tensor, tensor.array, views

    def current(self, tensor: Tensor) -> bool:
        """True while ``tensor`` is this buffer's Tensor and still holds this buffer."""
        return tensor is self.tensor and tensor.array is self.array


class FlatBucket:
    """The parameters of one group that share a backend and dtype, re-homed as views into one flat buffer.

    ``param`` (a Tensor) and ``grad`` (an array) are the flat parameter and gradient buffers: an optimizer runs
    its per-parameter update once on them, with the state dict from :meth:`flat_state`, then hands that dict to
    :meth:`scatter_state`. ``indices`` are the parameters' positions in their group.
    """

    def __init__(self, params: list[Tensor], indices: list[int]):
        self.params, self.indices = params, indices
        self.backend, self.dtype = params[0].backend, params[0].array.dtype
        self.shapes = [tuple(p.array.shape) for p in params]
        self.bounds: list[tuple[int, int]] = []
        size = 0
        for shape in self.shapes:
            self.bounds.append((size, size + math.prod(shape)))
            size += math.prod(shape)
        self.size = size
        self._param = self._new_flat()
        for p, view in zip(params, self._param.views):
            view[...] = p.array
            p.array = view
        self._grad = self._new_flat()
        self._state: dict[str, _Flat] = {}

    @property
    def param(self) -> Tensor:
        """The flat parameter buffer (every parameter's ``.array`` is a view into it)."""
        return self._param.tensor

    @property
    def grad(self) -> Any:
        """The flat gradient buffer :meth:`gather` fills (owned by the optimizer, so never a shared array)."""
        return self._grad.array

    # ------------------------------------------------------------ before the update
    def bound(self) -> bool:
        """True while every parameter's ``.array`` is its view into the flat buffer."""
        return all(p.array is view for p, view in zip(self.params, self._param.views))

    def bind_params(self) -> bool:
        """Copy back and rebind every parameter whose ``.array`` was rebound; False if one no longer fits here
        (another backend, dtype or shape: the group's buckets must be made again)."""
        for i, (p, view) in enumerate(zip(self.params, self._param.views)):
            if p.array is not view:
                if not self._fits(i, p):
                    return False
                view[...] = p.array
                p.array = view
        return True

    def gather(self, grads: list[Any]) -> None:
        """Copy each parameter's gradient array into its place in the flat gradient buffer (never into it)."""
        for view, grad in zip(self._grad.views, grads):
            view[...] = grad

    def flat_state(self, states: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The parameters' ``states`` as one state dict over flat buffers (state tensors that were rebound are
        copied back first), or None when the per-parameter update must run instead: the states differ in their
        keys or plain values (e.g. Adam's step counts), or a state array does not fit its parameter."""
        keys = states[0].keys()
        if any(state.keys() != keys for state in states):
            return None
        flat: dict[str, Any] = {}
        for key in keys:
            values = [state[key] for state in states]
            if isinstance(values[0], Tensor) and values[0].ndim == 0 and any(self.shapes):
                if not all(v is values[0] for v in values):  # one device scalar the bucket shares (the step
                    return None                              # count of a capturable optimizer), or no flat step
                flat[key] = values[0]
            elif isinstance(values[0], Tensor):
                if not all(isinstance(v, Tensor) and (v.array is view or self._fits(i, v))
                           for i, (v, view) in enumerate(zip(values, self._views_of(key)))):
                    return None
                buffer = self._state.get(key)
                if buffer is None:
                    buffer = self._state[key] = self._new_flat()
                for value, view in zip(values, buffer.views):
                    if value.array is not view:
                        view[...] = value.array
                        value.array = view
                flat[key] = buffer.tensor
            elif all(_same(v, values[0]) for v in values):
                flat[key] = values[0]
            else:
                return None
        return flat

    # ------------------------------------------------------------- after the update
    def scatter_state(self, flat: dict[str, Any], states: list[dict[str, Any]]) -> None:
        """Hand the state the update left in ``flat`` back to each parameter: plain values as they are, arrays
        as views. An update that made a new array (e.g. SGD's first momentum buffer) gives it views first."""
        if self.param.array is not self._param.array:
            self._param = self._adopt(self.param)
            for p, view in zip(self.params, self._param.views):
                p.array = view
        for key, value in flat.items():
            if not isinstance(value, Tensor) or value.ndim == 0:  # plain values and shared device scalars
                for state in states:
                    state[key] = value
                continue
            buffer = self._state.get(key)
            if buffer is not None and buffer.current(value):
                continue
            buffer = self._state[key] = self._adopt(value)
            for state, view in zip(states, buffer.views):
                if isinstance(state.get(key), Tensor):
                    state[key].array = view
                else:
                    state[key] = Tensor._make(view, self.backend)

    # ------------------------------------------------------------------- helpers
    def _fits(self, i: int, t: Tensor) -> bool:
        return t.backend is self.backend and t.array.dtype == self.dtype and tuple(t.array.shape) == self.shapes[i]

    def _views_of(self, key: str) -> list[Any]:
        buffer = self._state.get(key)
        return buffer.views if buffer is not None else [None] * len(self.params)

    def _new_flat(self) -> _Flat:
        xp = self.backend.xp
        return self._adopt(Tensor._make(xp.empty((self.size,), dtype=self.dtype, device=self.backend.device),
                                        self.backend))

    def _adopt(self, tensor: Tensor) -> _Flat:
        """``tensor`` (a flat buffer) with one view per parameter: ``reshape(flat[a:b], shape)``, no copy."""
        xp, data = self.backend.xp, tensor.array
        return _Flat(tensor, [xp.reshape(data[a:b], shape) for (a, b), shape in zip(self.bounds, self.shapes)])


def _same(value: Any, first: Any) -> bool:
    """Whether two plain state values (step counts, None) are equal, without ever comparing arrays."""
    return value is first or (type(value) is type(first) and isinstance(value, (int, float, str)) and value == first)

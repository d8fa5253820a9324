"""``Optimizer``: parameter groups, per-parameter state and PyTorch's ``state_dict`` layout.

A subclass passes its defaults to ``Optimizer.__init__`` and writes ``_update(p, grad, state, group)``: the
update of one parameter from its gradient array. ``step()`` runs it under ``no_grad`` for every parameter that
has a gradient. Updates work on backend arrays in place (``p.array -= ...``) and on state buffers the optimizer
owns, never leave the device, and keep each parameter's dtype because hyperparameters enter only as Python
floats. Gradient arrays are never written to: the engine may hand one array to several parameters.

A subclass whose ``_update`` is elementwise sets ``elementwise = True``; ``step`` then runs it once per group,
backend and dtype on flat buffers that hold all those parameters, their gradients and their state
(:mod:`anynn.optim.flat`), so a step costs a handful of array operations instead of a handful per parameter.
Where that could differ from PyTorch's per-parameter semantics it runs the per-parameter update instead: for a
bucket in a step where some of its parameters have no gradient (PyTorch skips them: no decay, no momentum), or
whose parameters' states differ (some without state yet, different Adam step counts).

As in PyTorch, ``foreach=None`` (the default) chooses by device: flat where every array operation is a kernel
launch (``Backend.multi_tensor_updates``: the cupy backend, torch on CUDA), per parameter on CPU backends, where
gathering the gradients costs a pass over memory and saves nothing. ``foreach=True`` runs flat on any backend,
``foreach=False`` always per parameter.
"""
from __future__ import annotations

import copy
import functools
import numbers
import operator
import warnings
from collections import defaultdict
from itertools import chain
from typing import Any, Callable, ClassVar, Iterable, NamedTuple, Union

from anynn.autograd.grad_mode import enable_grad, no_grad
from anynn.autograd.tensor import Tensor, mark_modified
from anynn.optim.flat import FlatBucket, make_buckets

__all__ = ["Optimizer", "follow_param", "required"]

ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]], Iterable[tuple[str, Tensor]]]


class _GroupBuckets(NamedTuple):
    """A group's flat buckets, and the parameters (with their ``requires_grad``) they were made for."""

    params: list[Tensor]
    trainable: list[bool]
    buckets: list[FlatBucket]


class _RequiredParameter:
    """Marks a default that every parameter group must give (PyTorch's ``optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _count_step(step: Callable) -> Callable:
    """Wrap a ``step`` so learning-rate schedulers can tell whether the optimizer has stepped yet."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        self._opt_called = True
        return step(self, *args, **kwargs)

    return wrapper


class Optimizer:
    """Base class of every optimizer (see the module docstring for what a subclass writes)."""

    #: True when ``_update`` uses only elementwise operations, so that one call on the flat concatenation of
    #: many parameters (and of their gradients and states) equals one call per parameter. A subclass whose
    #: ``_update`` reduces over a parameter (a norm, a mean) sets it to False.
    elementwise: ClassVar[bool] = False

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        self.defaults = defaults
        self._buckets: dict[int, _GroupBuckets] = {}
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or of dicts (parameter "
                            f"groups), but got a {type(params).__name__}; pass a list, e.g. "
                            f"{type(self).__name__}([p]) or {type(self).__name__}(model.parameters())")
        if isinstance(params, set):
            raise TypeError(f"{type(self).__name__}: parameters need to be in an ordered collection, but got a set "
                            "(its order changes between runs, and so would the state_dict); use a list instead")
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._opt_called = False
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; did the model create its "
                             "parameters (model.parameters() is a generator: it can only be consumed once)?")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _count_step(cls.__dict__["step"])

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the flat buckets out (a copied view is no view of the copied buffer); a copy
        makes its own at its first step."""
        return {key: value for key, value in self.__dict__.items() if key != "_buckets"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._buckets = {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    # ------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters need to be in an ordered collection, but got a set (its order "
                            "changes between runs, and so would the state_dict); use a list instead")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError(f"{name}: all parameters of a group should come with names (from named_parameters()) "
                             "or none should; some names are missing")
        param_group["params"] = params
        if names:
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is a "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not (p.is_leaf or p._retain):
                raise ValueError(f"{name} can't optimize a non-leaf Tensor (one computed from others); optimize "
                                 "the leaves it came from, or make a new leaf with .detach().requires_grad_()")
        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required optimization "
                                 f"parameter {key}")
            param_group.setdefault(key, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{name} contains a parameter group with duplicate parameters; each will be updated "
                          "once per occurrence", stacklevel=3)
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                raise ValueError(f"{name}: all parameter groups should be with or without names; cannot add a group "
                                 f"{'with' if names else 'without'} names to this optimizer")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``grad = None`` (default) or a fresh array of zeros (never a shared one zeroed)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else Tensor._make(p.grad.xp.zeros_like(p.grad.array), p.grad.backend)

    # --------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss first and is returned."""
        self._opt_called = True
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for gi, group in enumerate(self.param_groups):
                grads = [None if p.grad is None else self._grad_array(p, gi, pi)
                         for pi, p in enumerate(group["params"])]
                done = self._flat_step(gi, group, grads)
                for pi, (p, grad) in enumerate(zip(group["params"], grads)):
                    if grad is None or pi in done:
                        continue
                    state = self.state[p]
                    if state:
                        follow_param(p, state)
                    self._update(p, grad, state, group)
                    if not state:  # stateless updates (SGD without momentum) leave no entry, as in PyTorch
                        del self.state[p]
                for p, grad in zip(group["params"], grads):
                    if grad is not None:
                        mark_modified(p)  # backward through a graph recorded before this step raises, as in PyTorch
        return loss

    def _flat_step(self, gi: int, group: dict[str, Any], grads: list[Any]) -> set[int]:
        """Run ``_update`` once per bucket of the group on its flat buffers, for each bucket whose parameters
        all have a gradient and states that agree; the indices (in the group) of the parameters it updated."""
        done: set[int] = set()
        foreach = group.get("foreach")
        if not self.elementwise or foreach is False:
            return done
        if foreach is None and not any(p.backend.multi_tensor_updates for p in group["params"]):
            return done
        for bucket in self._group_buckets(gi, group["params"]):
            if foreach is None and not bucket.params[0].backend.multi_tensor_updates:
                continue
            bucket_grads = [grads[i] for i in bucket.indices]
            if any(grad is None for grad in bucket_grads):
                continue
            states = [self.state[p] for p in bucket.params]
            state = bucket.flat_state(states)
            if state is None:
                continue
            bucket.gather(bucket_grads)
            self._update(bucket.param, bucket.grad, state, group)
            bucket.scatter_state(state, states)
            if not state:
                for p in bucket.params:
                    del self.state[p]
            done.update(bucket.indices)
        return done

    def _group_buckets(self, gi: int, params: list[Tensor]) -> list[FlatBucket]:
        """The flat buckets of group ``gi``, with every parameter bound to its view again; made anew when the
        group's parameters changed, one was frozen or unfrozen, or moved to another backend, dtype or shape."""
        known = self._buckets.get(gi)
        trainable = [p.requires_grad for p in params]
        if (known is not None and len(known.params) == len(params) and all(map(operator.is_, known.params, params))
                and known.trainable == trainable and all(bucket.bind_params() for bucket in known.buckets)):
            return known.buckets
        for p in params:  # (re)made because a parameter moved, perhaps: its state follows it first
            if p in self.state:
                follow_param(p, self.state[p])
        buckets = make_buckets(params)
        self._buckets[gi] = _GroupBuckets(list(params), trainable, buckets)
        return buckets

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update(p, grad, state, group)")

    def _grad_array(self, p: Tensor, gi: int, pi: int) -> Any:
        """``p.grad``'s array after cheap metadata checks (backend, shape, dtype) with a clear error."""
        g = p.grad
        where = f"{type(self).__name__}: param_groups[{gi}]['params'][{pi}]"
        if g.backend is not p.backend:
            raise TypeError(f"{where} lives on {p.backend.name} ({p.device}) but its .grad on {g.backend.name} "
                            f"({g.device}); move the gradient with p.grad = p.grad.to(p.backend)")
        if tuple(g.array.shape) != tuple(p.array.shape):
            raise ValueError(f"{where} has shape {p.shape} but its .grad has shape {g.shape}; a gradient must have "
                             "its parameter's shape")
        if g.array.dtype != p.array.dtype:
            raise TypeError(f"{where} is {p.dtype} but its .grad is {g.dtype}; cast the gradient "
                            f"(p.grad = p.grad.to({p.dtype!r})) so the update keeps the parameter's dtype")
        return g.array

    # --------------------------------------------------------- state dict
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``, PyTorch's layout.

        Parameters are numbered in group order. Unlike PyTorch the state tensors are copies, so the dict stays
        a snapshot while training goes on (the optimizer updates its buffers in place).
        """
        index: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): _snapshot(v) for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict from :meth:`state_dict` (ours or PyTorch's, its tensors as arrays of any library).

        Arrays are copied onto each parameter's backend in its dtype; ``step`` becomes a Python int. Group
        options come from the checkpoint; options it lacks keep this optimizer's defaults.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict expects a dict with keys 'state' and 'param_groups' (from "
                             f"optimizer.state_dict()), got {_describe(state_dict)}")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than this optimizer ({len(self.param_groups)}); build the "
                             "optimizer with the same param_groups as the one that was saved")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a parameter group that doesn't "
                                 f"match the size of optimizer's group: param_groups[{i}] has {len(saved['params'])} "
                                 f"parameters in the checkpoint but {len(group['params'])} here")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                state[id_map[key]] = {k: _cast(id_map[key], k, v, key, name) for k, v in value.items()}
            else:
                state[key] = value
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            self._restore_group(saved)
        self.state = state
        self.param_groups = saved_groups

    def _restore_group(self, group: dict[str, Any]) -> None:
        """Fill options a loaded group lacks (e.g. from an older checkpoint) with this optimizer's defaults."""
        for key, default in self.defaults.items():
            group.setdefault(key, default)


# ---------------------------------------------------------------- helpers
def check_hyperparameters(name: str, *, signed: bool = False, **values: Any) -> None:
    """Each value must be a real Python number, and >= 0 unless ``signed`` (a clear error otherwise)."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}: {key} must be a Python number, got {_describe(value)}")
        if not signed and not value >= 0.0:
            raise ValueError(f"{name}: Invalid {key} value: {value} (must be >= 0)")


def follow_param(p: Tensor, state: dict[str, Any]) -> None:
    """Move ``p``'s state tensors onto ``p``'s backend and (floating ones) its dtype, where ``p`` was moved
    since they were made (``model.to(...)`` after the optimizer was built). Each keeps its identity (only its
    array changes), so references to it stay valid, as PyTorch's in-place moves keep them. Runs before every
    per-parameter update, so the usual case (nothing moved) is two identity checks per state tensor."""
    backend, dtype = p._backend, p.array.dtype
    for value in state.values():
        if isinstance(value, Tensor) and not (value._backend is backend and value.array.dtype is dtype):
            _follow(p, value)


def _follow(p: Tensor, value: Tensor) -> None:
    floating = value.dtype.is_floating_point and p.dtype.is_floating_point
    if value._backend is p._backend and (not floating or value.array.dtype == p.array.dtype):
        return  # an integer entry (a step count) of another dtype than its parameter, or an equal dtype object
    value.array = p._backend.asarray(value.array, p.dtype if floating else None)
    value._backend = p._backend


def zeros_state(p: Tensor, fill: float = 0.0) -> Tensor:
    """A new state buffer with ``p``'s shape, dtype and backend, filled with ``fill``."""
    return Tensor._make(p.xp.full_like(p.array, fill), p.backend)


def copy_state(p: Tensor, array: Any) -> Tensor:
    """A state buffer holding a private copy of ``array`` (never an alias of a gradient)."""
    return Tensor._make(p.xp.asarray(array, copy=True), p.backend)


def _snapshot(value: Any) -> Any:
    if isinstance(value, Tensor):
        return Tensor._make(value.xp.asarray(value.array, copy=True), value.backend)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


def _cast(p: Tensor, key: str, value: Any, index: Any, name: str) -> Any:
    """One loaded state entry for parameter ``p``: arrays onto ``p``'s backend and dtype, ``step`` as an int."""
    if key == "step" and value is not None:
        return int(value)
    if isinstance(value, Tensor):
        value = value.array
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        shape = tuple(value.shape)
        if shape and shape != p.shape:
            raise ValueError(f"{name}.load_state_dict: state[{index!r}][{key!r}] has shape {shape} but its parameter "
                             f"has shape {p.shape}; the checkpoint was saved for a different model")
        dtype = p.dtype if p.dtype.is_floating_point else None
        return Tensor._make(p.backend.asarray(value, dtype), p.backend)
    if isinstance(value, dict):
        return {k: _cast(p, k, v, index, name) for k, v in value.items()}
    return value


def _describe(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__name__}" if kind.__module__ != "builtins" else f"{kind.__name__} {value!r}"[:80]

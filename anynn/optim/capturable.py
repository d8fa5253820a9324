"""Optimizers inside a captured CUDA graph (``capturable=True``, as PyTorch names it).

A CUDA graph bakes every Python number of the captured step into its kernels. So in a parameter group with
``group['capturable']`` true, the hyperparameters that schedules change (``lr``, ``momentum``, ``betas``) enter
the update as 0-d device arrays of the parameter's dtype, read by reference at each replay, and step counters
(Adam's bias correction) are 0-d device tensors advanced by an operation inside the step. The host keeps
``group['lr']`` a Python float, as everywhere else: :func:`sync_device_scalars` writes each changed value into
its device scalar (a small host-to-device copy, outside the graph), compared on the host, so an unchanged
value costs nothing. The learning-rate schedulers call it after each step; ``anynn.cuda_graphs.GraphedStep``
calls it before every replay, so a value set by hand reaches the graph too.
"""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.cuda_graphs import GRAPH_BACKENDS, GraphCaptureError, capturing

__all__ = ["device_step", "hyperparameter", "make_capturable", "sync_device_scalars"]


def make_capturable(optimizer: Any) -> None:
    """Switch every parameter group of ``optimizer`` to device-scalar hyperparameters (idempotent)."""
    for group in optimizer.param_groups:
        group["capturable"] = True


def _slots(optimizer: Any) -> dict:
    return optimizer.__dict__.setdefault("_device_scalars", {})


def _host_value(group: dict[str, Any], key: str, index: int | None) -> float:
    value = group[key]
    return float(value if index is None else value[index])


def hyperparameter(optimizer: Any, group: dict[str, Any], key: str, p: Tensor, index: int | None = None) -> Any:
    """``group[key]`` (or ``group[key][index]``) as the update of ``p`` uses it: a Python float, or, in a
    capturable group, the 0-d device array of ``p``'s dtype that holds it (made at the first eager step)."""
    value = _host_value(group, key, index)
    if not group.get("capturable"):
        return value
    slots = _slots(optimizer)
    slot_key = (id(group), key, index, p.backend, p.array.dtype)
    slot = slots.get(slot_key)
    if slot is None:
        if p.backend.name not in GRAPH_BACKENDS:
            raise RuntimeError(f"If capturable=True, params and state_steps must be on supported devices: "
                               f"{type(optimizer).__name__} got a parameter on {p.backend.name}, and CUDA graphs "
                               "run on cupy (or the replay backend that emulates them); leave capturable off")
        _refuse_inside_capture(f"{type(optimizer).__name__}'s device scalar for {key!r}")
        array = p.xp.full((), value, dtype=p.array.dtype, device=p.backend.device)
        slots[slot_key] = slot = [array, value, group, key, index]
    elif slot[1] != value:
        slot[0][...] = value
        slot[1] = value
    return slot[0]


def sync_device_scalars(optimizer: Any) -> None:
    """Write every capturable hyperparameter whose host value changed into its device scalar (outside a
    capture: a captured step reads the device scalar, never the host value)."""
    for slot in _slots(optimizer).values():
        array, known, group, key, index = slot
        value = _host_value(group, key, index)
        if value != known:
            array[...] = value
            slot[1] = value


def device_step(state: dict[str, Any], p: Tensor) -> Any:
    """Advance ``state['step']`` kept as a 0-d device tensor of ``p``'s dtype (a Python count from eager steps
    or a loaded checkpoint is moved onto the device first) and return its array: the count a replayed step
    advances. A flat bucket shares one such tensor among its parameters (``anynn/optim/flat.py``)."""
    step = state.get("step", 0)
    if not isinstance(step, Tensor):
        _refuse_inside_capture("the optimizer's device step count")
        step = state["step"] = Tensor._make(p.xp.full((), float(step), dtype=p.array.dtype,
                                                      device=p.backend.device), p.backend)
    step.array += 1.0
    return step.array


def _refuse_inside_capture(what: str) -> None:
    if capturing():
        raise GraphCaptureError(f"{what} would be made inside a CUDA-graph capture, and so made again from the "
                                "captured value at every replay; run one eager step before capturing (GraphedStep "
                                "and fit(cuda_graph=True) do)")

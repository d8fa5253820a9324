"""Training checkpoints: model, optimizer, scheduler, epoch, history and settings in one pickle-free file.

A model built by name (``anynn.models.get_model``) carries a model-construction record (its name and
constructor arguments); the checkpoint stores it as ``model_record``, so :func:`model_from_checkpoint` (and
``anynn eval --checkpoint f``) rebuild the model with nothing else.
"""
from __future__ import annotations

import os
from typing import Any

from anynn.nn.module import StateDictError
from anynn.serialization import CheckpointError, load, save


def save_checkpoint(path: str, model, optimizer=None, scheduler=None, epoch: int = 0,
                    history: list[dict] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write everything needed to resume after ``epoch`` completed epochs (atomically, see anynn.save)."""
    from anynn.models import record_of

    record = record_of(model)
    state = {
        "model": dict(model.state_dict()),
        "model_record": record.to_dict() if record is not None else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": history or [],
        "extra": extra or {},
    }
    save(state, path)


def _read(path: str, backend=None) -> dict[str, Any]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = load(path, backend=backend.name, device=backend.device_name) if backend is not None else load(path)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path} is not a training checkpoint (no 'model' entry; written by anynn.save, not "
                              "save_checkpoint?): load weights with model.load_state_dict(anynn.load(path))")
    return state


def checkpoint_record(state: dict[str, Any], path: str = "the checkpoint"):
    """The :class:`~anynn.models.ModelRecord` a checkpoint holds (None if it has none: written before records
    existed, or for a model not built by ``get_model``)."""
    from anynn.models import ModelRecord

    data = state.get("model_record")
    if data is None:
        return None
    try:
        return ModelRecord.from_dict(data)
    except ValueError as err:
        raise CheckpointError(f"{path}: its model-construction record is unusable: {err}") from None


def load_checkpoint(path: str, model, optimizer=None, scheduler=None) -> dict[str, Any]:
    """Restore states in place onto the model's backend; returns the checkpoint (``epoch``, ``history``, ...)."""
    state = _read(path, model.backend)
    saved = state.get("optimizer_class")
    if optimizer is not None and saved is not None and saved != type(optimizer).__name__:
        raise CheckpointError(f"{path} holds the state of an optimizer of class {saved}, not "
                              f"{type(optimizer).__name__}: resume with {saved}, or start a new run (another "
                              "checkpoint path)")
    try:
        model.load_state_dict(state["model"])
    except StateDictError as err:
        record = checkpoint_record(state, path)
        which = f"; the checkpoint holds a {record.describe()}" if record is not None else ""
        raise StateDictError(f"checkpoint {path}: {err}\n  (a checkpoint of another model{which}? use another "
                             "checkpoint path)") from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state


def model_from_checkpoint(path: str, backend: str | None = None, device: str | None = None):
    """``(model, checkpoint)``: the model a checkpoint came from, rebuilt from its model-construction record,
    in the checkpoint's floating dtype, with its weights loaded (on ``backend`` or the current one)."""
    from anynn import backends as B
    from anynn import dtypes as D

    target = B.backend_for(backend, device) if backend or device else B.get_backend()
    state = _read(path, target)
    record = checkpoint_record(state, path)
    if record is None:
        raise CheckpointError(f"{path} does not say which model it holds (no model-construction record: written "
                              "before anynn recorded it, or for a model not built by anynn.models.get_model); "
                              "build the model yourself and use load_checkpoint(path, model)")
    with B.use_backend(target):
        model = record.build()
    floating = [t.dtype for t in state["model"].values() if getattr(t, "dtype", None) is not None
                and t.dtype.is_floating_point]
    if floating and floating[0] is not D.float32:
        model.to(floating[0])
    try:
        model.load_state_dict(state["model"])
    except StateDictError as err:
        raise StateDictError(f"checkpoint {path}: {err}\n  (its record says {record.describe()}, but the weights "
                             "do not fit that model: the file was edited, or the model zoo changed)") from None
    return model, state


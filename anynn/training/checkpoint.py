"""Training checkpoints: model, optimizer, scheduler, epoch, history and settings in one pickle-free file."""
from __future__ import annotations

import os
from typing import Any

from anynn.nn.module import StateDictError
from anynn.serialization import CheckpointError, load, save


def save_checkpoint(path: str, model, optimizer=None, scheduler=None, epoch: int = 0,
                    history: list[dict] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write everything needed to resume after ``epoch`` completed epochs (atomically, see anynn.save)."""
    state = {
        "model": dict(model.state_dict()),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": history or [],
        "extra": extra or {},
    }
    save(state, path)


def load_checkpoint(path: str, model, optimizer=None, scheduler=None) -> dict[str, Any]:
    """Restore states in place onto the model's backend; returns the checkpoint (``epoch``, ``history``, ...)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    backend = model.backend
    state = load(path, backend=backend.name, device=backend.device_name)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path} is not a training checkpoint (no 'model' entry; written by anynn.save, not "
                              "save_checkpoint?): load weights with model.load_state_dict(anynn.load(path))")
    saved = state.get("optimizer_class")
    if optimizer is not None and saved is not None and saved != type(optimizer).__name__:
        raise CheckpointError(f"{path} holds the state of an optimizer of class {saved}, not "
                              f"{type(optimizer).__name__}: resume with {saved}, or start a new run (another "
                              "checkpoint path)")
    try:
        model.load_state_dict(state["model"])
    except StateDictError as err:
        raise StateDictError(f"checkpoint {path}: {err}\n  (a checkpoint of another model? use another checkpoint "
                             "path)") from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state

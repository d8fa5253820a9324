"""Training checkpoints: model, optimizer, scheduler, epoch, history and settings in one pickle-free file."""
from __future__ import annotations

import os
from typing import Any

from anynn.serialization import load, save


def save_checkpoint(path: str, model, optimizer=None, scheduler=None, epoch: int = 0,
                    history: list[dict] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write everything needed to resume after ``epoch`` completed epochs (atomically, see anynn.save)."""
    state = {
        "model": dict(model.state_dict()),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
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
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state

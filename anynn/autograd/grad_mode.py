"""Whether operations record the graph: ``anynn.no_grad()``, ``enable_grad()``, ``set_grad_enabled(flag)``.

The flag is per thread, as in PyTorch, so a data-loading thread under ``no_grad`` never switches recording
off for the training loop. Each use as a context manager or decorated call saves and restores its own
previous value, so nesting, recursion and threads all unwind correctly.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable


class _State(threading.local):
    enabled = True


state = _State()


def is_grad_enabled() -> bool:
    """True if operations on tensors that require grad are being recorded (in this thread)."""
    return state.enabled


class _GradMode(contextlib.ContextDecorator):
    """Set recording to ``mode`` inside a ``with`` block or a decorated call; restore it after."""

    mode: bool = True

    def __enter__(self) -> None:
        self.previous = state.enabled
        state.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        state.enabled = self.previous

    def _recreate_cm(self) -> "_GradMode":
        """A fresh manager per decorated call, so recursive and concurrent calls keep their own state."""
        fresh = _GradMode()
        fresh.mode = self.mode
        return fresh


class _NoArgGradMode(_GradMode):
    """Usable as ``@no_grad()``, ``@no_grad`` and ``with no_grad():``."""

    def __new__(cls, func: Callable | None = None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __init__(self, func: Callable | None = None):
        pass


class no_grad(_NoArgGradMode):
    """Do not record operations (inference, parameter updates)."""

    mode = False


class enable_grad(_NoArgGradMode):
    """Record operations even inside ``no_grad``."""

    mode = True


class set_grad_enabled(_GradMode):
    """Enable or disable recording: as a plain call (takes effect at once), a context manager or a decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = state.enabled
        state.enabled = self.mode

    def __enter__(self) -> None:
        """The mode was already set by the constructor; ``__exit__`` restores the value seen then."""

    def __call__(self, func: Callable) -> Callable:
        state.enabled = self.previous  # used as a decorator: undo the constructor's immediate switch
        return super().__call__(func)


__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]

"""Whether operations record the graph: ``anynn.no_grad()``, ``enable_grad()``, ``set_grad_enabled(flag)``."""
from __future__ import annotations

import contextlib

enabled = True


def is_grad_enabled() -> bool:
    return enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Enable or disable recording, as a call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        global enabled
        self.previous = enabled
        self.mode = bool(mode)
        enabled = self.mode

    def __enter__(self) -> None:
        global enabled
        enabled = self.mode

    def __exit__(self, *exc) -> None:
        global enabled
        enabled = self.previous




class no_grad(contextlib.ContextDecorator):
    """Do not record operations (inference, parameter updates)."""

    def __enter__(self) -> None:
        global enabled
        self.previous, enabled = enabled, False

    def __exit__(self, *exc) -> None:
        global enabled
        enabled = self.previous


class enable_grad(contextlib.ContextDecorator):
    """Record operations even inside ``no_grad``."""

    def __enter__(self) -> None:
        global enabled
        self.previous, enabled = enabled, True

    def __exit__(self, *exc) -> None:
        global enabled
        enabled = self.previous

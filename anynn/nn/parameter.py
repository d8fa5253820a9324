"""``Parameter``: a Tensor a Module registers as trainable (``requires_grad=True`` by default)."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor


class Parameter(Tensor):
    """A trainable tensor; assigning one to a Module attribute registers it."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True):
        if isinstance(data, Tensor):
            self.array, self._backend = data.array, data.backend
        else:
            super().__init__(data)
        self.grad = None
        self.requires_grad = requires_grad
        self._node = None
        self._retain = False
        self._version = [0]

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

"""``AdamW``: Adam with weight decay decoupled from the gradient (Loshchilov & Hutter, 2019)."""
from __future__ import annotations

from typing import Any

from anynn.optim.adam import Adam
from anynn.optim.optimizer import ParamsT

__all__ = ["AdamW"]


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameters, ``p *= 1 - lr*weight_decay``, before the Adam step
    instead of adding ``weight_decay*p`` to the gradient (so it is not rescaled by the adaptive step)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, foreach=foreach)

    def _restore_group(self, group: dict[str, Any]) -> None:
        super()._restore_group(group)
        group["decoupled_weight_decay"] = True

"""``Adadelta``: step sizes from running averages of squared gradients and squared updates (Zeiler, 2012)."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.capturable import hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """PyTorch's Adadelta: ``v = rho*v + (1-rho)*g*g``; ``delta = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho*u + (1-rho)*delta*delta``; ``p -= lr*delta``. State: ``step``, ``square_avg``, ``acc_delta``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``);
    ``foreach=False`` runs it per parameter. ``capturable=True`` keeps ``lr`` in a device scalar, for CUDA
    graphs (``anynn/optim/capturable.py``); ``step`` is a count only, not used by the update."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False):
        check_hyperparameters("Adadelta", lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        if rho > 1.0:
            raise ValueError(f"Adadelta: Invalid rho value: {rho} (must be in [0, 1])")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.xp
        lr, rho, eps, weight_decay = (float(group[k]) for k in ("lr", "rho", "eps", "weight_decay"))
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_state(p)
            state["acc_delta"] = zeros_state(p)
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.array
        square_avg, acc_delta = state["square_avg"].array, state["acc_delta"].array
        square_avg *= rho
        square_avg += (1.0 - rho) * (grad * grad)
        delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1.0 - rho) * (delta * delta)
        p.array -= hyperparameter(self, group, "lr", p) * delta

"""``RMSprop``: gradients divided by a running root-mean-square (Hinton's lecture 6e), optionally centered."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.capturable import hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's RMSprop: ``v = alpha*v + (1-alpha)*g*g``; ``avg = sqrt(v - m*m) + eps`` with the running mean
    ``m`` of ``g`` when centered (else ``sqrt(v) + eps``); ``buf = momentum*buf + g/avg; p -= lr*buf`` or
    ``p -= lr*g/avg``. State: ``step``, ``square_avg``, ``momentum_buffer``, ``grad_avg``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``);
    ``foreach=False`` runs it per parameter. ``capturable=True`` keeps ``lr`` and ``momentum`` in device scalars,
    for CUDA graphs (``anynn/optim/capturable.py``); ``step`` is a count only, not used by the update."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False):
        check_hyperparameters("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.xp
        alpha, eps = float(group["alpha"]), float(group["eps"])
        lr = hyperparameter(self, group, "lr", p)
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_state(p)
            if momentum > 0:
                state["momentum_buffer"] = zeros_state(p)
            if group["centered"]:
                state["grad_avg"] = zeros_state(p)
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.array
        square_avg = state["square_avg"].array
        square_avg *= alpha
        square_avg += (1.0 - alpha) * (grad * grad)
        if group["centered"]:
            grad_avg = state["grad_avg"].array
            grad_avg += (1.0 - alpha) * (grad - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = xp.sqrt(square_avg) + eps
        if momentum > 0:
            buf = state["momentum_buffer"].array
            buf *= hyperparameter(self, group, "momentum", p)
            buf += grad / avg
            p.array -= lr * buf
        else:
            p.array -= lr * (grad / avg)

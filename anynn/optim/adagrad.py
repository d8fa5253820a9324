"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients (Duchi et al., 2011)."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.capturable import device_step, hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """PyTorch's Adagrad: ``sum += g*g``; ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step-1)*lr_decay)``. State: ``step``, ``sum`` (created with the optimizer, as in
    PyTorch, from each group's ``initial_accumulator_value``).

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``);
    ``foreach=False`` runs it per parameter. Under CUDA graphs (``anynn.cuda_graphs.GraphedStep``, or
    ``anynn.optim.capturable.make_capturable``; PyTorch's Adagrad has no ``capturable`` option, so neither has
    this one) ``lr`` lives in a device scalar and ``step`` in a 0-d device tensor."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False,
                 foreach: bool | None = None):
        check_hyperparameters("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                              initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    @staticmethod
    def _init_state(p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0
        state["sum"] = zeros_state(p, float(group["initial_accumulator_value"]))

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not state:
            self._init_state(p, state, group)
        xp = p.xp
        weight_decay, eps = float(group["weight_decay"]), float(group["eps"])
        lr = hyperparameter(self, group, "lr", p)
        if group.get("capturable"):
            step = device_step(state, p)
        else:
            state["step"] += 1
            step = state["step"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.array
        lr_decay = float(group["lr_decay"])
        clr = lr / (1 + (step - 1) * lr_decay) if lr_decay != 0 else lr
        total = state["sum"].array
        total += grad * grad
        p.array -= clr * (grad / (xp.sqrt(total) + eps))

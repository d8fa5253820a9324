"""``SGD``: stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.capturable import hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, copy_state

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's SGD: ``g += wd*p``; ``buf = momentum*buf + (1-dampening)*g`` (``buf = g`` at first);
    ``g = g + momentum*buf`` (Nesterov) or ``g = buf``; ``p -= lr*g``. State: ``momentum_buffer``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (momentum: 4 array
    operations per step, plus one per parameter to gather the gradients); ``foreach=False`` runs it per
    parameter. ``capturable=True`` keeps ``lr`` and ``momentum`` in device scalars, for CUDA graphs
    (``anynn/optim/capturable.py``)."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False):
        check_hyperparameters("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        check_hyperparameters("SGD", signed=True, dampening=dampening)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach)
        if capturable:
            defaults["capturable"] = True
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        dampening = float(group["dampening"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.array
        if momentum != 0:
            beta = hyperparameter(self, group, "momentum", p)
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = copy_state(p, grad)
            else:
                buf.array *= beta
                buf.array += grad if dampening == 0 else (1.0 - dampening) * grad  # 1.0 * g is g: one op saved
            grad = grad + beta * buf.array if group["nesterov"] else buf.array
        p.array -= hyperparameter(self, group, "lr", p) * grad

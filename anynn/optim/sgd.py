"""``SGD``: stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.ops._fused import FusedOp
from anynn.optim.capturable import hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters

__all__ = ["SGD", "SGD_UPDATE", "sgd_update"]


class SGD(Optimizer):
    """PyTorch's SGD: ``g += wd*p``; ``buf = momentum*buf + (1-dampening)*g`` (``buf = g`` at first);
    ``g = g + momentum*buf`` (Nesterov) or ``g = buf``; ``p -= lr*g``. State: ``momentum_buffer``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (momentum: 4 array
    operations per step, plus one per parameter to gather the gradients); ``foreach=False`` runs it per
    parameter. Under CUDA graphs (``anynn.cuda_graphs.GraphedStep``, or
    ``anynn.optim.capturable.make_capturable``) ``lr`` and ``momentum`` live in device scalars; PyTorch's SGD has no
    ``capturable`` option, so neither has this one."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None):
        check_hyperparameters("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        check_hyperparameters("SGD", signed=True, dampening=dampening)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = float(group["momentum"])
        buf = first = None
        if momentum != 0:
            buf = state.get("momentum_buffer")
            first = buf is None
            if first:  # filled with the first (decayed) gradient by the update: nothing to copy here
                buf = state["momentum_buffer"] = Tensor._make(p.xp.empty_like(p.array), p.backend)
        SGD_UPDATE.run(p.backend, p.array, grad, None if buf is None else buf.array,
                       hyperparameter(self, group, "lr", p),
                       hyperparameter(self, group, "momentum", p) if momentum != 0 else 0.0,
                       float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                       bool(group["maximize"]), bool(first))


def sgd_update(xp: Any, p: Any, grad: Any, buf: Any, lr: Any, momentum: Any, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> Any:
    """One SGD step on ``p`` and its momentum buffer ``buf`` (None without momentum), in place; ``first``: the
    buffer is new and takes the gradient. ``lr`` and ``momentum`` are floats or 0-d device arrays (capturable).
    The standard twin of the multi-tensor kernels (``sgd_update``): one launch per flat bucket on a GPU."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * p
    if buf is not None:
        if first:
            buf[...] = grad
        else:
            buf *= momentum
            buf += grad if dampening == 0 else (1.0 - dampening) * grad  # 1.0 * g is g: one op saved
        grad = grad + momentum * buf if nesterov else buf
    p -= lr * grad
    return p


SGD_UPDATE = FusedOp("sgd_update", forward=sgd_update)

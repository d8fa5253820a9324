"""``Adam``: bias-corrected running moments of the gradient (Kingma & Ba, 2014), optionally AMSGrad."""
from __future__ import annotations

import math
from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.ops._fused import FusedOp
from anynn.optim.capturable import device_step, hyperparameter
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["ADAM_UPDATE", "Adam", "adam_update"]


class Adam(Optimizer):
    """PyTorch's Adam: ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g*g`` (AMSGrad: ``vmax = max(vmax, v)``);
    ``p -= lr/(1-b1**t) * m / (sqrt(v)/sqrt(1-b2**t) + eps)``. Weight decay is L2 in the gradient, or
    ``p *= 1 - lr*wd`` with ``decoupled_weight_decay=True`` (that is AdamW). State: ``step``, ``exp_avg``,
    ``exp_avg_sq``, ``max_exp_avg_sq``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``);
    ``foreach=False`` runs it per parameter. ``capturable=True`` (for CUDA graphs) keeps ``lr`` and ``beta1``
    in device scalars and ``step`` in a 0-d device tensor, so the bias correction is computed on the device
    (``anynn/optim/capturable.py``)."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, foreach: bool | None = None, capturable: bool = False):
        name = type(self).__name__
        check_hyperparameters(name, lr=lr, eps=eps, weight_decay=weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name} got betas={betas!r}: expected a pair of floats (beta1, beta2), each in [0, 1), "
                            "e.g. betas=(0.9, 0.999)")
        betas = tuple(betas)
        for i, beta in enumerate(betas):
            check_hyperparameters(name, **{f"betas[{i}]": beta})
            if not beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay, foreach=foreach,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_state(p)
        capturable = bool(group.get("capturable"))
        if capturable:
            step = device_step(state, p)
            lr = hyperparameter(self, group, "lr", p)
            beta1 = hyperparameter(self, group, "betas", p, 0)
        else:
            state["step"] += 1
            step = state["step"]
        amsgrad = bool(group["amsgrad"])
        ADAM_UPDATE.run(p.backend, p.array, grad, state["exp_avg"].array, state["exp_avg_sq"].array,
                        state["max_exp_avg_sq"].array if amsgrad else None, lr, beta1, beta2, eps, weight_decay,
                        bool(group["decoupled_weight_decay"]), bool(group["maximize"]), step)


def adam_update(xp: Any, p: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any, lr: Any, beta1: Any,
                beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool, step: Any) -> Any:
    """One Adam/AdamW step on ``p`` and its moments, in place (AMSGrad where ``max_exp_avg_sq`` is an array).
    ``lr``, ``beta1`` and ``step`` are Python numbers or 0-d device arrays (capturable). The standard twin of
    the multi-tensor kernels (``adam_update``): one launch per flat bucket on a GPU."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled:
            p *= 1.0 - lr * weight_decay
        else:
            grad = grad + weight_decay * p
    exp_avg += (1.0 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * (grad * grad)
    if max_exp_avg_sq is not None:
        max_exp_avg_sq[...] = xp.maximum(max_exp_avg_sq, exp_avg_sq)
        exp_avg_sq = max_exp_avg_sq
    step_size = lr / (1.0 - beta1 ** step)
    bias2 = math.sqrt(1.0 - beta2 ** step) if isinstance(step, (int, float)) else xp.sqrt(1.0 - beta2 ** step)
    denom = xp.sqrt(exp_avg_sq) / bias2 + eps
    p -= step_size * (exp_avg / denom)
    return p


ADAM_UPDATE = FusedOp("adam_update", forward=adam_update)

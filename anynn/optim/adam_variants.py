"""Adam's relatives with PyTorch's formulas, options and state: ``Adamax`` (Adam with the infinity norm, Kingma &
Ba, 2014, section 7) and ``RAdam`` (Adam with the variance of its adaptive rate rectified, Liu et al., 2019)."""
from __future__ import annotations

import math
from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["Adamax", "RAdam"]


def _check_betas(name: str, betas: Any) -> tuple[float, float]:
    """``betas`` as a pair of numbers in [0, 1), else an error naming the optimizer."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{name} got betas={betas!r}: expected a pair of floats (beta1, beta2), each in [0, 1), "
                        "e.g. betas=(0.9, 0.999)")
    for i, beta in enumerate(betas):
        check_hyperparameters(name, **{f"betas[{i}]": beta})
        if not beta < 1.0:
            raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
    return tuple(betas)


class Adamax(Optimizer):
    """PyTorch's Adamax: ``m = b1*m + (1-b1)*g``; ``u = max(b2*u, |g| + eps)``; ``p -= lr/(1-b1**t) * m/u``.
    Weight decay is L2 in the gradient. State: ``step``, ``exp_avg``, ``exp_inf``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``)."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False):
        check_hyperparameters("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=_check_betas("Adamax", betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.xp
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(p)
            state["exp_inf"] = zeros_state(p)
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.array
        exp_avg, exp_inf = state["exp_avg"].array, state["exp_inf"].array
        exp_avg += (1.0 - beta1) * (grad - exp_avg)
        exp_inf[...] = xp.maximum(exp_inf * beta2, xp.abs(grad) + eps)
        p.array -= lr / (1.0 - beta1 ** state["step"]) * (exp_avg / exp_inf)


class RAdam(Optimizer):
    """PyTorch's RAdam: Adam's moments; while the variance of the adaptive rate is intractable
    (``rho_t <= 5``, the first steps) the step is momentum SGD ``p -= lr * m_hat``, afterwards Adam's step times
    the rectification ``r_t``. Weight decay is L2 in the gradient, or ``p *= 1 - lr*wd`` with
    ``decoupled_weight_decay=True``. State: ``step``, ``exp_avg``, ``exp_avg_sq``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``)."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False):
        check_hyperparameters("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=_check_betas("RAdam", betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.xp
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        state["step"] += 1
        step = state["step"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.array *= 1.0 - lr * weight_decay
            else:
                grad = grad + weight_decay * p.array
        exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
        exp_avg += (1.0 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * (grad * grad)
        bias_correction1, bias_correction2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bias_correction2
        update = (exp_avg / bias_correction1) * lr
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            update = update * (math.sqrt(bias_correction2) / (xp.sqrt(exp_avg_sq) + eps)) * rect
        p.array -= update

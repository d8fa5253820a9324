"""``Rprop``: resilient backpropagation (Riedmiller & Braun, 1993): per-coordinate step sizes from gradient signs."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters, zeros_state

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """PyTorch's Rprop: each coordinate's step size grows by ``etas[1]`` while its gradient keeps its sign and
    shrinks by ``etas[0]`` when it flips (clamped to ``step_sizes``); ``p -= sign(g) * step_size``, where a
    flipped coordinate does not move and forgets its gradient. State: ``step``, ``prev``, ``step_size``.

    The update is elementwise, so ``step`` runs it once per group on flat buffers (see ``Optimizer``)."""

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, foreach: bool | None = None,
                 maximize: bool = False):
        check_hyperparameters("Rprop", lr=lr)
        if not isinstance(etas, (tuple, list)) or len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: Invalid eta values: {etas!r} (expected (etaminus, etaplus) with "
                             "0 < etaminus < 1 < etaplus)")
        if not isinstance(step_sizes, (tuple, list)) or len(step_sizes) != 2:
            raise TypeError(f"Rprop got step_sizes={step_sizes!r}: expected a pair (min, max)")
        check_hyperparameters("Rprop", signed=True, **{"step_sizes[0]": step_sizes[0], "step_sizes[1]": step_sizes[1]})
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.xp
        etaminus, etaplus = (float(e) for e in group["etas"])
        step_size_min, step_size_max = (float(s) for s in group["step_sizes"])
        if not state:
            state["step"] = 0
            state["prev"] = zeros_state(p)
            state["step_size"] = zeros_state(p, float(group["lr"]))
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        prev, step_size = state["prev"].array, state["step_size"].array
        sign = xp.sign(grad * prev)
        ones = xp.ones_like(step_size)
        factor = xp.where(sign > 0, etaplus * ones, xp.where(sign < 0, etaminus * ones, ones))
        step_size[...] = xp.clip(step_size * factor, step_size_min, step_size_max)
        grad = xp.where(sign < 0, xp.zeros_like(grad), grad)
        p.array -= xp.sign(grad) * step_size
        prev[...] = grad

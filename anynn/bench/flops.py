"""Forward FLOPs of a model, counted exactly from its Linear and Conv layers' output and weight shapes."""
from __future__ import annotations

import math
from typing import Any

import anynn
from anynn.bench.workload import eval_mode

_COUNTED = ("Linear", "Conv1d", "Conv2d", "Conv3d")


def _counted_types() -> tuple[type, ...]:
    return tuple(getattr(anynn.nn, name) for name in _COUNTED if hasattr(anynn.nn, name))


def count_forward_flops(model: Any, x: anynn.Tensor) -> int:
    """FLOPs of one forward pass of the batch ``x``: 2 x the multiply-adds of every Linear and Conv layer.

    Each output element of such a layer costs ``prod(weight.shape[1:])`` multiply-adds (``in_features``, or
    ``in_channels / groups * kernel size``), so the count follows from the output and weight shapes alone.
    Biases, activations, normalisation and pooling are not counted (they are a few percent at most).
    """
    total = 0

    def hook(module: Any, inputs: tuple, output: anynn.Tensor) -> None:
        nonlocal total
        total += 2 * output.numel() * math.prod(module.weight.shape[1:])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _counted_types())]
    try:
        with eval_mode(model), anynn.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


__all__ = ["count_forward_flops"]

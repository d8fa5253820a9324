"""Model zoo: each builder takes ``in_channels``, ``image_size`` and ``num_classes`` (1x28x28 or 3x32x32)."""
from __future__ import annotations

from typing import Any, Callable

from anynn.models.lenet import lenet5
from anynn.models.mlp import mlp, softmax_regression
from anynn.models.nin import nin
from anynn.models.resnet import BasicBlock, ResNet, resnet18
from anynn.models.vgg import CONFIGS as VGG_CONFIGS, VGG, vgg, vgg_small

MODELS: dict[str, Callable[..., Any]] = {
    "softmax_regression": softmax_regression,
    "mlp": mlp,
    "lenet5": lenet5,
    "lenet5_bn": lambda **kw: lenet5(batch_norm=True, **kw),
    "vgg_small": vgg_small,
    **{name: (lambda n: (lambda **kw: vgg(n, **kw)))(name) for name in VGG_CONFIGS},
    "nin": nin,
    "resnet18": resnet18,
}


def get_model(name: str, **kwargs: Any):
    """Build a model by name (``anynn train --model NAME``)."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return builder(**kwargs)


__all__ = ["BasicBlock", "MODELS", "ResNet", "VGG", "VGG_CONFIGS", "get_model", "lenet5", "mlp", "nin", "resnet18",
           "softmax_regression", "vgg", "vgg_small"]

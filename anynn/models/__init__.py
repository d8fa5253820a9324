"""Model zoo: each builder takes ``in_channels``, ``image_size`` and ``num_classes`` (1x28x28 or 3x32x32)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from anynn.models.alexnet import alexnet
from anynn.models.densenet import DenseBlock, densenet
from anynn.models.googlenet import Inception, googlenet
from anynn.models.lenet import lenet5
from anynn.models.mlp import mlp, softmax_regression
from anynn.models.nin import nin
from anynn.models.resnet import BasicBlock, PreActBlock, PreActResNet, ResNet, preact_resnet18, resnet18, resnet34
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
    "resnet34": resnet34,
    "preact_resnet18": preact_resnet18,
    "alexnet": alexnet,
    "googlenet": googlenet,
    "densenet": densenet,
}


@dataclass(frozen=True)
class ModelRecord:
    """How a zoo model was built: its name in :data:`MODELS` and the keyword arguments of :func:`get_model`
    (plain values only), plus the dataset it was built for when known. Checkpoints store it, so
    ``anynn eval --checkpoint f`` rebuilds the same model with nothing else (``record.build()``)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None

    def build(self):
        """A fresh model built exactly as the recorded one (new weights; load the state dict into it)."""
        return get_model(self.name, **self.kwargs)

    def describe(self) -> str:
        """``lenet5_bn(in_channels=1, image_size=28, num_classes=10)``."""
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint (tuples such as mlp's ``hidden`` stay tuples in an anynn file)."""
        return {"name": self.name, "kwargs": dict(self.kwargs), "dataset": self.dataset}

    @classmethod
    def from_dict(cls, data: Any) -> "ModelRecord":
        """The record back from :meth:`to_dict`; a ValueError says what is wrong with a damaged one."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(
                data.get("kwargs", {}), dict):
            raise ValueError(f"a model-construction record needs a 'name' (str) and 'kwargs' (dict), got {data!r}")
        if data["name"] not in MODELS:
            raise ValueError(f"the recorded model {data['name']!r} is not in this version's model zoo; choose one "
                             f"of {', '.join(MODELS)}")
        dataset = data.get("dataset")
        return cls(data["name"], dict(data.get("kwargs") or {}), dataset if isinstance(dataset, str) else None)


RECORD_ATTRIBUTE = "model_record"


def get_model(name: str, **kwargs: Any):
    """Build a model by name (``anynn train --model NAME``); the model carries its :class:`ModelRecord` as
    ``model.model_record`` (see :func:`record_of`), which checkpoints save."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    model = builder(**kwargs)
    setattr(model, RECORD_ATTRIBUTE, ModelRecord(name, dict(kwargs)))
    return model


def record_of(model: Any) -> ModelRecord | None:
    """The :class:`ModelRecord` of a model built by :func:`get_model` (None for models built otherwise)."""
    record = getattr(model, "__dict__", {}).get(RECORD_ATTRIBUTE)
    return record if isinstance(record, ModelRecord) else None


__all__ = ["BasicBlock", "DenseBlock", "Inception", "MODELS", "ModelRecord", "PreActBlock", "PreActResNet", "ResNet",
           "VGG", "VGG_CONFIGS", "alexnet", "densenet", "get_model", "googlenet", "lenet5", "mlp", "nin",
           "preact_resnet18", "record_of", "resnet18", "resnet34", "softmax_regression", "vgg", "vgg_small"]

"""Fully connected classifiers: softmax regression and the multi-layer perceptron."""
from __future__ import annotations

from typing import Sequence

from anynn import nn

_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
                "elu": nn.ELU, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name ('relu', 'tanh', ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def softmax_regression(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression on raw pixels: Flatten + Linear (softmax lives in the loss)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


def mlp(in_channels: int = 1, image_size: int = 28, num_classes: int = 10, hidden: Sequence[int] = (256,),
        act: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """Flatten, then Linear + activation (+ dropout) per hidden width, then a Linear classifier."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)

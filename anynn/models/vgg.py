"""VGG (Simonyan & Zisserman, 2014) for small images, and ``vgg_small`` for CIFAR-shaped speed tests."""
from __future__ import annotations

from typing import Sequence

from anynn import nn

CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """3x3 conv stacks with (BatchNorm and) ReLU, max-pool at each "M", then a classifier.

    A pool that would shrink the feature map below 1x1 (five pools on 28x28 inputs) is skipped; an adaptive
    average pool makes the classifier input size independent of the image size.
    """

    def __init__(self, config: Sequence[int | str], in_channels: int = 3, image_size: int = 32,
                 num_classes: int = 10, batch_norm: bool = True, hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = in_channels, image_size
        for item in config:
            if item == "M":
                if side >= 2:
                    layers.append(nn.MaxPool2d(2))
                    side //= 2
                continue
            layers.append(nn.Conv2d(channels, int(item), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(item)))
            layers.append(nn.ReLU())
            channels = int(item)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


def vgg(name: str = "vgg11", in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
        batch_norm: bool = True) -> VGG:
    """VGG-11/13/16/19 by name ('vgg16'), or a custom config list via :class:`VGG`."""
    if name not in CONFIGS:
        raise ValueError(f"unknown VGG config {name!r}; choose one of {sorted(CONFIGS)} or build VGG(config)")
    return VGG(CONFIGS[name], in_channels, image_size, num_classes, batch_norm)


def vgg_small(in_channels: int = 3, image_size: int = 32, num_classes: int = 10) -> nn.Sequential:
    """conv 32-32-pool-64-64-pool with BatchNorm, fc 256: the CIFAR-shaped benchmark network."""

    def conv(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    side = image_size // 4
    return nn.Sequential(*conv(in_channels, 32), *conv(32, 32), nn.MaxPool2d(2), *conv(32, 64), *conv(64, 64),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * side * side, 256), nn.ReLU(),
                         nn.Linear(256, num_classes))

"""AlexNet (Krizhevsky et al., 2012) as in D2L 8.1, adapted to 28x28 and 32x32 inputs.

D2L resizes Fashion-MNIST to 224x224 for an 11x11 stride-4 first conv. Here the first conv is 3x3 with stride 1
and padding 1 (the only change); the three 3x3 stride-2 max-pools, the 5x5 and 3x3 convs (96-256-384-384-256
channels) and the classifier (4096-4096 with dropout 0.5) are D2L's. 28x28 inputs leave 2x2 maps for the
classifier (32x32: 3x3) where D2L has 5x5, so the first dense layer takes 256*2*2 (256*3*3) features.
"""
from __future__ import annotations

from anynn import nn


def _after_pool(side: int) -> int:
    """Side of a map after MaxPool2d(3, stride=2) without padding."""
    return (side - 3) // 2 + 1


def alexnet(in_channels: int = 3, image_size: int = 32, num_classes: int = 10, hidden: int = 4096,
            dropout: float = 0.5) -> nn.Sequential:
    """Small-input AlexNet (module docstring); needs ``image_size`` >= 15 so that three pools leave a map."""
    side = _after_pool(_after_pool(_after_pool(image_size)))
    if side < 1:
        raise ValueError(f"alexnet: image_size must be at least 15 (three 3x3 stride-2 pools), got {image_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2), nn.Flatten(),
        nn.Linear(256 * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes))

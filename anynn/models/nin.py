"""Network in Network (Lin, Chen & Yan, 2013): mlpconv blocks and global average pooling, no dense layers."""
from __future__ import annotations

from anynn import nn


def _mlpconv(cin: int, cout: int, kernel: int, padding: int, mid: tuple[int, int]) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, padding=padding), nn.ReLU(),
            nn.Conv2d(cout, mid[0], 1), nn.ReLU(), nn.Conv2d(mid[0], mid[1], 1), nn.ReLU()]


def nin(in_channels: int = 3, image_size: int = 32, num_classes: int = 10, width: int = 192,
        dropout: float = 0.5) -> nn.Sequential:
    """The CIFAR NiN: three mlpconv blocks (5x5, 5x5, 3x3), max/avg pools, dropout, global average pool."""
    w = width
    head = [nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 1), nn.ReLU(), nn.Conv2d(w, num_classes, 1)]
    return nn.Sequential(
        *_mlpconv(in_channels, w, 5, 2, (w * 5 // 6, w // 2)), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Dropout(dropout),
        *_mlpconv(w // 2, w, 5, 2, (w, w)), nn.AvgPool2d(3, stride=2, padding=1), nn.Dropout(dropout),
        *head, nn.AdaptiveAvgPool2d(1), nn.Flatten())

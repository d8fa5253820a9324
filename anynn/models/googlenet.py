"""GoogLeNet (Szegedy et al., 2015) as in D2L 8.4: nine Inception v1 blocks in five stages, global average pool.

Small-input stem: D2L's first stage (7x7 conv, stride 2, then a stride-2 max-pool) takes 96x96 images to 24x24;
here a 3x3 conv with stride 1 and the stride-2 max-pool take 28x28 (32x32) to 14x14 (16x16), so the
Inception stages see 7x7 / 4x4 / 2x2 maps (32x32 inputs: 8x8 / 4x4 / 2x2) instead of D2L's 12x12 / 6x6 / 3x3. The second
stage (1x1 conv 64, 3x3 conv 192) and every Inception block keep D2L's channel counts.
"""
from __future__ import annotations

import anynn
from anynn import nn


class Inception(nn.Module):
    """Four parallel paths concatenated along channels: 1x1 conv; 1x1 then 3x3 conv; 1x1 then 5x5 conv;
    3x3 max-pool then 1x1 conv (``c2`` and ``c3`` are the (reduce, out) channels of the middle paths)."""

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.b1_1 = nn.Conv2d(in_channels, c1, 1)
        self.b2_1 = nn.Conv2d(in_channels, c2[0], 1)
        self.b2_2 = nn.Conv2d(c2[0], c2[1], 3, padding=1)
        self.b3_1 = nn.Conv2d(in_channels, c3[0], 1)
        self.b3_2 = nn.Conv2d(c3[0], c3[1], 5, padding=2)
        self.b4_1 = nn.MaxPool2d(3, stride=1, padding=1)
        self.b4_2 = nn.Conv2d(in_channels, c4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        b1 = self.relu(self.b1_1(x))
        b2 = self.relu(self.b2_2(self.relu(self.b2_1(x))))
        b3 = self.relu(self.b3_2(self.relu(self.b3_1(x))))
        b4 = self.relu(self.b4_2(self.b4_1(x)))
        return anynn.cat([b1, b2, b3, b4], dim=1)


def googlenet(in_channels: int = 3, image_size: int = 32, num_classes: int = 10) -> nn.Sequential:
    """D2L's GoogLeNet with the small-input stem (module docstring); ``image_size`` only documents the input
    (the global average pool makes the classifier independent of it)."""

    def pool() -> nn.MaxPool2d:
        return nn.MaxPool2d(3, stride=2, padding=1)

    b1 = nn.Sequential(nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(), pool())
    b2 = nn.Sequential(nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), pool())
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64),
                       pool())
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128), pool())
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, num_classes))

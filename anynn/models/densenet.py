"""DenseNet (Huang et al., 2017) as in D2L 8.7: four dense blocks of BN-ReLU-3x3 conv layers whose outputs are
concatenated onto their inputs, transition layers (BN-ReLU-1x1 conv halving the channels, 2x2 average pool).

Small-input stem: D2L's 7x7 stride-2 conv (then a stride-2 max-pool) becomes a 3x3 stride-1 conv, so 28x28
(32x32) inputs reach the first dense block at 14x14 (16x16) and the last at 1x1 (2x2); growth rate 32, four blocks of
four convolutions and 64 stem channels are D2L's.
"""
from __future__ import annotations

from typing import Sequence

import anynn
from anynn import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN, ReLU, 3x3 conv: the pre-activation layer of a dense block."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1))


class DenseBlock(nn.Module):
    """``num_convs`` conv blocks; each sees the concatenation of the block input and every earlier output, so
    the block adds ``num_convs * growth_rate`` channels."""

    def __init__(self, num_convs: int, in_channels: int, growth_rate: int):
        super().__init__()
        self.net = nn.Sequential(*[conv_block(in_channels + i * growth_rate, growth_rate) for i in range(num_convs)])
        self.out_channels = in_channels + num_convs * growth_rate

    def forward(self, x):
        for block in self.net:
            x = anynn.cat([x, block(x)], dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN, ReLU, 1x1 conv to ``out_channels``, 2x2 average pool: between dense blocks, halves channels and size."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1),
                         nn.AvgPool2d(2, stride=2))


def densenet(in_channels: int = 3, image_size: int = 32, num_classes: int = 10, growth_rate: int = 32,
             blocks: Sequence[int] = (4, 4, 4, 4), width: int = 64) -> nn.Sequential:
    """D2L's DenseNet with the small-input stem (module docstring); ``width`` is the stem's channel count."""
    layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width),
                                             nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))]
    channels = width
    for i, num_convs in enumerate(blocks):
        block = DenseBlock(num_convs, channels, growth_rate)
        layers.append(block)
        channels = block.out_channels
        if i != len(blocks) - 1:
            layers.append(transition_block(channels, channels // 2))
            channels //= 2
    layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)

"""ResNet-18/34 (He et al., 2016) with the CIFAR-style stem (one 3x3 conv, no max-pool), and the pre-activation
ResNet of He et al. (2016, "Identity Mappings in Deep Residual Networks")."""
from __future__ import annotations

from anynn import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), in_channels: int = 3, num_classes: int = 10,
                 width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, planes = [], width
        for i, count in enumerate(blocks):
            out = width * 2 ** i
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(planes, out, stride)] + [BasicBlock(out, out) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            planes = out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(in_channels: int = 3, image_size: int = 32, num_classes: int = 10, width: int = 64) -> ResNet:
    """ResNet-18 for 32x32 (or 28x28) images; ``width`` scales every stage (64 is the standard)."""
    return ResNet((2, 2, 2, 2), in_channels, num_classes, width)


def resnet34(in_channels: int = 3, image_size: int = 32, num_classes: int = 10, width: int = 64) -> ResNet:
    """ResNet-34 (BasicBlock stages of 3, 4, 6, 3) with the CIFAR-style stem; ``width`` as in :func:`resnet18`."""
    return ResNet((3, 4, 6, 3), in_channels, num_classes, width)


class PreActBlock(nn.Module):
    """Full pre-activation residual block (He et al., 2016, "Identity Mappings"): BN-ReLU-conv twice, added to
    the input untouched. A projection shortcut (1x1 conv, when the shape changes) takes the pre-activated input,
    as in the paper's code; the identity shortcut takes the raw input, so no ReLU follows the addition."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = self.relu(self.bn1(x))
        shortcut = self.shortcut(out) if len(self.shortcut) else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """ResNet of :class:`PreActBlock` stages: a plain 3x3 stem conv, and the final BN-ReLU before pooling that
    the pre-activation design needs (the last block's sum is otherwise never normalised)."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), in_channels: int = 3, num_classes: int = 10,
                 width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        stages, planes = [], width
        for i, count in enumerate(blocks):
            out = width * 2 ** i
            stride = 1 if i == 0 else 2
            stage = [PreActBlock(planes, out, stride)] + [PreActBlock(out, out) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            planes = out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.fc(self.flatten(self.avgpool(self.relu(self.bn(x)))))


def preact_resnet18(in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
                    width: int = 64) -> PreActResNet:
    """Pre-activation ResNet-18 (stages of 2, 2, 2, 2 :class:`PreActBlock`) for 32x32 (or 28x28) images."""
    return PreActResNet((2, 2, 2, 2), in_channels, num_classes, width)

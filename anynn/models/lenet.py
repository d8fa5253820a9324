"""LeNet-5 (LeCun et al., 1998) with ReLU and max-pooling, optionally with BatchNorm."""
from __future__ import annotations

from anynn import nn
from anynn.models.mlp import activation


def lenet5(in_channels: int = 1, image_size: int = 28, num_classes: int = 10, batch_norm: bool = False,
           act: str = "relu") -> nn.Sequential:
    """conv 6@5x5 - pool - conv 16@5x5 - pool - fc 120 - fc 84 - fc classes.

    28x28 inputs get padding 2 on the first conv (as in the classic MNIST setting), so both 28x28 and 32x32
    inputs reach the classifier as 16x5x5.
    """
    pad = 2 if image_size == 28 else 0
    side = ((image_size + 2 * pad - 4) // 2 - 4) // 2

    def block(cin: int, cout: int, padding: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, padding=padding)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        return layers + [activation(act), nn.MaxPool2d(2)]

    def dense(fin: int, fout: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Linear(fin, fout)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(fout))
        return layers + [activation(act)]

    return nn.Sequential(*block(in_channels, 6, pad), *block(6, 16, 0), nn.Flatten(),
                         *dense(16 * side * side, 120), *dense(120, 84), nn.Linear(84, num_classes))

"""Every model in the zoo builds for 1x28x28 and 3x32x32 inputs and gives (N, classes) logits."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.models import MODELS, get_model

SMALL = {"nin": {"width": 12}, "resnet18": {"width": 4}}
SHAPES = [(1, 28), (3, 32)]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("channels,side", SHAPES)
def test_model_output_shape(name, channels, side):
    model = get_model(name, in_channels=channels, image_size=side, num_classes=7, **SMALL.get(name, {}))
    x = anynn.randn(2, channels, side, side)
    model.eval()
    with anynn.no_grad():
        out = model(x)
    assert out.shape == (2, 7)
    assert np.isfinite(out.numpy()).all()


def test_lenet5_trains_one_step_on_every_backend(backend):
    model = get_model("lenet5_bn", in_channels=1, image_size=28, num_classes=10)
    x = anynn.randn(4, 1, 28, 28)
    y = anynn.tensor([0, 1, 2, 3])
    loss = anynn.nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and g.shape == p.shape for g, p in zip(grads, model.parameters()))
    assert all(g.dtype is anynn.float32 for g in grads)


def test_resnet18_has_pytorch_state_dict_keys():
    keys = list(get_model("resnet18", width=4).state_dict())
    assert keys[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layer2.0.shortcut.0.weight" in keys and "layer4.1.bn2.num_batches_tracked" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'lenet6'; choose one of"):
        get_model("lenet6")

"""The PyTorch twin of an anynn model, for fair speed comparisons: same architecture, same weights, same data.

:func:`to_torch` walks an anynn module tree and builds the equivalent ``torch.nn`` tree with the same child
names (so the two ``state_dict``s have the same keys), then copies every parameter and buffer across.
:func:`to_torch_tensor` hands a tensor's data to torch once (zero-copy where the libraries allow),
:func:`match_threads` gives torch as many CPU threads as NumPy's BLAS uses, so neither side gets more cores, and
:class:`TorchTwin` trains and times the twin with the clocks of :mod:`anynn.bench.workload`, as anynn's run is.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn as tnn

from anynn.backends.numpy import numpy_blas_threads
from anynn.bench.memory import measure_peak
from anynn.bench.workload import time_epoch, time_inference

REQUIRED = object()  # an attribute the anynn module must have (no default)

# anynn class name -> (torch class, constructor arguments read from the anynn module's attributes, with the
# default used when the anynn module does not have that attribute)
_LAYERS: dict[str, tuple[type, dict[str, Any]]] = {
    "Linear": (tnn.Linear, {"in_features": REQUIRED, "out_features": REQUIRED}),
    "Conv2d": (tnn.Conv2d, {"in_channels": REQUIRED, "out_channels": REQUIRED, "kernel_size": REQUIRED, "stride": 1,
                            "padding": 0, "dilation": 1, "groups": 1, "padding_mode": "zeros"}),
    "BatchNorm1d": (tnn.BatchNorm1d, {"num_features": REQUIRED, "eps": 1e-5, "momentum": 0.1, "affine": True,
                                      "track_running_stats": True}),
    "BatchNorm2d": (tnn.BatchNorm2d, {"num_features": REQUIRED, "eps": 1e-5, "momentum": 0.1, "affine": True,
                                      "track_running_stats": True}),
    "MaxPool2d": (tnn.MaxPool2d, {"kernel_size": REQUIRED, "stride": None, "padding": 0, "dilation": 1,
                                  "ceil_mode": False}),
    "AvgPool2d": (tnn.AvgPool2d, {"kernel_size": REQUIRED, "stride": None, "padding": 0, "ceil_mode": False,
                                  "count_include_pad": True, "divisor_override": None}),
    "AdaptiveAvgPool2d": (tnn.AdaptiveAvgPool2d, {"output_size": REQUIRED}),
    "Dropout": (tnn.Dropout, {"p": 0.5}),
    "Flatten": (tnn.Flatten, {"start_dim": 1, "end_dim": -1}),
    "ReLU": (tnn.ReLU, {}),
    "Tanh": (tnn.Tanh, {}),
    "Sigmoid": (tnn.Sigmoid, {}),
    "Identity": (tnn.Identity, {}),
}


class _Twin(tnn.Module):
    """A torch module holding already-converted children under the anynn attribute names."""

    def __init__(self, children: dict[str, tnn.Module]):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


class TorchBasicBlock(_Twin):
    """torch twin of ``anynn.models.resnet.BasicBlock`` (same attribute names, same forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class TorchResNet(_Twin):
    """torch twin of ``anynn.models.resnet.ResNet`` (same attribute names, same forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


class TorchVGG(_Twin):
    """torch twin of ``anynn.models.vgg.VGG``: features, pool, classifier."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


class TorchPreActBlock(_Twin):
    """torch twin of ``anynn.models.resnet.PreActBlock`` (projection from the pre-activated input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        shortcut = self.shortcut(out) if len(self.shortcut) else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class TorchPreActResNet(_Twin):
    """torch twin of ``anynn.models.resnet.PreActResNet`` (final BN-ReLU before pooling)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.fc(self.flatten(self.avgpool(self.relu(self.bn(x)))))


class TorchInception(_Twin):
    """torch twin of ``anynn.models.googlenet.Inception`` (D2L's four paths, concatenated)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.relu(self.b1_1(x))
        b2 = self.relu(self.b2_2(self.relu(self.b2_1(x))))
        b3 = self.relu(self.b3_2(self.relu(self.b3_1(x))))
        b4 = self.relu(self.b4_2(self.b4_1(x)))
        return torch.cat((b1, b2, b3, b4), dim=1)


class TorchDenseBlock(_Twin):
    """torch twin of ``anynn.models.densenet.DenseBlock`` (each conv block's output concatenated on)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.net:
            x = torch.cat((x, block(x)), dim=1)
        return x


_COMPOSITES: dict[str, Callable[[dict[str, tnn.Module]], tnn.Module]] = {
    "Sequential": lambda children: tnn.Sequential(OrderedDict(children)),
    "ModuleList": lambda children: tnn.ModuleList(list(children.values())),
    "BasicBlock": TorchBasicBlock,
    "ResNet": TorchResNet,
    "VGG": TorchVGG,
    "PreActBlock": TorchPreActBlock,
    "PreActResNet": TorchPreActResNet,
    "Inception": TorchInception,
    "DenseBlock": TorchDenseBlock,
}

SUPPORTED = tuple(sorted(set(_LAYERS) | set(_COMPOSITES)))


def _anynn_name(module: Any) -> str | None:
    """The name of the first anynn class in ``module``'s MRO that has a torch twin.

    A subclass that overrides ``forward`` on the way there computes something else, so it is not matched.
    """
    for cls in type(module).__mro__:
        if cls.__module__.startswith("anynn.") and (cls.__name__ in _LAYERS or cls.__name__ in _COMPOSITES):
            return cls.__name__
        if "forward" in cls.__dict__:
            return None
    return None


def _convert(module: Any) -> tnn.Module:
    name = _anynn_name(module)
    if name is None:
        raise TypeError(f"to_torch cannot convert {type(module).__name__} ({module!r}); supported layers: "
                        f"{', '.join(SUPPORTED)}. Add a twin to anynn/bench/torch_twin.py")
    if name in _COMPOSITES:
        children = {child_name: _convert(child) for child_name, child in module._modules.items() if child is not None}
        return _COMPOSITES[name](children)
    cls, spec = _LAYERS[name]
    kwargs = {key: getattr(module, key, default) for key, default in spec.items()}
    missing = [key for key, value in kwargs.items() if value is REQUIRED]
    if missing:
        raise TypeError(f"to_torch: {module!r} has no attribute(s) {missing} needed to build torch.nn.{cls.__name__}")
    if "bias" in getattr(module, "_parameters", {}):
        kwargs["bias"] = module._parameters["bias"] is not None
    return cls(**kwargs)


def torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype with the same name as an anynn dtype (``anynn.float32`` -> ``torch.float32``)."""
    return getattr(torch, dtype.name)


def to_torch(model: Any, device: str | torch.device | None = None) -> tnn.Module:
    """A ``torch.nn`` copy of an anynn model: same architecture, same child names, same weights and buffers.

    The copy lives on ``device`` (default 'cpu'), in the dtype of the anynn model's parameters, and each of
    its modules is in the same train/eval mode as the anynn module of the same name.
    """
    twin = _convert(model)
    params = list(model.parameters())
    if params:
        twin = twin.to(torch_dtype(params[0].dtype))
    twin = twin.to(device or "cpu")
    copy_weights(model, twin)
    modes = dict(model.named_modules())
    for name, sub in twin.named_modules():
        if name in modes:
            sub.training = modes[name].training
    return twin


def copy_weights(model: Any, twin: tnn.Module) -> None:
    """Copy every parameter and buffer of the anynn ``model`` into its torch ``twin`` (matched by name).

    Only ``num_batches_tracked`` may be absent on the anynn side (it does not change the computation when
    BatchNorm's ``momentum`` is set); any other mismatch raises, listing the keys.
    """
    state = OrderedDict((key, torch.tensor(value.numpy())) for key, value in model.state_dict().items())
    missing, unexpected = twin.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"to_torch: the torch twin of {type(model).__name__} does not match its state_dict; "
                           f"missing in anynn: {missing}, unexpected from anynn: {unexpected}")


def peer_device(backend: Any) -> str:
    """The torch device that matches an anynn backend's device: 'cpu' for NumPy, 'cuda:i' for CuPy."""
    if backend.name == "cupy":
        return backend.device_name
    if backend.name == "torch":
        return str(backend.device)
    return "cpu"


def to_torch_tensor(t: Any, device: str | torch.device | None = None) -> torch.Tensor:
    """The data of an anynn Tensor as a torch tensor on ``device`` (no copy for NumPy, CuPy and torch data
    already on that device)."""
    backend, data = t.backend, t.array
    if backend.name == "torch":
        out = data.detach()
    elif backend.name == "cupy":
        out = torch.from_dlpack(data)
    elif backend.name == "numpy":
        out = torch.from_numpy(data)
    else:
        out = torch.from_numpy(t.numpy())
    return out.to(device or out.device)


def match_threads(backend: Any) -> int:
    """Give torch the CPU threads anynn's array library uses on ``backend``; returns that count."""
    count = torch.get_num_threads() if backend.name == "torch" else numpy_blas_threads()
    torch.set_num_threads(count)
    return count


def synchronize(device: str | torch.device) -> None:
    """Wait for queued torch work on ``device`` (a no-op on the CPU)."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def count_aten_ops(step: Any, *args: Any) -> int:
    """How many aten operations that are not views ``step(*args)`` runs: about one CUDA kernel each (PyTorch's
    foreach optimizers launch one per chunk of tensors, so this slightly under-counts those)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view and func.__name__ not in ("detach.default", "_local_scalar_dense.default"):
                Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        step(*args)
    return Count.calls


class TorchTwin:
    """A PyTorch training run mirroring an anynn one: ``model`` converted with :func:`to_torch` (same initial
    weights), the same data cut into the same batches, SGD with the same settings, timed by the same clocks.
    Used by ``anynn bench``."""

    def __init__(self, model: Any, x: Any, y: Any, bounds: list[tuple[int, int]], lr: float, momentum: float,
                 device: str):
        self.device = device
        self.model = to_torch(model, device)
        xt, yt = to_torch_tensor(x, device), to_torch_tensor(y, device)
        self.batches = [(xt[s:e], yt[s:e]) for s, e in bounds]
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)
        self.loss_fn = tnn.CrossEntropyLoss()
        self._loss: torch.Tensor | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def _synchronize(self) -> None:
        synchronize(self.device)

    def train_epoch(self) -> float:
        """Seconds for one pass over the data (:func:`~anynn.bench.workload.time_epoch`)."""
        seconds, self._loss = time_epoch(self.step, self.batches, self._synchronize)
        return seconds

    def infer_ms_per_image(self) -> float:
        """Milliseconds per image of batched eval-mode forward passes without autograd."""
        return time_inference(self.model, self.batches, torch.no_grad, self._synchronize)

    def peak_bytes(self) -> int | None:
        """Extra memory of one training step on the first batch (None on the CPU, where torch cannot tell)."""
        return measure_peak("torch", self.device, lambda: self.step(*self.batches[0]))

    def final_loss(self) -> float | None:
        return None if self._loss is None else float(self._loss.item())


__all__ = ["SUPPORTED", "TorchBasicBlock", "TorchDenseBlock", "TorchInception", "TorchPreActBlock", "TorchPreActResNet",
           "TorchResNet", "TorchTwin", "TorchVGG", "copy_weights", "count_aten_ops", "match_threads", "peer_device",
           "synchronize", "to_torch", "to_torch_tensor", "torch_dtype"]

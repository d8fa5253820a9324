"""PyTorch tensors (CPU or CUDA) used as plain arrays through array-api-compat; torch's autograd is unused."""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from anynn.backends.base import Backend, BackendUnavailable


class TorchBackend(Backend):
    name = "torch"

    def _load(self, device: str | None):
        try:
            import torch
            import array_api_compat.torch as xp
        except ImportError:
            raise BackendUnavailable("torch is not installed: pip install 'anynn[torch]' "
                                     "(on a CPU-only machine: pip install torch==2.13.0)") from None
        self.torch = torch
        self.array_type = torch.Tensor
        try:
            dev = torch.device(device or "cpu")
        except RuntimeError as err:
            raise BackendUnavailable(f"torch does not know the device {device!r} ({err}); use 'cpu' or "
                                     "'cuda:N'") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise BackendUnavailable(f"torch has no CUDA device here (asked for {device!r}); "
                                         "use ANYNN_DEVICE=cpu")
            count = torch.cuda.device_count()
            dev = torch.device("cuda", torch.cuda.current_device() if dev.index is None else dev.index)
            if dev.index >= count:
                raise BackendUnavailable(f"asked for {device!r} but only {count} GPU(s) exist "
                                         f"(cuda:0..cuda:{count - 1})")
        self.multi_tensor_updates = dev.type == "cuda"
        return xp, dev, str(dev)

    def manual_seed(self, seed: int | None) -> None:
        self._gen = self.torch.Generator(device=self.device)
        if seed is None:
            self._gen.seed()
        else:
            self._gen.manual_seed(seed)

    def from_numpy(self, host: np.ndarray, dtype=None) -> Any:
        native = None if dtype is None else self.dtype(dtype)
        return self.torch.tensor(np.array(host, order="C"), dtype=native, device=self.device)

    def may_share_memory(self, a: Any, b: Any) -> bool:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def to_numpy(self, arr: Any) -> np.ndarray:
        return arr.detach().cpu().numpy().copy()

    def asarray(self, obj: Any, dtype=None) -> Any:
        """As the base, but a torch tensor that records torch's own autograd is detached first."""
        if isinstance(obj, self.torch.Tensor):
            obj = obj.detach()
        return super().asarray(obj, dtype)

    def randn(self, shape, dtype):
        return self.torch.randn(shape, generator=self._gen, dtype=self.dtype(dtype), device=self.device)

    def rand(self, shape, dtype):
        return self.torch.rand(shape, generator=self._gen, dtype=self.dtype(dtype), device=self.device)

    def randint(self, low, high, shape):
        return self.torch.randint(low, high, shape, generator=self._gen, dtype=self.torch.int64, device=self.device)

    def permutation(self, n):
        return self.torch.randperm(n, generator=self._gen, device=self.device)

    def get_rng_state(self) -> dict:
        return {"torch": base64.b64encode(bytes(self._gen.get_state().tolist())).decode()}

    def set_rng_state(self, state: dict) -> None:
        raw = base64.b64decode(state["torch"])
        self._gen.set_state(self.torch.tensor(list(raw), dtype=self.torch.uint8))

    @property
    def out_of_memory_errors(self):
        return (MemoryError, self.torch.OutOfMemoryError)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def index_add(self, num_rows, index, values):
        out = self.torch.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype, device=self.device)
        return out.index_add_(0, index, values)

    def erf(self, x):
        """torch's kernel in float32; float64 takes the standard path, because torch's CPU erf was measured
        off by up to 4e-11 (relative) now and then (on a process's first calls), too coarse for gradcheck."""
        if x.dtype == self.torch.float64:
            return super().erf(x)
        return self.torch.erf(x)


__all__ = ["TorchBackend"]

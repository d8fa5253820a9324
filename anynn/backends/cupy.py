"""CuPy on an NVIDIA GPU. Random numbers are generated on the device; nothing is drawn on the host."""
from __future__ import annotations

from typing import Any

import numpy as np

from anynn.backends.base import Backend, BackendUnavailable


class CupyBackend(Backend):
    name = "cupy"

    def _load(self, device: str | None):
        try:
            import cupy
            import array_api_compat.cupy as xp
        except ImportError:
            raise BackendUnavailable("CuPy is not installed: pip install 'anynn[cuda12]' (CUDA 12) "
                                     "or 'anynn[cuda13]' (CUDA 13)") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDARuntimeError without a driver
            raise BackendUnavailable(f"CuPy is installed but no NVIDIA GPU is usable here ({err}); "
                                     "use ANYNN_BACKEND=numpy on this machine") from None
        if count == 0:
            raise BackendUnavailable("CuPy is installed but no NVIDIA GPU was found; use ANYNN_BACKEND=numpy")
        try:
            index = 0 if device in (None, "cuda") else int(str(device).removeprefix("cuda").lstrip(":"))
        except ValueError:
            raise BackendUnavailable(f"the cupy backend runs on 'cuda' or 'cuda:N', not {device!r}") from None
        if index >= count:
            raise BackendUnavailable(f"asked for {device!r} but only {count} GPU(s) exist (cuda:0..cuda:{count - 1})")
        self.cupy = cupy
        self.array_type = cupy.ndarray
        dev = cupy.cuda.Device(index)
        return xp, dev, f"cuda:{index}"

    def manual_seed(self, seed: int | None) -> None:
        with self.device:
            self._gen = self.cupy.random.RandomState(seed)

    def from_numpy(self, host: np.ndarray, dtype=None) -> Any:
        with self.device:
            return self.cupy.array(host, dtype=None if dtype is None else self.dtype(dtype))

    def to_numpy(self, arr: Any) -> np.ndarray:
        return self.cupy.asnumpy(arr)

    def randn(self, shape, dtype):
        with self.device:
            return self._gen.standard_normal(shape, dtype=self.dtype(dtype))

    def rand(self, shape, dtype):
        with self.device:
            return self._gen.random_sample(shape, dtype=self.dtype(dtype))

    def randint(self, low, high, shape):
        with self.device:
            return self._gen.randint(low, high, size=shape, dtype=self.cupy.int64)

    def permutation(self, n):
        with self.device:
            return self._gen.permutation(n).astype(self.cupy.int64)

    def get_rng_state(self) -> dict:
        raise NotImplementedError("CuPy's RandomState cannot export its state; anynn's training loop reseeds "
                                  "per epoch instead, so checkpoints do not need it")

    def set_rng_state(self, state: dict) -> None:
        raise NotImplementedError("CuPy's RandomState cannot import a state; reseed with anynn.manual_seed")

    @property
    def out_of_memory_errors(self):
        return (MemoryError, self.cupy.cuda.memory.OutOfMemoryError)

    def synchronize(self) -> None:
        self.device.synchronize()

    def index_add(self, num_rows, index, values):
        import cupyx

        with self.device:
            out = self.cupy.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype)
            cupyx.scatter_add(out, index, values)
        return out

    def erf(self, x):
        import cupyx.scipy.special

        with self.device:
            return cupyx.scipy.special.erf(x)


__all__ = ["CupyBackend"]

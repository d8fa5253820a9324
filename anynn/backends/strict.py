"""array-api-strict: the standard's reference implementation. Running the suite on it proves anynn uses
only standard functions. It has no random generator, so samples are drawn on the host (allowed here only)."""
from __future__ import annotations

from anynn.backends.base import Backend, BackendUnavailable


class StrictBackend(Backend):
    name = "array_api_strict"

    def _load(self, device: str | None):
        try:
            import array_api_strict as xp
        except ImportError:
            raise BackendUnavailable("array-api-strict is not installed: pip install 'anynn[strict]'") from None
        self.array_type = type(xp.asarray(0))
        name = "CPU_DEVICE" if device in (None, "cpu") else str(device)
        try:
            dev = xp.Device(name)
        except ValueError as err:
            raise BackendUnavailable(f"array-api-strict has no device {device!r} ({err})") from None
        return xp, dev, name


__all__ = ["StrictBackend"]

"""``anynn.save`` / ``anynn.load`` without pickle: a checkpoint can never run code.

The file is in the safetensors layout (8-byte little-endian header size, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes), so other tools can read the tensors. Everything that is
not a tensor (nested dicts and lists, numbers, strings, None) is kept as JSON in the header's metadata, with
tensors referenced by name. Files are written to a temporary file beside the target, flushed to disk and
renamed over it, so an interrupted save never leaves a corrupt checkpoint.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from typing import Any

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.backends.io import from_bytes, to_bytes

FORMAT = "anynn-1"
_MAX_HEADER = 100 * 1024 * 1024
_SAFETENSORS_DTYPES = {"float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
                       "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL"}
_FROM_SAFETENSORS = {v: k for k, v in _SAFETENSORS_DTYPES.items()}


class CheckpointError(ValueError):
    """A file that is not a valid anynn checkpoint (truncated, corrupted, or another format)."""


def _flatten(obj: Any, tensors: dict[str, Tensor], path: str) -> Any:
    """JSON-able skeleton of ``obj`` with tensors replaced by {"__tensor__": name}."""
    if isinstance(obj, Tensor):
        tensors[path] = obj
        return {"__tensor__": path}
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)):
                raise TypeError(f"anynn.save: dict keys must be str or int, got {type(key).__name__} at {path!r}")
        return {"__dict__": [[k, _flatten(v, tensors, f"{path}.{k}" if path else str(k))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, tensors, f"{path}.{i}" if path else str(i)) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"anynn.save cannot store a {type(obj).__name__} at {path!r}: only tensors, dicts, lists, "
                    "tuples, numbers, strings and None (no pickle, so files can never run code)")


def _unflatten(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    return obj


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (tensors in nested dicts/lists with plain values) to ``path`` atomically."""
    tensors: dict[str, Tensor] = {}
    skeleton = _flatten(obj, tensors, "")
    header: dict[str, Any] = {"__metadata__": {"format": FORMAT, "skeleton": json.dumps(skeleton)}}
    chunks, offset, crc32 = [], 0, {}
    for name, tensor in tensors.items():
        payload = to_bytes(tensor.backend, tensor.data)
        header[name] = {"dtype": _SAFETENSORS_DTYPES[tensor.dtype.name], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(payload)]}
        crc32[name] = zlib.crc32(payload)
        chunks.append(payload)
        offset += len(payload)
    header["__metadata__"]["crc32"] = json.dumps(crc32)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".anynn", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(encoded)))
            f.write(encoded)
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | os.PathLike, backend: str | None = None, device: str | None = None) -> Any:
    """Read a file written by :func:`save` (or any safetensors file) onto the current backend (or ``backend``).

    Never executes code from the file. A truncated, corrupted or foreign file raises CheckpointError naming
    the file and what was wrong.
    """
    path = os.fspath(path)
    target = B.backend_for(backend, device) if backend or device else B.get_backend()
    with open(path, "rb") as f:
        blob = f.read()

    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid anynn checkpoint: {why}")

    if len(blob) < 8:
        raise fail(f"the file has only {len(blob)} bytes (truncated?)")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > _MAX_HEADER or 8 + size > len(blob):
        raise fail(f"its header claims {size} bytes but the file has {len(blob)} (truncated, or another format)")
    try:
        header = json.loads(blob[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise fail(f"the header is not valid JSON ({err}); the file is corrupted or in another format") from None
    if not isinstance(header, dict):
        raise fail("the header is not a JSON object")
    data = memoryview(blob)[8 + size:]
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise fail("its __metadata__ entry is not a JSON object")
    try:
        crc32 = json.loads(meta.get("crc32", "{}"))
    except (TypeError, ValueError) as err:
        raise fail(f"its checksum record is damaged ({err!r})") from None
    if not isinstance(crc32, dict):
        raise fail("its checksum record is not a JSON object")
    tensors: dict[str, Tensor] = {}
    for name, info in header.items():
        try:
            dtype = D.from_name(_FROM_SAFETENSORS[info["dtype"]])
            start, end = info["data_offsets"]
            shape = tuple(int(s) for s in info["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise fail(f"entry {name!r} has a malformed description ({err!r})") from None
        if not 0 <= start <= end <= len(data):
            raise fail(f"tensor {name!r} needs bytes {start}..{end} but only {len(data)} follow the header (truncated?)")
        if name in crc32 and zlib.crc32(data[start:end]) != crc32[name]:
            raise fail(f"the bytes of tensor {name!r} do not match the checksum saved with them (the file was "
                       "damaged after it was written); restore it from a copy")
        try:
            array = from_bytes(target, data[start:end], dtype, shape)
        except ValueError as err:
            raise fail(f"tensor {name!r}: {err}") from None
        tensors[name] = Tensor._make(array, target)
    if meta.get("format") != FORMAT:
        return tensors
    try:
        return _unflatten(json.loads(meta["skeleton"]), tensors)
    except (KeyError, TypeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise fail(f"its structure record is damaged ({err!r})") from None

"""``anynn.save`` / ``anynn.load`` without pickle: a checkpoint can never run code.

The file is in the safetensors layout (8-byte little-endian header size, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes), so other tools can read the tensors. Everything that is
not a tensor (nested dicts and lists, numbers, strings, None, NumPy scalars and arrays) is kept as JSON in the
header's metadata, with tensors referenced by name.

Integrity: the header's first entry, ``__metadata__.file_crc32``, is the CRC-32 of the *whole file* (size
field, header with these 8 hex digits read as zeros, and data), so one flipped bit anywhere (an epoch number,
a learning rate, a tensor byte) fails to load with a message naming what changed. Each tensor also keeps its
own CRC-32, which names the damaged tensor. Files of the first format (``anynn-1``: per-tensor checksums only,
the header uncovered) and plain safetensors files from other tools still load.

Saving to a path writes a temporary file beside the target (``.tmp-<name>.pid<pid>.<random>.anynn``),
flushes it to disk and renames it over the target, so an interrupted save never leaves a corrupt checkpoint;
temporary files that a killed save of the same target left behind are removed by the next save.
"""
from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import time
import zlib
from typing import Any, BinaryIO

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.backends.io import from_bytes, to_bytes

FORMAT = "anynn-2"
OLD_FORMATS = ("anynn-1",)
_MAX_HEADER = 100 * 1024 * 1024
_SAFETENSORS_DTYPES = {"float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
                       "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL"}
_FROM_SAFETENSORS = {v: k for k, v in _SAFETENSORS_DTYPES.items()}
# the header starts with exactly these bytes, then 8 hex digits of the whole-file CRC-32
_CRC_PREFIX = b'{"__metadata__": {"file_crc32": "'
_CRC_AT = 8 + len(_CRC_PREFIX)
_STALE_AFTER_S = 24 * 3600  # a temporary file this old is stale even if its writer's pid is in use again


class CheckpointError(ValueError):
    """A file that is not a valid anynn checkpoint (truncated, corrupted, or another format)."""


def _is_numpy(obj: Any, kind: str) -> bool:
    """Whether ``obj`` is a NumPy ``ndarray`` (``kind='array'``) or scalar (``'scalar'``), without importing
    NumPy here (array libraries are imported under anynn/backends only)."""
    cls = type(obj)
    if not cls.__module__.startswith("numpy"):
        return False
    if kind == "array":
        return cls.__name__ == "ndarray"
    return getattr(obj, "ndim", None) == 0 and hasattr(obj, "item") and hasattr(obj, "dtype")


def _flatten(obj: Any, tensors: dict[str, Any], path: str) -> Any:
    """JSON-able skeleton of ``obj`` with tensors replaced by {"__tensor__": name} (NumPy arrays by
    {"__ndarray__": name}, NumPy scalars by the equal Python number)."""
    if isinstance(obj, Tensor):
        tensors[path] = obj
        return {"__tensor__": path}
    if _is_numpy(obj, "array"):
        if obj.dtype.name not in _SAFETENSORS_DTYPES:
            raise TypeError(f"anynn.save cannot store a NumPy array of dtype {obj.dtype} at {path!r}: only "
                            f"{', '.join(_SAFETENSORS_DTYPES)} (convert it, e.g. arr.astype(np.float32))")
        tensors[path] = obj
        return {"__ndarray__": path}
    if _is_numpy(obj, "scalar") and obj.dtype.name in _SAFETENSORS_DTYPES:
        return obj.item()  # np.float32(0.5) -> 0.5, np.int64(3) -> 3, np.bool_(True) -> True
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
    raise TypeError(f"anynn.save cannot store a {type(obj).__name__} at {path!r}: only tensors, NumPy arrays and "
                    "scalars, dicts, lists, tuples, numbers, strings and None (no pickle, so files can never run "
                    "code)")


def _unflatten(obj: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    return obj


def _ndarray_names(obj: Any, found: set[str]) -> set[str]:
    """Names of the entries the skeleton marks as NumPy arrays (loaded to the host, not onto a backend)."""
    if isinstance(obj, list):
        for v in obj:
            _ndarray_names(v, found)
    elif isinstance(obj, dict):
        if isinstance(obj.get("__ndarray__"), str):
            found.add(obj["__ndarray__"])
        for v in obj.values():
            _ndarray_names(v, found)
    return found


def _payload(value: Any) -> tuple[bytes, str, tuple[int, ...]]:
    if _is_numpy(value, "array"):
        little = value.astype(value.dtype.newbyteorder("<"), order="C", copy=False)
        return little.tobytes(order="C"), value.dtype.name, tuple(value.shape)
    return to_bytes(value.backend, value.array), value.dtype.name, tuple(value.shape)


def encode(obj: Any) -> bytes:
    """The bytes :func:`save` writes for ``obj``."""
    tensors: dict[str, Any] = {}
    skeleton = _flatten(obj, tensors, "")
    meta: dict[str, str] = {"file_crc32": "00000000", "format": FORMAT, "skeleton": json.dumps(skeleton)}
    header: dict[str, Any] = {"__metadata__": meta}
    chunks, offset, crc32 = [], 0, {}
    for name, value in tensors.items():
        payload, dtype, shape = _payload(value)
        header[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + len(payload)]}
        crc32[name] = zlib.crc32(payload)
        chunks.append(payload)
        offset += len(payload)
    meta["crc32"] = json.dumps(crc32)
    encoded = json.dumps(header).encode()
    assert encoded.startswith(_CRC_PREFIX)
    encoded += b" " * (-len(encoded) % 8)
    blob = bytearray(struct.pack("<Q", len(encoded)) + encoded)
    for chunk in chunks:
        blob += chunk
    blob[_CRC_AT:_CRC_AT + 8] = b"%08x" % zlib.crc32(blob)
    return bytes(blob)


def _map_location(where: Any) -> tuple[str | None, str | None]:
    """PyTorch's ``map_location`` as (backend, device): the current backend for 'cpu' when it runs on the CPU
    (NumPy otherwise), the GPU backend for 'cuda...', or a backend name."""
    if callable(where) or isinstance(where, dict):
        raise TypeError("anynn.load: map_location as a function or a dict is not supported; give a device "
                        "('cpu', 'cuda:0') or a backend name")
    name = str(where)
    if name == "cpu":
        current = B.get_backend()
        return (None, None) if current.device_name in ("cpu", "CPU_DEVICE") else ("numpy", None)
    if name.startswith("cuda"):
        return "cupy", name
    return name, None


def save(obj: Any, path: str | os.PathLike | BinaryIO) -> None:
    """Write ``obj`` (tensors and NumPy arrays in nested dicts/lists with plain values) to ``path`` atomically,
    or to an open binary file object (``io.BytesIO``, ``open(..., "wb")``) as it is."""
    blob = encode(obj)
    if hasattr(path, "write") and not isinstance(path, (str, bytes, os.PathLike)):
        path.write(blob)
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"anynn.save: expected a path (str or os.PathLike) or a binary file object, got "
                        f"{type(path).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{base}.pid{os.getpid()}.", suffix=".anynn", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files of ``path`` left by saves that were killed (their process no longer runs, or
    they are older than a day); returns the removed paths. Saves of other targets, and saves of this target
    still running in another live process, are left alone."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(rf"^\.tmp-{re.escape(os.path.basename(path))}\.pid(\d+)\.[A-Za-z0-9_]+\.anynn$")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        full = os.path.join(directory, name)
        pid = int(match.group(1))
        try:
            old = time.time() - os.path.getmtime(full) > _STALE_AFTER_S
            if (pid != os.getpid() and not _pid_alive(pid)) or old:
                os.unlink(full)
                removed.append(full)
        except OSError:
            pass  # removed meanwhile, or not ours to remove
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _foreign_format(blob: bytes, path: str) -> str | None:
    """What a file that is not in the safetensors layout most likely is, and how to convert it."""
    head = blob[:4096]
    if head.startswith(b"PK\x03\x04"):
        if b"data.pkl" in blob[:1 << 20] or b".data/" in head:
            return (f"{path} is not a valid anynn checkpoint: it is a PyTorch file (written by torch.save); anynn "
                    "never unpickles (a pickle can run code). Convert it with PyTorch: "
                    f"state = torch.load({path!r}, weights_only=True), then model.load_state_dict(state) on the "
                    "anynn model (tensors of any library are accepted) and anynn.save(model.state_dict(), "
                    "'model.anynn')")
        return (f"{path} is not a valid anynn checkpoint: it is a zip archive (a NumPy .npz?); read it with "
                "numpy.load and pass the arrays to model.load_state_dict or anynn.tensor")
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # the PROTO opcode of pickle protocols 2 to 5
        return (f"{path} is not a valid anynn checkpoint: it is a Python pickle (torch.save's legacy format, or "
                "pickle.dump); "
                "anynn never unpickles (a pickle can run code). If PyTorch wrote it: state = "
                f"torch.load({path!r}, weights_only=True), then model.load_state_dict(state) and anynn.save")
    return None


def load(path: str | os.PathLike | BinaryIO, backend: str | None = None, device: str | None = None, *,
         map_location: Any = None, weights_only: bool = True, mmap: bool | None = None) -> Any:
    """Read a file written by :func:`save` (or any safetensors file) onto the current backend (or ``backend``).

    ``path`` may also be an open binary file object (``io.BytesIO``). Never executes code from the file. A
    truncated, corrupted or foreign file raises CheckpointError naming the file and what was wrong; NumPy arrays
    come back as NumPy arrays, tensors as tensors on the target backend. PyTorch's keywords are accepted:
    ``map_location`` ('cpu', 'cuda:0', an ``anynn.device`` or a backend name) picks the target like
    ``backend``/``device``; ``weights_only`` and ``mmap`` change nothing (an anynn file holds no code to run).
    """
    if map_location is not None:
        backend, device = _map_location(map_location)
    if hasattr(path, "read") and not isinstance(path, (str, bytes, os.PathLike)):
        blob = path.read()
        path = str(getattr(path, "name", None) or f"<{type(path).__name__}>")
        if not isinstance(blob, (bytes, bytearray)):
            raise TypeError(f"anynn.load: {path} returned {type(blob).__name__}: open the file in binary mode "
                            "(open(path, 'rb'))")
    elif isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        with open(path, "rb") as f:
            blob = f.read()
    else:
        raise TypeError(f"anynn.load: expected a path (str or os.PathLike) or a binary file object, got "
                        f"{type(path).__name__}")
    target = B.backend_for(backend, device) if backend or device else B.get_backend()

    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid anynn checkpoint: {why}")

    def not_safetensors(why: str) -> CheckpointError:  # a foreign file is named as what it is
        return CheckpointError(_foreign_format(blob, path) or f"{path} is not a valid anynn checkpoint: {why}")

    if len(blob) < 8:
        raise not_safetensors(f"the file has only {len(blob)} bytes (truncated?)")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > _MAX_HEADER or 8 + size > len(blob):
        raise not_safetensors(f"its header claims {size} bytes but the file has {len(blob)} (truncated, or another "
                              "format)")
    try:
        header = json.loads(blob[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise not_safetensors(f"the header is not valid JSON ({err}); the file is corrupted or in another "
                              "format") from None
    if not isinstance(header, dict):
        raise not_safetensors("the header is not a JSON object")
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
    if blob[8:_CRC_AT] == _CRC_PREFIX or "file_crc32" in meta or meta.get("format") == FORMAT:
        _check_whole_file(blob, header, crc32, data, fail)
    skeleton = None
    if meta.get("format") in (FORMAT,) + OLD_FORMATS:
        try:
            skeleton = json.loads(meta["skeleton"])
        except (KeyError, TypeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            raise fail(f"its structure record is damaged ({err!r})") from None
    arrays = _ndarray_names(skeleton, set())
    tensors: dict[str, Any] = {}
    for name, info in header.items():
        try:
            dtype = D.from_name(_FROM_SAFETENSORS[info["dtype"]])
            start, end = info["data_offsets"]
            shape = tuple(int(s) for s in info["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise fail(f"entry {name!r} has a malformed description ({err!r})") from None
        if not 0 <= start <= end <= len(data):
            raise fail(f"tensor {name!r} needs bytes {start}..{end} but only {len(data)} follow the header "
                       "(truncated?)")
        if name in crc32 and zlib.crc32(data[start:end]) != crc32[name]:
            raise fail(_tensor_damaged(name))
        try:
            if name in arrays:
                tensors[name] = from_bytes(B.backend_for("numpy"), data[start:end], dtype, shape)  # a new array
            else:
                tensors[name] = Tensor._make(from_bytes(target, data[start:end], dtype, shape), target)
        except ValueError as err:
            raise fail(f"tensor {name!r}: {err}") from None
    if skeleton is None:
        return tensors
    try:
        return _unflatten(skeleton, tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise fail(f"its structure record is damaged ({err!r})") from None


def _tensor_damaged(name: str) -> str:
    return (f"the bytes of tensor {name!r} do not match the checksum saved with them (the file was damaged after "
            "it was written); restore it from a copy")


def _check_whole_file(blob: bytes, header: dict, crc32: dict, data: memoryview, fail) -> None:
    """The whole-file CRC-32 of the current format; on a mismatch, say which part changed if it can be told."""
    saved = blob[_CRC_AT:_CRC_AT + 8]
    if blob[8:_CRC_AT] != _CRC_PREFIX or not re.fullmatch(rb"[0-9a-f]{8}", saved):
        raise fail("its whole-file checksum record is damaged (the header was changed after the file was "
                   "written); restore it from a copy")
    if b"%08x" % zlib.crc32(blob[:_CRC_AT] + b"00000000" + blob[_CRC_AT + 8:]) == saved:
        return
    ends = [info.get("data_offsets", [0, 0])[1] for info in header.values() if isinstance(info, dict)]
    ends = [e for e in ends if isinstance(e, int)]
    if ends and max(ends) > len(data):
        raise fail(f"its tensors need {max(ends)} bytes after the header but only {len(data)} follow (truncated?)")
    for name, info in header.items():
        try:
            start, end = info["data_offsets"]
            damaged = name in crc32 and zlib.crc32(data[start:end]) != crc32[name]
        except (KeyError, TypeError, ValueError):
            continue
        if damaged:
            raise fail(_tensor_damaged(name))
    raise fail("the file does not match the checksum saved in it: its header (epoch, settings, optimizer and "
               "scheduler state, history or structure) was changed after it was written; restore it from a copy")

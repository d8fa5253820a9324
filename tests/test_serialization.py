"""anynn.save / anynn.load: round trips on every backend, across backends, atomic writes, hostile files."""
from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

import anynn
from anynn.serialization import CheckpointError, load, save
from helpers import host


def _sample():
    rng = np.random.default_rng(0)
    return {
        "weights": {"w": anynn.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
                    "b64": anynn.tensor(rng.standard_normal(5), dtype=anynn.float64),
                    "steps": anynn.tensor([1, 2, 3], dtype=anynn.int64),
                    "scalar": anynn.tensor(2.5)},
        "epoch": 7, "lr": 0.05, "name": "lenet", "nothing": None, "flags": [True, False],
        "pair": (1, "two"), "history": [{"loss": 0.5}, {"loss": 0.25}], 3: "int key",
    }


def test_round_trip_on_each_backend(backend, tmp_path):
    obj = _sample()
    save(obj, tmp_path / "c.anynn")
    back = load(tmp_path / "c.anynn")
    assert back["epoch"] == 7 and back["lr"] == 0.05 and back["name"] == "lenet" and back["nothing"] is None
    assert back["pair"] == (1, "two") and back["flags"] == [True, False] and back[3] == "int key"
    assert back["history"] == [{"loss": 0.5}, {"loss": 0.25}]
    for key, value in obj["weights"].items():
        got = back["weights"][key]
        assert got.backend is anynn.get_backend()
        assert got.dtype is value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(host(got), host(value))


def test_saved_on_numpy_loads_on_every_backend(backend, tmp_path):
    with anynn.use_backend("numpy"):
        obj = _sample()
        save(obj, tmp_path / "c.anynn")
    back = load(tmp_path / "c.anynn")
    assert back["weights"]["w"].backend is backend
    np.testing.assert_array_equal(host(back["weights"]["w"]), host(obj["weights"]["w"]))


def test_file_is_safetensors_layout(tmp_path):
    save({"a": anynn.tensor([[1.0, 2.0]])}, tmp_path / "c.anynn")
    blob = (tmp_path / "c.anynn").read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    assert header["a"] == {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}
    assert np.frombuffer(blob[8 + size:], dtype="<f4").tolist() == [1.0, 2.0]


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.anynn"
    save({"v": anynn.tensor([1.0])}, path)
    before = path.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save({"v": anynn.tensor([2.0])}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.anynn"], "the temporary file must be removed"


@pytest.mark.parametrize("cut", [3, 20, -3])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "c.anynn"
    save({"v": anynn.tensor(np.arange(10, dtype=np.float32))}, path)
    blob = path.read_bytes()
    path.write_bytes(blob[:cut])
    with pytest.raises(CheckpointError, match="c.anynn is not a valid anynn checkpoint"):
        load(path)


def test_pickle_file_is_rejected_without_running_it(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.anynn"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="not a valid anynn checkpoint"):
        load(path)
    assert not (tmp_path / "pwned").exists()


def test_corrupted_header_is_a_clear_error(tmp_path):
    path = tmp_path / "c.anynn"
    save({"v": anynn.tensor([1.0, 2.0])}, path)
    blob = bytearray(path.read_bytes())
    blob[9] = 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="header is not valid JSON"):
        load(path)


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="no pickle"):
        save({"f": lambda: 1}, tmp_path / "c.anynn")
    assert not (tmp_path / "c.anynn").exists()


# ------------------------------------------------------------------ whole-file checksum (issue 16)
def _training_like_state():
    return {"model": {"w": anynn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))},
            "optimizer": {"param_groups": [{"lr": 0.05, "momentum": 0.9, "params": [0]}], "state": {}},
            "scheduler": {"last_epoch": 3, "base_lrs": [0.05]}, "epoch": 3,
            "history": [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]}


def test_every_single_bit_flip_anywhere_fails_to_load(tmp_path):
    """Before: the header (epoch, optimizer, scheduler, history) was not covered, so a flipped bit there loaded
    silently (e.g. epoch 3 -> 2, and `--resume` would redo an epoch). Now every one of the file's bits counts."""
    path = tmp_path / "c.anynn"
    save(_training_like_state(), path)
    blob = path.read_bytes()
    survivors = []
    for i in range(len(blob)):  # every byte; every bit of the size field and of the checksum record
        for bit in range(8) if i < 64 else [i % 8]:
            damaged = bytearray(blob)
            damaged[i] ^= 1 << bit
            path.write_bytes(bytes(damaged))
            try:
                load(path)
            except CheckpointError:
                continue
            survivors.append((i, bit))
    assert survivors == [], f"{len(survivors)} flipped bits loaded silently, first at byte {survivors[:1]}"


def test_a_changed_epoch_is_named_as_header_damage(tmp_path):
    path = tmp_path / "c.anynn"
    save(_training_like_state(), path)
    blob = path.read_bytes()
    at = blob.index(b'\\"epoch\\", 3')  # inside the JSON-encoded structure record
    damaged = blob[:at] + b'\\"epoch\\", 2' + blob[at + len(b'\\"epoch\\", 3'):]
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError, match=r"c\.anynn is not a valid anynn checkpoint: the file does not match "
                                              r"the checksum saved in it: its header \(epoch, settings, optimizer "
                                              r"and scheduler state, history or structure\) was changed after it "
                                              r"was written; restore it from a copy"):
        load(path)


def test_a_flipped_tensor_byte_names_the_tensor(tmp_path):
    path = tmp_path / "c.anynn"
    save(_training_like_state(), path)
    blob = bytearray(path.read_bytes())
    blob[-2] ^= 0x10
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"the bytes of tensor 'model\.w' do not match the checksum"):
        load(path)


def _save_first_format(obj, path):
    """The writer of the first format (anynn-1, before issue 16): per-tensor CRC-32s, the header uncovered."""
    import zlib

    from anynn.serialization import _flatten

    tensors = {}
    skeleton = _flatten(obj, tensors, "")
    header = {"__metadata__": {"format": "anynn-1", "skeleton": json.dumps(skeleton)}}
    chunks, offset, crc = [], 0, {}
    for name, t in tensors.items():
        payload = np.ascontiguousarray(t.numpy()).tobytes()
        header[name] = {"dtype": {"float32": "F32", "int64": "I64"}[t.dtype.name], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(payload)]}
        crc[name] = zlib.crc32(payload)
        chunks.append(payload)
        offset += len(payload)
    header["__metadata__"]["crc32"] = json.dumps(crc)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def test_first_format_files_still_load(tmp_path):
    path = tmp_path / "old.anynn"
    _save_first_format(_training_like_state(), path)
    back = load(path)
    assert back["epoch"] == 3 and back["history"][1]["train_loss"] == 0.25
    np.testing.assert_array_equal(back["model"]["w"].numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))
    blob = bytearray(path.read_bytes())
    blob[-2] ^= 0x10  # its per-tensor checksums still apply
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="the bytes of tensor 'model.w'"):
        load(path)


def test_plain_safetensors_files_still_load(tmp_path):
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", len(header)) + header
                                             + np.array([1.0, 2.0], dtype="<f4").tobytes())
    assert load(tmp_path / "x.safetensors")["a"].tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ temporary files of killed saves
def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys

    target = tmp_path / "run.anynn"
    other = tmp_path / ".tmp-other.anynn.pid1.abcdefgh.anynn"  # another target's, with a live pid: kept
    other.write_bytes(b"x")
    code = ("import os, signal, anynn\n"
            "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"anynn.save({{'v': anynn.tensor([1.0])}}, {str(target)!r})\n")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(anynn.__file__)))}
    result = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert result.returncode == -signal.SIGKILL
    left = sorted(n for n in os.listdir(tmp_path) if n.startswith(".tmp-run.anynn."))
    assert len(left) == 1 and not target.exists(), os.listdir(tmp_path)
    save({"v": anynn.tensor([2.0])}, target)
    assert sorted(os.listdir(tmp_path)) == [".tmp-other.anynn.pid1.abcdefgh.anynn", "run.anynn"]
    assert load(target)["v"].tolist() == [2.0]


def test_a_temporary_file_of_a_live_save_is_kept(tmp_path):
    live = tmp_path / f".tmp-run.anynn.pid{os.getppid()}.abcdefgh.anynn"  # a running process: may be mid-save
    live.write_bytes(b"x")
    save({"v": anynn.tensor([1.0])}, tmp_path / "run.anynn")
    assert live.exists()


# ------------------------------------------------------------------ NumPy values, file objects
def test_numpy_scalars_and_arrays_round_trip(tmp_path):
    """Before: `anynn.save cannot store a float32` for np.float32(0.5), a typical metric value."""
    obj = {"acc": np.float32(0.5), "step": np.int64(7), "ok": np.bool_(True), "loss": np.float64(0.25),
           "confusion": np.arange(6, dtype=np.int64).reshape(2, 3), "curve": np.linspace(0, 1, 5)[::2],
           "big_endian": np.array([1.5, 2.5], dtype=">f8")}
    save(obj, tmp_path / "m.anynn")
    back = load(tmp_path / "m.anynn")
    assert back["acc"] == 0.5 and type(back["acc"]) is float
    assert back["step"] == 7 and type(back["step"]) is int
    assert back["ok"] is True and back["loss"] == 0.25
    assert isinstance(back["confusion"], np.ndarray) and back["confusion"].dtype == np.int64
    np.testing.assert_array_equal(back["confusion"], obj["confusion"])
    np.testing.assert_array_equal(back["curve"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(back["big_endian"], [1.5, 2.5])


def test_unsupported_numpy_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a NumPy array of dtype complex128 at 'z'"):
        save({"z": np.zeros(2, dtype=complex)}, tmp_path / "c.anynn")
    with pytest.raises(TypeError, match=r"cannot store a NumPy array of dtype object at 'o'"):
        save({"o": np.array([object()])}, tmp_path / "c.anynn")


def test_file_objects_and_bytesio(backend, tmp_path):
    import io

    buffer = io.BytesIO()
    save({"w": anynn.tensor([1.0, 2.0]), "epoch": 2}, buffer)
    buffer.seek(0)
    back = load(buffer)
    assert back["epoch"] == 2 and back["w"].tolist() == [1.0, 2.0] and back["w"].backend is backend
    with open(tmp_path / "f.anynn", "wb") as f:
        save({"x": np.float32(1.5)}, f)
    with open(tmp_path / "f.anynn", "rb") as f:
        assert load(f) == {"x": 1.5}
    with pytest.raises(CheckpointError, match=r"^<BytesIO> is not a valid anynn checkpoint"):
        load(io.BytesIO(b"nonsense"))


def test_pytorch_file_says_how_to_convert(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 3).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"model\.pt is not a valid anynn checkpoint: it is a PyTorch file "
                                              r"\(written by torch\.save\).*torch\.load\(.*weights_only=True\), "
                                              r"then model\.load_state_dict\(state\)"):
        load(path)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"legacy\.pt is not a valid anynn checkpoint: it is a Python pickle "
                                              r".*weights_only=True"):
        load(legacy)
    state = torch.load(path, weights_only=True)  # the conversion the message describes works
    layer = anynn.nn.Linear(2, 3)
    layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.weight.numpy(), state["weight"].numpy())


def test_header_sizes_that_look_like_a_pickle_still_load(tmp_path):
    """An 8-byte size field starting 0x80 0x02 (a header of 640 bytes) is not mistaken for pickle protocol 2."""
    sizes = set()
    for n in range(0, 700, 8):
        save({"s": "x" * n, "w": anynn.tensor([1.0])}, tmp_path / "c.anynn")
        blob = (tmp_path / "c.anynn").read_bytes()
        sizes.add(blob[:2])
        assert load(tmp_path / "c.anynn")["s"] == "x" * n
    assert b"\x80\x02" in sizes


def test_load_takes_pytorchs_keywords(backend, tmp_path):
    path = tmp_path / "model.pt"
    anynn.save({"w": anynn.ones(2)}, path)
    for where in ("cpu", anynn.device("cpu")):
        state = anynn.load(path, map_location=where, weights_only=True)
        assert state["w"].backend is backend and state["w"].tolist() == [1.0, 1.0]
    assert anynn.load(path, map_location="numpy")["w"].backend.name == "numpy"
    with pytest.raises(TypeError, match="map_location as a function or a dict is not supported"):
        anynn.load(path, map_location=lambda storage, loc: storage)

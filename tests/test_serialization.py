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

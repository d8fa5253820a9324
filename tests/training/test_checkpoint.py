"""Checkpoints record the model they hold (issue 16): model_from_checkpoint rebuilds it with nothing else;
the whole file is checksummed; load_state_dict refuses a path with a clear message."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.models import ModelRecord, get_model, record_of
from anynn.nn.module import StateDictError
from anynn.serialization import CheckpointError
from anynn.training import load_checkpoint, save_checkpoint
from anynn.training.checkpoint import model_from_checkpoint


def test_get_model_records_how_it_was_built():
    model = get_model("mlp", in_channels=1, image_size=28, num_classes=10, hidden=(32, 16), dropout=0.1)
    record = record_of(model)
    assert record == ModelRecord("mlp", {"in_channels": 1, "image_size": 28, "num_classes": 10,
                                         "hidden": (32, 16), "dropout": 0.1})
    assert record.describe() == "mlp(in_channels=1, image_size=28, num_classes=10, hidden=(32, 16), dropout=0.1)"
    assert ModelRecord.from_dict(record.to_dict()) == record
    assert record_of(anynn.nn.Linear(2, 3)) is None
    with pytest.raises(ValueError, match=r"the recorded model 'lenet9' is not in this version's model zoo"):
        ModelRecord.from_dict({"name": "lenet9", "kwargs": {}})


@pytest.mark.parametrize("dtype", [anynn.float32, anynn.float64])
def test_model_from_checkpoint_rebuilds_the_model(backend, tmp_path, dtype):
    anynn.manual_seed(0)
    model = get_model("mlp", in_channels=1, image_size=8, num_classes=3, hidden=(5,)).to(dtype)
    path = str(tmp_path / "run.anynn")
    save_checkpoint(path, model, epoch=2)
    rebuilt, state = model_from_checkpoint(path)
    assert state["epoch"] == 2 and record_of(rebuilt) == record_of(model)
    x = anynn.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)), dtype=dtype)
    model.eval(), rebuilt.eval()
    np.testing.assert_array_equal(rebuilt(x).numpy(), model(x).numpy())
    assert rebuilt.backend is backend


def test_model_from_checkpoint_without_a_record(tmp_path):
    path = str(tmp_path / "own.anynn")
    save_checkpoint(path, anynn.nn.Linear(2, 3))
    with pytest.raises(CheckpointError, match=r"own\.anynn does not say which model it holds .*use "
                                              r"load_checkpoint\(path, model\)"):
        model_from_checkpoint(path)


def test_another_models_checkpoint_names_the_model_it_holds(tmp_path):
    path = str(tmp_path / "run.anynn")
    save_checkpoint(path, get_model("softmax_regression"))
    with pytest.raises(StateDictError, match=r"the checkpoint holds a softmax_regression\(\)"):
        load_checkpoint(path, get_model("mlp"))


def test_a_changed_epoch_in_a_training_checkpoint_fails_to_load(tmp_path):
    """Before: the header was not checksummed, so epoch 3 edited to 2 resumed silently and redid an epoch."""
    path = tmp_path / "run.anynn"
    model = get_model("softmax_regression", image_size=4)
    opt = anynn.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(str(path), model, opt, epoch=3, history=[{"epoch": e} for e in (1, 2, 3)])
    blob = path.read_bytes()
    at = blob.index(b'[\\"epoch\\", 3]')
    path.write_bytes(blob[:at] + b'[\\"epoch\\", 2]' + blob[at + len(b'[\\"epoch\\", 3]'):])
    with pytest.raises(CheckpointError, match=r"does not match the checksum saved in it: its header"):
        load_checkpoint(str(path), model, opt)


def test_load_state_dict_of_a_path_says_to_load_the_file_first(tmp_path):
    """Before: every character of the path was listed as an unexpected key."""
    layer = anynn.nn.Linear(2, 3)
    with pytest.raises(TypeError, match=r"^Linear\.load_state_dict got a file path \('run\.anynn'\), not a state "
                                        r"dict: load the file first, model\.load_state_dict\(anynn\.load\(path\)\)"):
        layer.load_state_dict("run.anynn")
    with pytest.raises(TypeError, match=r"got a file path"):
        layer.load_state_dict(tmp_path / "run.anynn")
    with pytest.raises(TypeError, match=r"expected a dict mapping names to tensors .* got Linear; pass "
                                        r"other\.state_dict\(\)"):
        layer.load_state_dict(anynn.nn.Linear(2, 3))
    with pytest.raises(TypeError, match=r"got a training checkpoint .* pass checkpoint\['model'\]"):
        layer.load_state_dict({"model": layer.state_dict(), "optimizer": None, "epoch": 1})

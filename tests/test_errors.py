"""Reliability: every bad input gets a clear, specific error (what was expected, what was given, what to do).

One test per case a user meets: shape and dtype mistakes, backends mixed up, numerical faults, running out of
memory, interrupted training, and untrusted or damaged files. Each asserts the message content, not just the
exception class, since the message is the product here. docs/troubleshooting.md lists the same messages.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct

import numpy as np
import pytest

import anynn
from anynn import backends as B
from anynn import nn
from anynn.autograd import AnomalyError, BackendMismatchError, detect_anomaly
from anynn.data import DataLoader, TensorDataset
from anynn.datasets.idx import MNIST, IdxFormatError
from anynn.nn.module import StateDictError
from anynn.serialization import CheckpointError
from anynn.training import NonFiniteLossError, OutOfMemory, fit, load_checkpoint
from helpers import blobs, raises


def zeros(*shape, dtype=np.float32) -> anynn.Tensor:
    return anynn.tensor(np.zeros(shape, dtype=dtype))


# ====================================================================== shape errors
def test_linear_given_images_names_itself_and_suggests_flatten(backend):
    with raises(ValueError, "Linear(in_features=784, out_features=10, bias=True) got input of shape "
                            "(32, 1, 28, 28): expected (..., 784)", "flatten it first (nn.Flatten)"):
        nn.Linear(784, 10)(zeros(32, 1, 28, 28))


def test_linear_given_unflattened_feature_maps_says_what_in_features_should_be(backend):
    with raises(ValueError, "Linear(in_features=100, out_features=10, bias=True) got input of shape (2, 16, 5, 4)",
                "nn.Flatten", "set in_features to 320"):
        nn.Linear(100, 10)(zeros(2, 16, 5, 4))


def test_lstm_wrong_feature_size(backend):
    with raises(ValueError, "LSTM(5, 7) got input with 6 features at the last axis: expected 5 (input_size)",
                "(seq_len, batch, 5)"):
        nn.LSTM(5, 7)(zeros(3, 2, 6))


# ====================================================================== dtype errors


def test_uint8_images_into_linear_are_refused(backend):
    images = anynn.tensor(np.full((4, 784), 200, dtype=np.uint8))
    with raises(TypeError, "Linear(in_features=784, out_features=10, bias=True) got anynn.uint8 input",
                "floating-point", "x.float()"):
        nn.Linear(784, 10)(images)


def test_float64_input_into_float32_linear_is_refused_up_front(backend):
    layer = nn.Linear(4, 2)
    with raises(TypeError, "Linear(in_features=4, out_features=2, bias=True) got anynn.float64 input but its weight "
                           "is anynn.float32", "model.to(anynn.float64)"):
        layer(zeros(3, 4, dtype=np.float64))


def _mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def test_fit_refuses_uint8_images_with_a_scaling_hint(backend):
    x = anynn.tensor(np.random.default_rng(0).integers(0, 256, (16, 8)).astype(np.uint8))
    _, y = blobs(16)
    model = _mlp()
    with raises(TypeError, "fit: the inputs are anynn.uint8, not float", "x.float() / 255", "Normalize"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=8), anynn.optim.SGD(model.parameters(), lr=0.1), 1,
            progress=False, out=io.StringIO())


# ====================================================================== backend mixing
def test_numpy_array_into_a_model_says_wrap_it(backend):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with raises(TypeError, "Linear", "got input of type numpy.ndarray", "anynn.tensor(...)"):
        model(np.zeros((2, 3), dtype=np.float32))


def test_numpy_array_into_a_model_that_starts_with_flatten_says_wrap_it(backend):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with raises(TypeError, "Flatten(start_dim=1, end_dim=-1) got input of type numpy.ndarray", "anynn.tensor(...)"):
        model(np.zeros((2, 1, 2, 2), dtype=np.float32))


def test_numpy_array_into_conv_and_loss_layers_names_the_layer(backend):
    with raises(TypeError, "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1)) got input of type numpy.ndarray",
                "anynn.tensor(...)"):
        nn.Conv2d(1, 2, 3)(np.zeros((1, 1, 5, 5), dtype=np.float32))
    with raises(TypeError, "MSELoss() got target of type numpy.ndarray", "anynn.tensor(...)"):
        nn.MSELoss()(zeros(2, 2), np.zeros((2, 2), dtype=np.float32))


def _two_backends(backend):
    """The fixture's backend and another available one; skip (with the reason) if there is no other."""
    others = [n for n in ("numpy", "torch", "array_api_strict") if n != backend.name and B.why_unavailable(n) is None]
    if not others:
        pytest.skip("needs a second available backend")
    return backend.name, others[0]


def test_two_backends_in_one_op_names_both_and_suggests_to(backend):
    first, second = _two_backends(backend)
    a = anynn.ones(3)
    with anynn.use_backend(second):
        b = anynn.ones(3)
    with raises(BackendMismatchError, f"Add: tensors live on different backends ({first} on",
                f"and {second} on", ".to('"):
        a + b
    with raises(BackendMismatchError, "MatMul: tensors live on different backends", ".to('"):
        anynn.matmul(b, a)


def _torch_model_given_numpy_input():
    for name in ("numpy", "torch"):
        if B.why_unavailable(name) is not None:
            pytest.skip(f"backend {name} unavailable: {B.why_unavailable(name)}")
    with anynn.use_backend("numpy"):
        model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)).to("torch")
        x = anynn.ones(4, 3)
    assert model.backend.name == "torch" and x.backend.name == "numpy"
    return model, x


def test_model_moved_to_torch_given_numpy_input_is_a_backend_error():
    model, x = _torch_model_given_numpy_input()
    with raises(BackendMismatchError, "tensors live on different backends (numpy on cpu and torch on cpu)"):
        model(x)


def test_model_moved_to_torch_given_numpy_input_suggests_moving_the_input():
    model, x = _torch_model_given_numpy_input()
    with raises(BackendMismatchError, ".to('torch')"):
        model(x)


# ====================================================================== numerical faults
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_first_op_not_the_loss(backend):
    """log(0) = -inf, which every later op (Mul, Mean) carries along: the error must blame Log."""
    probs = anynn.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], requires_grad=True)
    with detect_anomaly():
        with raises(AnomalyError, "Log produced NaN/inf in its forward output", "input 0: shape (2, 3), finite",
                    "the first operation"):
            (probs.log() * -1.0).mean()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_backward_that_breaks(backend):
    x = anynn.tensor([4.0, 0.0], requires_grad=True)
    y = (x.sqrt() * 3.0).sum()
    with detect_anomaly():
        with raises(AnomalyError, "Sqrt.backward returned NaN/inf in the gradient of input 0 (shape (2,))"):
            y.backward()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_stops_at_the_step_whose_loss_is_not_finite(backend):
    calls = []

    def loss_fn(logits, y):
        calls.append(1)
        loss = nn.functional.cross_entropy(logits, y)
        return loss * float("inf") if len(calls) == 3 else loss

    x, y = blobs(64)
    model = _mlp()
    opt = anynn.optim.SGD(model.parameters(), lr=0.5)
    with raises(NonFiniteLossError, "the training loss became NaN/inf at step 2 (epoch 1); training stopped",
                "lower learning rate (now 0.5)", "clip_grad_norm", "detect_anomaly"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=8), opt, 2, loss_fn=loss_fn, progress=False,
            log_every=4, out=io.StringIO())
    assert len(calls) == 4, "it stops at the first progress refresh after the bad step"


# ====================================================================== out of memory
def _library_oom(backend) -> BaseException:
    """The error the backend's library raises when memory runs out (torch's and CuPy's, or MemoryError)."""
    kind = backend.out_of_memory_errors[-1]
    try:
        return kind("failed to allocate 3.2 GiB")
    except TypeError:  # CuPy's OutOfMemoryError(size, total, limit)
        return kind(3435973837, 0, 0)


def test_out_of_memory_in_fit_names_the_batch_size(backend):
    oom = _library_oom(backend)
    x, y = blobs(64)
    model = _mlp()

    def forward(_):
        raise oom

    model.forward = forward
    with raises(OutOfMemory, f"out of memory on {backend.name}", "with a batch of 16 samples", str(oom),
                "smaller batch (--batch-size 8)") as info:
        fit(model, DataLoader(TensorDataset(x, y), batch_size=16), anynn.optim.SGD(model.parameters(), lr=0.1), 1,
            progress=False, out=io.StringIO())
    assert info.value.__cause__ is oom
    assert isinstance(info.value, MemoryError), "except MemoryError still catches it"


# ====================================================================== interrupted training
class _Interrupt:
    """A loss function that raises KeyboardInterrupt on call ``at`` (Ctrl-C mid-epoch), after running ``before``."""

    def __init__(self, at: int, before=lambda: None):
        self.calls, self.at, self.before = 0, at, before

    def __call__(self, logits, y):
        self.calls += 1
        if self.calls == self.at:
            self.before()
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(logits, y)


def _train(epochs, checkpoint=None, resume=False, loss_fn=None, out=None):
    anynn.manual_seed(123)
    model = _mlp()
    x, y = blobs(64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=5)
    opt = anynn.optim.Adam(model.parameters(), lr=0.01)
    sched = anynn.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit(model, loader, opt, epochs, loss_fn=loss_fn, scheduler=sched, checkpoint=checkpoint, resume=resume,
        progress=False, log_every=3, out=out or io.StringIO())
    return model


def test_ctrl_c_mid_epoch_keeps_the_last_checkpoint_and_resume_matches_a_straight_run(backend, tmp_path):
    straight = _train(3)
    ckpt = tmp_path / "run.anynn"
    seen = {}
    interrupt = _Interrupt(at=8 + 5, before=lambda: seen.setdefault("bytes", ckpt.read_bytes()))  # epoch 2, batch 5
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        _train(3, checkpoint=str(ckpt), loss_fn=interrupt, out=out)
    assert f"interrupted during epoch 2; resume with resume=True (last checkpoint: {ckpt})" in out.getvalue()
    assert ckpt.read_bytes() == seen["bytes"], "the checkpoint of epoch 1 must be left as it was"
    assert os.listdir(tmp_path) == ["run.anynn"]
    assert anynn.load(ckpt)["epoch"] == 1
    out = io.StringIO()
    resumed = _train(3, checkpoint=str(ckpt), resume=True, out=out)
    assert f"resumed from {ckpt} after epoch 1" in out.getvalue()
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


@pytest.mark.parametrize("fault", ["ctrl-c at rename", "disk full at fsync"])
def test_interrupted_checkpoint_write_keeps_the_old_file_and_no_temp_files(backend, tmp_path, monkeypatch, fault):
    ckpt = tmp_path / "run.anynn"
    _train(1, checkpoint=str(ckpt))
    before = ckpt.read_bytes()

    def ctrl_c(*args):
        raise KeyboardInterrupt

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    if fault == "ctrl-c at rename":
        monkeypatch.setattr(os, "replace", ctrl_c)
    else:
        monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(KeyboardInterrupt if fault == "ctrl-c at rename" else OSError):
        _train(2, checkpoint=str(ckpt), resume=True)
    monkeypatch.undo()
    assert ckpt.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.anynn"], "the temporary file must be removed"
    state = load_checkpoint(str(ckpt), _mlp())
    assert state["epoch"] == 1


# ====================================================================== untrusted files
class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_file_never_runs_code(backend, tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"state": _RunsCode(str(marker))}, protocol=protocol))
    with raises(CheckpointError, f"{path} is not a valid anynn checkpoint"):
        anynn.load(path)
    with raises(CheckpointError, f"{path} is not a valid anynn checkpoint"):
        load_checkpoint(str(path), _mlp())
    assert not marker.exists()


def _checkpoint(tmp_path) -> tuple[str, bytes, dict]:
    path = tmp_path / "c.anynn"
    anynn.save({"model": {"w": anynn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))}, "epoch": 1}, path)
    blob = path.read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    return str(path), blob, json.loads(blob[8:8 + size])


def _with_header(blob: bytes, header) -> bytes:
    (size,) = struct.unpack("<Q", blob[:8])
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + blob[8 + size:]


def _edit(key, field, value):
    def change(header):
        header[key][field] = value
        return header

    return change


DAMAGE = {
    "empty file": lambda blob, header: b"",
    "cut in the size field": lambda blob, header: blob[:5],
    "cut in the header": lambda blob, header: blob[:40],
    "cut in the data": lambda blob, header: blob[:-4],
    "header size absurd": lambda blob, header: struct.pack("<Q", 2 ** 62) + blob[8:],
    "header bytes garbled": lambda blob, header: blob[:9] + b"\xff\xfe" + blob[11:],
    "header not an object": lambda blob, header: _with_header(blob, [1, 2]),
    "unknown dtype": lambda blob, header: _with_header(blob, _edit("model.w", "dtype", "Q7")(header)),
    "shape does not fit bytes": lambda blob, header: _with_header(blob, _edit("model.w", "shape", [5, 5])(header)),
    "negative shape": lambda blob, header: _with_header(blob, _edit("model.w", "shape", [-2, -3])(header)),
    "offsets reversed": lambda blob, header: _with_header(blob, _edit("model.w", "data_offsets", [16, 0])(header)),
    "entry not an object": lambda blob, header: _with_header(blob, {**header, "model.w": 5}),
    "structure not JSON": lambda blob, header: _with_header(blob, _edit("__metadata__", "skeleton", "{x")(header)),
    "structure names a missing tensor": lambda blob, header: _with_header(
        blob, _edit("__metadata__", "skeleton", '{"__tensor__": "nope"}')(header)),
    "random bytes": lambda blob, header: np.random.default_rng(0).bytes(300),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_checkpoint_is_a_checkpoint_error_naming_the_file(backend, tmp_path, damage):
    path, blob, header = _checkpoint(tmp_path)
    with open(path, "wb") as f:
        f.write(DAMAGE[damage](blob, header))
    with raises(CheckpointError, f"{path} is not a valid anynn checkpoint: "):
        anynn.load(path)


STRUCTURE_DAMAGE = {
    "dict record not a list": '{"__dict__": 5}',
    "dict entry not a pair": '{"__dict__": [[1]]}',
    "tuple record not a list": '{"__tuple__": 3}',
    "structure not a string": 5,
    "metadata not an object": None,
}


@pytest.mark.parametrize("damage", list(STRUCTURE_DAMAGE))
def test_damaged_structure_record_is_a_checkpoint_error(tmp_path, damage):
    path, blob, header = _checkpoint(tmp_path)
    if damage == "metadata not an object":
        header["__metadata__"] = "meta"
    else:
        header["__metadata__"]["skeleton"] = STRUCTURE_DAMAGE[damage]
    with open(path, "wb") as f:
        f.write(_with_header(blob, header))
    with raises(CheckpointError, f"{path} is not a valid anynn checkpoint"):
        anynn.load(path)


def test_corrupted_tensor_bytes_are_detected(tmp_path):
    path, blob, _ = _checkpoint(tmp_path)
    damaged = bytearray(blob)
    damaged[-3] ^= 0x40
    with open(path, "wb") as f:
        f.write(bytes(damaged))
    with raises(CheckpointError, f"{path} is not a valid anynn checkpoint", "model.w"):
        anynn.load(path)


class _Small(nn.Module):
    def __init__(self, hidden=16, extra=False):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.BatchNorm1d(hidden))
        self.head = nn.Linear(hidden, 3)
        if extra:
            self.aux = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.body(x))


def test_checkpoint_for_another_architecture_lists_exactly_the_bad_keys(backend, tmp_path):
    anynn.save(_Small(hidden=16, extra=True).state_dict(), tmp_path / "other.anynn")
    state = anynn.load(tmp_path / "other.anynn")
    model = _Small(hidden=12)
    with pytest.raises(StateDictError) as info:
        model.load_state_dict(state)
    lines = str(info.value).splitlines()
    assert lines[0] == "_Small.load_state_dict found a checkpoint that does not match the model:"
    assert lines[1] == "  unexpected keys (2): aux.weight, aux.bias"
    assert lines[2] == ("  shape mismatches (7): body.0.weight: checkpoint (16, 8) vs model (12, 8); body.0.bias: "
                        "checkpoint (16,) vs model (12,); body.2.weight: checkpoint (16,) vs model (12,); body.2.bias: "
                        "checkpoint (16,) vs model (12,); body.2.running_mean: checkpoint (16,) vs model (12,); "
                        "body.2.running_var: checkpoint (16,) vs model (12,); head.weight: checkpoint (3, 16) vs "
                        "model (3, 12)")
    assert lines[3] == "  load with strict=False to copy only the entries that match"
    assert len(lines) == 4


def test_missing_keys_are_listed_and_strict_false_loads_the_rest(backend, tmp_path):
    source = _Small(hidden=16)
    state = dict(source.state_dict())
    del state["head.bias"]
    state["head.weight"] = anynn.zeros(5, 5)
    state["stray"] = anynn.zeros(1)
    anynn.save(state, tmp_path / "partial.anynn")
    state = anynn.load(tmp_path / "partial.anynn")
    model = _Small(hidden=16)
    head_before = model.head.weight.numpy().copy(), model.head.bias.numpy().copy()
    with raises(StateDictError, "missing keys (1): head.bias", "unexpected keys (1): stray",
                "shape mismatches (1): head.weight: checkpoint (5, 5) vs model (3, 16)", "strict=False"):
        model.load_state_dict(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["head.bias"] and unexpected == ["stray"]
    for name in ("body.0.weight", "body.0.bias", "body.2.running_mean", "body.2.num_batches_tracked"):
        np.testing.assert_array_equal(model.state_dict()[name].numpy(), source.state_dict()[name].numpy(), name)
    np.testing.assert_array_equal(model.head.weight.numpy(), head_before[0], "a mis-shaped entry is skipped")
    np.testing.assert_array_equal(model.head.bias.numpy(), head_before[1], "a missing entry is left alone")


def test_resume_from_another_models_checkpoint_is_a_state_dict_error(backend, tmp_path):
    ckpt = tmp_path / "run.anynn"
    _train(1, checkpoint=str(ckpt))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    x, y = blobs(64)
    with raises(StateDictError, "Sequential.load_state_dict found a checkpoint that does not match the model",
                "missing keys (2): 2.weight, 2.bias", "unexpected keys (2): 3.weight, 3.bias",
                "shape mismatches (2): 0.weight: checkpoint (16, 8) vs model (32, 8); 0.bias: checkpoint (16,) vs "
                "model (32,)", "strict=False"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=8), anynn.optim.Adam(model.parameters(), lr=0.01), 2,
            checkpoint=str(ckpt), resume=True, progress=False, out=io.StringIO())


def test_resume_from_another_models_checkpoint_names_the_file(backend, tmp_path):
    ckpt = tmp_path / "run.anynn"
    _train(1, checkpoint=str(ckpt))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    with raises(StateDictError, str(ckpt), "missing keys (2): 2.weight, 2.bias"):
        load_checkpoint(str(ckpt), model)


def test_resume_from_a_plain_state_dict_file_says_what_it_is(backend, tmp_path):
    path = tmp_path / "weights.anynn"
    anynn.save(_mlp().state_dict(), path)
    with raises(CheckpointError, f"{path} is not a training checkpoint", "model.load_state_dict(anynn.load(path))"):
        load_checkpoint(str(path), _mlp())


def test_resume_with_another_optimizer_is_refused(backend, tmp_path):
    ckpt = tmp_path / "run.anynn"
    _train(1, checkpoint=str(ckpt))  # Adam
    model = _mlp()
    x, y = blobs(64)
    with raises(CheckpointError, f"{ckpt} holds the state of an optimizer of class Adam, not SGD",
                "resume with Adam"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=8),
            anynn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), 2, checkpoint=str(ckpt), resume=True,
            progress=False, out=io.StringIO())


# ====================================================================== damaged dataset files
def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


IDX_DAMAGE = {
    "gzip cut short": ("images", lambda gz, raw: gz[: len(gz) // 2], "not a complete gzip file"),
    "not gzip at all": ("labels", lambda gz, raw: b"<html>404 Not Found</html>", "not a complete gzip file"),
    "payload truncated": ("images", lambda gz, raw: gzip.compress(raw[:-100]), "truncated: the header says "
                                                                                "3x28x28 = 2352 bytes of data"),
    "header truncated": ("images", lambda gz, raw: gzip.compress(raw[:10]), "header truncated"),
    "labels file in place of images": ("images", lambda gz, raw: gzip.compress(_idx(np.zeros(3, np.uint8))),
                                       "magic number 0x00000801, expected 0x00000803"),
}


@pytest.mark.parametrize("damage", list(IDX_DAMAGE))
def test_damaged_mnist_file_is_named(backend, isolated, damage):
    which, corrupt, fragment = IDX_DAMAGE[damage]
    rng = np.random.default_rng(0)
    raw = {"images": _idx(rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)),
           "labels": _idx(rng.integers(0, 10, 3, dtype=np.uint8))}
    folder = isolated / "data" / "mnist"
    folder.mkdir(parents=True)
    for kind, data in raw.items():
        gz = gzip.compress(data)
        name = folder / f"train-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        name.write_bytes(corrupt(gz, data) if kind == which else gz)
    bad = folder / f"train-{which}-idx{3 if which == 'images' else 1}-ubyte.gz"
    with raises(IdxFormatError, f"{bad}: ", fragment):
        MNIST(root=isolated / "data", train=True, download=False)

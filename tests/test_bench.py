"""``anynn bench`` on a tiny configuration, exact FLOP counting, the memory probes, and the PyTorch twins that
the benchmark compares against (same outputs and gradients as the anynn model, in float64)."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.bench import count_forward_flops, image_shape, run_bench
from anynn.bench.memory import measure_peak
from anynn.models import get_model, resnet18
from helpers import F64, assert_close, torch_or_skip

MLP_FLOPS = 2 * (784 * 256 + 256 * 10)  # default mlp: Linear(784, 256) and Linear(256, 10) multiply-adds x 2


def _args(tmp_path, **overrides) -> argparse.Namespace:
    settings = dict(models="mlp", backends="numpy", compare_torch=True, epochs=1, batch_size=256, images=512,
                    json=str(tmp_path / "bench.json"))
    settings.update(overrides)
    return argparse.Namespace(**settings)


def _table(out: str) -> tuple[str, list[list[str]]]:
    """The printed table's header line and its rows split into cells."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = []
    for line in lines[start + 2:]:
        if not line or line.startswith(" "):
            break
        rows.append(line.split())
    return lines[start], rows


def test_run_bench_tiny_compares_with_torch(tmp_path, capsys):
    torch_or_skip()
    assert run_bench(_args(tmp_path)) == 0
    header, (row,) = _table(capsys.readouterr().out)
    for column in ("backend", "device", "s/epoch", "img/s", "infer ms/img", "GFLOP/s", "peak MB", "torch s/epoch",
                   "ratio"):
        assert column in header
    assert row[:3] == ["mlp", "numpy", "cpu"] and row[-1].endswith("x")

    payload = json.loads((tmp_path / "bench.json").read_text())
    assert payload["failures"] == [] and payload["settings"]["momentum"] == 0.9
    (r,) = payload["results"]
    assert (r["model"], r["backend"], r["images"], r["batch_size"], r["epochs"]) == ("mlp", "numpy", 512, 256, 1)
    assert r["forward_flops_per_image"] == MLP_FLOPS
    assert len(r["epoch_seconds"]) == 1 and len(r["torch_epoch_seconds"]) == 1
    assert r["seconds_per_epoch"] > 0 and r["torch_seconds_per_epoch"] > 0 and r["infer_ms_per_image"] > 0
    assert r["images_per_second"] == pytest.approx(512 / r["seconds_per_epoch"])
    assert r["gflops"] == pytest.approx(3 * MLP_FLOPS * r["images_per_second"] / 1e9)
    assert r["ratio"] == pytest.approx(r["seconds_per_epoch"] / r["torch_seconds_per_epoch"])
    # one Linear(784, 256) step at batch 256 needs at least its 256x256 activations and 784x256 weight gradient
    assert r["peak_mb"] * 2 ** 20 >= 4 * (256 * 256 + 784 * 256)
    assert r["torch_peak_mb"] is None and r["torch_memory_probe"].startswith("n/a")
    # same initial weights, data, batches and optimizer: after 4 float32 SGD steps the losses still agree
    assert np.isfinite(r["final_loss"]) and r["final_loss"] == pytest.approx(r["torch_final_loss"], rel=1e-4)


def test_run_bench_without_torch_comparison(tmp_path, capsys):
    assert run_bench(_args(tmp_path, compare_torch=False, images=300, json=None)) == 0
    _, (row,) = _table(capsys.readouterr().out)
    assert row[-2:] == ["-", "-"]


def test_strict_is_refused_with_a_message(tmp_path, capsys):
    assert run_bench(_args(tmp_path, backends="array_api_strict")) == 2
    assert "never benchmarked" in capsys.readouterr().out


def test_unknown_model_or_backend(tmp_path, capsys):
    assert run_bench(_args(tmp_path, models="no_such_model")) == 2
    assert run_bench(_args(tmp_path, backends="jax")) == 2
    out = capsys.readouterr().out
    assert "no_such_model" in out and "jax" in out


def test_image_shapes():
    assert image_shape("mlp") == image_shape("lenet5") == (1, 28, 28)
    assert image_shape("vgg_small") == image_shape("resnet18") == (3, 32, 32)


def test_both_runners_share_the_inference_batches_and_eval_mode():
    """anynn's run and its PyTorch twin time inference on the same leading batches (at most INFER_IMAGES images,
    at least one batch), in one eval-mode context that restores each sub-module's own flag on either library."""
    torch = torch_or_skip()
    from anynn.bench import AnynnRun, torch_run
    from anynn.bench.workload import INFER_IMAGES, eval_mode, infer_batches

    sizes = [4000, 4000, 4000]
    assert [x.shape[0] for x, _ in infer_batches([(np.empty((n, 0)), None) for n in sizes])] == [4000, 4000]
    assert len(infer_batches([(np.empty((INFER_IMAGES + 1, 0)), None)])) == 1

    run = AnynnRun("lenet5_bn", anynn.backends.backend_for("numpy"), images=20, batch_size=8)
    twin = torch_run(run, device="cpu")
    assert [x.shape[0] for x, _ in infer_batches(run.batches)] == [x.shape[0] for x, _ in infer_batches(twin.batches)]
    for model in (run.model, twin.model):
        list(model.modules())[1].eval()
        before = [m.training for m in model.modules()]
        assert before[0] and not before[1]
        with eval_mode(model):
            assert not any(m.training for m in model.modules())
        assert [m.training for m in model.modules()] == before
    assert isinstance(twin.model, torch.nn.Module)


def test_flop_count_is_exact(backend):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2, groups=2),
                          nn.Flatten(), nn.Linear(8 * 3 * 3, 10))
    model.eval()
    model[1].train()
    x = anynn.tensor(np.random.default_rng(0).standard_normal((5, 3, 8, 8)), dtype=anynn.float32)
    per_image = (4 * 8 * 8) * (3 * 3 * 3) + (8 * 3 * 3) * (2 * 3 * 3) + 10 * (8 * 3 * 3)
    assert count_forward_flops(model, x) == 2 * 5 * per_image
    assert all(not m._forward_hooks for m in model.modules())
    assert [m.training for m in model.modules()] == [False, False, True, False, False, False]


def test_peak_memory_probes():
    def work():
        block = np.ones(2 ** 20)  # 8 MiB
        return float(block.sum())

    assert measure_peak("numpy", "cpu", work) >= 8 * 2 ** 20
    torch_or_skip()
    assert measure_peak("torch", "cpu", work) is None
    with pytest.raises(ValueError, match="unknown array library"):
        measure_peak("jax", "cpu", work)


# ------------------------------------------------------------------ the torch twins
def _twin_case(name: str):
    if name == "resnet18_w8":
        return resnet18(width=8), (3, 32, 32)
    shape = image_shape(name)
    return get_model(name, in_channels=shape[0], image_size=shape[1], num_classes=10), shape


@pytest.mark.parametrize("name", ["lenet5", "lenet5_bn", "vgg_small", "resnet18_w8"])
def test_torch_twin_matches_anynn_in_float64(backend, name):
    torch = torch_or_skip()
    from anynn.bench.torch_twin import to_torch

    model, shape = _twin_case(name)
    model.double()
    twin = to_torch(model)
    assert set(twin.state_dict()) >= set(model.state_dict())
    rng = np.random.default_rng(1)
    host = rng.standard_normal((4,) + shape)
    grad = rng.standard_normal((4, 10))

    out = model(anynn.tensor(host, dtype=anynn.float64))
    (out * anynn.tensor(grad, dtype=anynn.float64)).sum().backward()
    expected = twin(torch.tensor(host))
    (expected * torch.tensor(grad)).sum().backward()
    assert_close(out, expected.detach().numpy(), **F64)
    twin_params = dict(twin.named_parameters())
    for key, p in model.named_parameters():
        assert_close(p.grad, twin_params[key].grad.numpy(), **F64)

    model.eval()
    twin.eval()
    with anynn.no_grad(), torch.no_grad():  # eval mode uses the running statistics both just updated
        assert_close(model(anynn.tensor(host, dtype=anynn.float64)), twin(torch.tensor(host)).numpy(), **F64)


def test_torch_twin_of_nin_in_eval_mode(backend):
    """NiN adds AvgPool2d (padding, stride) and Dropout; eval mode makes the dropout deterministic."""
    torch = torch_or_skip()
    from anynn.bench.torch_twin import to_torch

    model = get_model("nin", width=12).double().eval()
    twin = to_torch(model)
    assert not twin.training and isinstance(twin[14], torch.nn.AvgPool2d)
    host = np.random.default_rng(2).standard_normal((2, 3, 32, 32))
    with anynn.no_grad(), torch.no_grad():
        assert_close(model(anynn.tensor(host, dtype=anynn.float64)), twin(torch.tensor(host)).numpy(), **F64)


def test_to_torch_refuses_what_it_cannot_mirror():
    torch_or_skip()
    from anynn.bench.torch_twin import to_torch

    class Doubler(nn.Module):
        def forward(self, x):
            return x * 2

    class Scaled(nn.Linear):  # overrides forward: it would compute something other than torch.nn.Linear
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(TypeError, match="Doubler"):
        to_torch(nn.Sequential(nn.Linear(2, 2), Doubler()))
    with pytest.raises(TypeError, match="Scaled"):
        to_torch(Scaled(2, 2))

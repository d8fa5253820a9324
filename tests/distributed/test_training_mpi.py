"""``fit``/``evaluate`` and ``anynn train`` under ``mpiexec -n 2`` (loopback, subprocesses with timeouts).

Issue 14: only rank 0 prints and writes the checkpoint, which loads in one process; a 2-rank resume equals an
uninterrupted 2-rank run bit for bit; evaluation over unpadded shards equals one process over the whole set;
ranks draw different dropout masks; unequal batch counts and a NaN on one rank stop every rank with an error.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fashion = pytest.mark.skipif(not os.path.exists(FASHION) and not os.environ.get("ANYNN_DATA"),
                                   reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, "
                                          "or ANYNN_DATA)")


def test_evaluate_combines_unpadded_shards_once(mpirun):
    run = mpirun(2, "loop", "evaluate")
    assert run.returncode == 0, run.stderr
    r = run.result
    assert r["shard_sizes"] == [4, 3]  # 7 samples, none twice
    assert r["same_everywhere"]
    assert r["distributed"]["loss"] == pytest.approx(r["alone"]["loss"], rel=1e-12)
    assert r["distributed"]["acc"] == pytest.approx(r["alone"]["acc"], rel=1e-6)
    assert r["padded"]["loss"] != pytest.approx(r["alone"]["loss"], rel=1e-6)  # what pad=False avoids


def test_ranks_draw_different_dropout_masks(mpirun):
    run = mpirun(2, "loop", "dropout")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("epoch   1/1") == 1  # rank 0 alone prints
    assert run.result == {"masks_differ": True, "mask_rows": 2}


@pytest.mark.parametrize("mode, error", [("unequal", "ValueError"), ("nan", "NonFiniteLossError")])
def test_every_rank_stops_with_the_same_error(mpirun, mode, error):
    run = mpirun(2, "loop", mode)
    assert run.returncode == 0, run.stderr
    assert "finished without an error" not in run.stdout
    assert run.seconds < 30
    errors = run.result["errors"]
    assert len(errors) == 2 and errors[0] == errors[1], errors  # both ranks, the same message
    assert errors[0].startswith(error + ": "), errors
    if mode == "unequal":
        assert "different numbers of training batches in epoch 1 (rank 0: 2, rank 1: 3)" in errors[0]
    else:
        assert "became NaN/inf at step 2 (epoch 1)" in errors[0]  # rank 1's step, named on rank 0 too


def _train(mpirun, tmp_path, *extra, ranks=2, model="mlp"):
    shape = ["--dropout", "0.2"] if model == "mlp" else ["--sync-bn"]
    args = ["train", "--model", model, *shape, "--dataset", "fashion-mnist", "--limit", "1024", "--batch-size", "128",
            "--optimizer", "momentum", "--lr", "0.05", "--augment", "--no-progress", "--no-download", *extra]
    return mpirun(ranks, *args, module="anynn", cwd=str(tmp_path), dist_timeout=30)


@needs_fashion
@pytest.mark.parametrize("model", ["mlp", "lenet5_bn"])  # lenet5_bn: with --sync-bn; loads as plain BatchNorm
def test_train_prints_once_and_writes_one_checkpoint(mpirun, tmp_path, model):
    run = _train(mpirun, tmp_path, "--epochs", "1", "--checkpoint", "run.anynn", model=model)
    assert run.returncode == 0, run.stderr
    assert not run.leftover
    out = run.stdout
    assert out.count("anynn 0.") == 1 and "2 ranks (mpi): global batch 128 = 2 x 64" in out, out
    assert len(re.findall(r"^epoch +1/1", out, re.M)) == 1, out
    assert out.count("test accuracy") == 1, out
    assert sorted(os.listdir(tmp_path)) == ["run.anynn"]  # one file, no temporaries left
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    # one process (this one) rebuilds the model from the checkpoint and evaluates the whole test set
    import subprocess
    import sys
    single = subprocess.run([sys.executable, "-m", "anynn", "eval", "--checkpoint", str(tmp_path / "run.anynn"),
                             "--no-download"], capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    assert float(re.search(r"test accuracy ([\d.]+)%", single.stdout).group(1)) == pytest.approx(accuracy, abs=0.01)


@needs_fashion
def test_two_rank_resume_equals_an_uninterrupted_two_rank_run(mpirun, tmp_path):
    import anynn

    whole = _train(mpirun, tmp_path, "--epochs", "2", "--checkpoint", "whole.anynn")
    assert whole.returncode == 0, whole.stderr
    first = _train(mpirun, tmp_path, "--epochs", "1", "--checkpoint", "parts.anynn")
    assert first.returncode == 0, first.stderr
    resumed = _train(mpirun, tmp_path, "--epochs", "2", "--checkpoint", "parts.anynn", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("resumed from parts.anynn after epoch 1") == 1, resumed.stdout
    a, b = anynn.load(str(tmp_path / "whole.anynn")), anynn.load(str(tmp_path / "parts.anynn"))
    assert a["epoch"] == b["epoch"] == 2
    for name, tensor in a["model"].items():
        assert np.array_equal(tensor.numpy(), b["model"][name].numpy()), name  # bit-identical
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert [e[key] for e in a["history"]] == [e[key] for e in b["history"]], key


@needs_fashion
def test_a_batch_that_does_not_divide_by_the_ranks_is_a_usage_error(mpirun, tmp_path):
    run = mpirun(2, "train", "--model", "mlp", "--epochs", "1", "--limit", "256", "--batch-size", "129",
                 "--no-download", module="anynn", cwd=str(tmp_path))
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "--batch-size 129 is the global batch: it must divide by the 2 ranks" in run.stderr
    assert run.seconds < 30 and not run.leftover


def test_bench_ranks_reports_one_and_two_ranks(tmp_path):
    import json
    import subprocess
    import sys

    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install \".[mpi]\"")
    out = tmp_path / "ranks.json"
    result = subprocess.run([sys.executable, "-m", "anynn", "bench", "--ranks", "2", "--models", "mlp", "--images",
                             "1024", "--epochs", "1", "--repeats", "1", "--json", str(out)],
                            capture_output=True, text=True, timeout=180, start_new_session=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["results"]
    assert [(r["model"], r["ranks"], r["images"]) for r in rows] == [("mlp", 1, 1024), ("mlp", 2, 1024)]
    assert all(len(r["images_per_second"]) == 1 and r["images_per_second"][0] > 0 for r in rows)
    assert re.search(r"^mlp +numpy +2 +\d+ .* \d\.\d\dx$", result.stdout, re.M), result.stdout

"""The command line: info lists backends; train/eval run end to end on real Fashion-MNIST (small slice)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from anynn.cli import main

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def test_info_lists_every_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("numpy", "array_api_strict", "torch", "cupy"):
        assert re.search(rf"^\s+{name}\s+(available .+|unavailable: .+)$", out, re.M), out


def test_info_says_whether_the_numpy_kernels_run(capsys, monkeypatch):
    from anynn.backends import backend_for

    backend = backend_for("numpy")
    assert main(["info"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if "compiled kernels" in ln]
    assert len(line) == 1 and ("on (numba" in line[0]) == bool(backend.kernels), line
    monkeypatch.setattr(backend, "kernels", {})
    monkeypatch.setenv("ANYNN_NUMBA", "0")
    assert main(["info"]) == 0
    assert "compiled kernels off (ANYNN_NUMBA=0)" in capsys.readouterr().out


def test_python_dash_m_runs():
    result = subprocess.run([sys.executable, "-m", "anynn", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "bench" in result.stdout


@pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed (apt-get install "
                    "dataset-fashion-mnist)")
def test_train_then_eval_on_fashion_mnist(tmp_path, capsys):
    ckpt = str(tmp_path / "mlp.anynn")
    code = main(["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "1", "--limit", "2048",
                 "--batch-size", "128", "--optimizer", "momentum", "--lr", "0.05", "--no-progress",
                 "--checkpoint", ckpt, "--no-download"])
    assert code == 0
    out = capsys.readouterr().out
    trained = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert trained > 60.0, out
    assert re.search(r"[\d.]+ s/epoch", out)
    assert main(["eval", "--model", "mlp", "--checkpoint", ckpt, "--no-download"]) == 0
    evaluated = float(re.search(r"test accuracy ([\d.]+)%", capsys.readouterr().out).group(1))
    assert evaluated == pytest.approx(trained, abs=0.01)

"""Every script in examples/ runs end to end with its tiniest settings and prints its result line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fashion = pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed at "
                                   "/usr/share/datasets/fashion-mnist (the examples would download it)")
TINY = ["--limit", "512", "--epochs", "1", "--batch-size", "32", "--backend", "numpy"]
ACCURACY = r"test accuracy (\d+\.\d+)%"


def run(script: str, *args: str, cwd: Path) -> str:
    """Run examples/<script> in a fresh interpreter; return its stdout after checking it exited 0."""
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def accuracy(out: str) -> float:
    found = re.findall(ACCURACY, out)
    assert found, f"no 'test accuracy N%' line in:\n{out}"
    value = float(found[-1])
    assert 0.0 <= value <= 100.0
    return value


@needs_fashion
@pytest.mark.parametrize("script", ["softmax_classifier.py", "linear_svm.py", "mlp.py", "lenet.py"])
def test_classifier_scripts(script, tmp_path):
    plot = tmp_path / "curves.png"
    out = run(script, *TINY, "--plot", str(plot), cwd=tmp_path)
    assert accuracy(out) > 20.0, out  # 16 steps on 512 images already beat chance (10%)
    assert plot.stat().st_size > 0


@needs_fashion
def test_lenet_with_batch_norm_and_augmentation(tmp_path):
    accuracy(run("lenet.py", *TINY, "--batch-norm", "--augment", cwd=tmp_path))


@needs_fashion
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_rows(cell, tmp_path):
    out = run("rnn_rows.py", "--limit", "256", "--epochs", "1", "--hidden", "32", "--cell", cell, cwd=tmp_path)
    assert re.search(rf"{cell.upper()} {ACCURACY}", out), out


@needs_fashion
def test_knn(tmp_path):
    out = run("knn.py", "--limit", "1000", "--ks", "1,3,5", cwd=tmp_path)
    assert re.search(r"validation accuracy: k=1 [\d.]+%  k=3 [\d.]+%  k=5 [\d.]+%", out), out
    assert re.search(rf"k=[135]: {ACCURACY}", out), out
    assert accuracy(out) > 60.0, out  # 1000 references are plenty for a clearly-better-than-chance kNN


@needs_fashion
def test_compare_optimizers(tmp_path):
    plot = tmp_path / "optimizers.png"
    out = run("compare_optimizers.py", *TINY, "--plot", str(plot), cwd=tmp_path)
    for name in ("sgd", "momentum", "nesterov", "adam"):
        assert re.search(rf"^{name} +final training loss \d+\.\d+  {ACCURACY}", out, re.M), out
    assert plot.stat().st_size > 0


@needs_fashion
def test_compare_activations(tmp_path):
    plot = tmp_path / "activations.png"
    out = run("compare_activations.py", *TINY, "--hidden", "32,32,32,32", "--plot", str(plot), cwd=tmp_path)
    for name in ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"):
        assert re.search(rf"^{name} +first-layer grad [\d.e+-]+  final training loss \d+\.\d+  {ACCURACY}", out,
                         re.M), out
    assert plot.stat().st_size > 0


def test_cifar10_synthetic(tmp_path):
    plot = tmp_path / "cifar.png"
    out = run("cifar10.py", "--synthetic", "--limit", "128", "--epochs", "1", "--batch-size", "32",
              "--backend", "numpy", "--plot", str(plot), cwd=tmp_path)
    assert "CIFAR-10 (synthetic): 128 training and 128 test images" in out, out
    assert re.search(rf"vgg_small {ACCURACY}", out), out
    assert plot.stat().st_size > 0


@pytest.mark.parametrize("cell, sampling, embed", [("gru", "sequential", "0"), ("lstm", "random", "8"),
                                                   ("rnn", "sequential", "0")])
def test_char_lm(cell, sampling, embed, tmp_path):
    out = run("char_lm.py", "--limit", "6000", "--epochs", "2", "--hidden", "32", "--num-steps", "10", "--cell", cell,
              "--sampling", sampling, "--embed", embed, "--generate", "20", "--backend", "numpy", cwd=tmp_path)
    assert "vocabulary 27" in out, out
    ppl = [(float(a), float(b)) for a, b in re.findall(r"perplexity train ([\d.]+), held-out ([\d.]+)", out)]
    assert len(ppl) == 2, out
    assert ppl[1][0] < ppl[0][0] < 27.0  # below a uniform guess over 27 characters, and falling
    generated = re.search(r"generated: '(.*)'", out).group(1)
    assert generated.startswith("the function ") and len(generated) == len("the function ") + 20


def test_kfold_regression(tmp_path):
    out = run("kfold_regression.py", "--folds", "3", "--epochs", "30", "--backend", "numpy", cwd=tmp_path)
    assert "diabetes (scikit-learn): 442 samples, 10 features; 3-fold cross-validation" in out, out
    folds = re.findall(r"fold \d: train log rmse ([\d.]+), valid log rmse ([\d.]+)", out)
    assert len(folds) == 3, out
    average = re.search(r"avg train log rmse ([\d.]+), avg valid log rmse ([\d.]+)", out)
    assert abs(float(average.group(2)) - np.mean([float(v) for _, v in folds])) < 1e-3
    assert float(average.group(2)) < 0.5  # predicting the mean progression everywhere scores 0.576

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
    assert len(line) == 1 and ("on (numba" in line[0]) == (backend.compiler == "numba"), line
    monkeypatch.setattr(backend, "compiler", None)
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


# ------------------------------------------------------------------ issue 16: a CLI that speaks like a tool
def _cli_error(capsys, argv) -> tuple[int, str]:
    """Exit status and stderr of a command that fails (argparse errors exit via SystemExit)."""
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "-1"], "argument --epochs: expected a positive integer (1 or more), got -1"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer (1 or more), got 0"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer (1 or more), got 0"),
    (["--lr", "-0.1"], "argument --lr: expected a positive number, got -0.1"),
    (["--lr", "nan"], "argument --lr: expected a positive number, got 'nan'"),
    (["--lr", "fast"], "argument --lr: expected a positive number, got 'fast'"),
    (["--limit", "-5"], "argument --limit: expected a positive integer (1 or more), got -5"),
    (["--hidden", "256,,x"], "argument --hidden: expected positive integer widths separated by commas"),
    (["--hidden", "0"], "argument --hidden: expected positive integer widths separated by commas"),
    (["--warmup", "-1"], "argument --warmup: expected an integer >= 0, got -1"),
    (["--momentum", "1.5"], "argument --momentum: expected a number in [0, 1), got 1.5"),
    (["--weight-decay=-1e-4"], "argument --weight-decay: expected a number >= 0, got -1e-4"),
    (["--dropout", "1"], "argument --dropout: expected a number in [0, 1), got 1"),
    (["--label-smoothing", "2"], "argument --label-smoothing: expected a number in [0, 1], got 2"),
    (["--clip-grad-norm", "0"], "argument --clip-grad-norm: expected a positive number, got 0"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["--model", "lenet7"], "argument --model: invalid choice: 'lenet7'"),
    (["--warmup", "20", "--epochs", "10"], "--warmup 20 is longer than --epochs 10"),
    (["--resume"], "--resume needs --checkpoint PATH"),
    (["--model", "lenet5", "--hidden", "128"], "--hidden and --dropout shape the mlp only, not lenet5"),
])
def test_train_numbers_are_validated(capsys, argv, message):
    """Before: `anynn train --epochs -1` trained nothing, printed `nan s/epoch` and exited 0."""
    status, err = _cli_error(capsys, ["train", *argv, "--no-download", "--data-root", "/nonexistent"])
    assert status == 2 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv,message", [
    (["bench", "--epochs", "0"], "argument --epochs: expected a positive integer"),
    (["bench", "--images", "-3"], "argument --images: expected a positive integer"),
    (["bench", "--models", "mlp,nope"], "argument --models: unknown model nope"),
    (["eval", "--checkpoint", "x", "--batch-size", "-1"], "argument --batch-size: expected a positive integer"),
])
def test_other_commands_validate_numbers(capsys, argv, message):
    status, err = _cli_error(capsys, argv)
    assert status == 2 and message in err, err


def test_user_errors_print_the_message_alone_and_exit_2(capsys, tmp_path):
    """Before: a Python traceback for an unknown backend, a missing or damaged checkpoint."""
    status, err = _cli_error(capsys, ["train", "--backend", "nope"])
    assert status == 2 and "Traceback" not in err
    assert err.startswith("anynn train: error: unknown backend 'nope'; choose one of numpy"), err
    assert "(run with --debug or ANYNN_DEBUG=1 for the traceback)" in err
    status, err = _cli_error(capsys, ["eval", "--checkpoint", str(tmp_path / "missing.anynn")])
    assert status == 2 and err == f"anynn eval: error: checkpoint {tmp_path / 'missing.anynn'} does not exist\n"
    bad = tmp_path / "bad.anynn"
    bad.write_bytes(b"not a checkpoint at all")
    status, err = _cli_error(capsys, ["eval", "--checkpoint", str(bad)])
    assert status == 2 and f"anynn eval: error: {bad} is not a valid anynn checkpoint" in err
    assert "Traceback" not in err


def test_debug_flag_and_environment_print_the_traceback(capsys, monkeypatch):
    status, err = _cli_error(capsys, ["train", "--backend", "nope", "--debug"])
    assert status == 2 and "Traceback (most recent call last)" in err and "unknown backend 'nope'" in err
    monkeypatch.setenv("ANYNN_DEBUG", "1")
    status, err = _cli_error(capsys, ["train", "--backend", "nope"])
    assert status == 2 and "Traceback (most recent call last)" in err


def test_runtime_failures_exit_1(capsys, monkeypatch):
    import anynn.cli as cli

    def diverge(args):
        raise FloatingPointError("the training loss became NaN/inf at step 2 (epoch 1); training stopped")

    monkeypatch.setattr(cli, "cmd_info", diverge)
    status, err = _cli_error(capsys, ["info"])
    assert status == 1 and err.startswith("anynn info: error: the training loss became NaN/inf at step 2")

    def bug(args):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(cli, "cmd_info", bug)
    status, err = _cli_error(capsys, ["info"])
    assert status == 1 and "AttributeError: 'NoneType' object has no attribute 'shape'" in err
    assert "this looks like a bug in anynn" in err and "Traceback" not in err


def test_help_shows_defaults_and_every_option_is_explained(capsys):
    import argparse

    from anynn.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert issubclass(sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter)
        for action in sub._actions:
            assert action.help and action.help.strip(), f"anynn {name} {action.option_strings} has no help text"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("--epochs EPOCHS epochs to train (with --resume: in total) (default: 10)", "(default: lenet5)",
                  "--lr LR learning rate (default: 0.1)", "(default: 256)", "(default: sgd)"):
        assert shown in text, shown


def test_progress_bars_only_on_a_terminal():
    import io

    from anynn.cli import should_show_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert should_show_progress(io.StringIO(), None) is False  # a redirected log
    assert should_show_progress(Terminal(), None) is True
    assert should_show_progress(io.StringIO(), True) is True  # --progress
    assert should_show_progress(Terminal(), False) is False  # --no-progress
    assert should_show_progress(object(), None) is False  # no isatty at all


needs_fashion = pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed "
                                   "(apt-get install dataset-fashion-mnist)")


@needs_fashion
def test_train_writes_no_progress_bar_into_a_redirected_log(capsys):
    code = main(["train", "--model", "softmax_regression", "--epochs", "1", "--limit", "256", "--no-download"])
    captured = capsys.readouterr()
    assert code == 0 and "batch/s" not in captured.err and "it/s" not in captured.err, captured.err


@needs_fashion
def test_eval_rebuilds_the_model_from_the_checkpoint(tmp_path, capsys):
    """Before: eval built lenet5 whatever the checkpoint held, so an mlp with other widths (or the README's
    lenet5_bn checkpoint) failed with a StateDictError."""
    ckpt = str(tmp_path / "mlp.anynn")
    assert main(["train", "--model", "mlp", "--hidden", "32,16", "--epochs", "1", "--limit", "512",
                 "--batch-size", "128", "--checkpoint", ckpt, "--no-download", "--dtype", "float64"]) == 0
    trained = float(re.search(r"test accuracy ([\d.]+)%", capsys.readouterr().out).group(1))
    assert main(["eval", "--checkpoint", ckpt, "--no-download"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"mlp from {ckpt} on fashion-mnist: test accuracy"), out
    assert float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) == pytest.approx(trained, abs=0.01)
    status, err = _cli_error(capsys, ["eval", "--model", "lenet5", "--checkpoint", ckpt])
    assert status == 2 and (f"anynn eval: error: {ckpt} holds a mlp model (mlp(in_channels=1, image_size=28, "
                            "num_classes=10, hidden=(32, 16), dropout=0.0)), not lenet5: leave out --model") in err
    status, err = _cli_error(capsys, ["eval", "--checkpoint", ckpt, "--dataset", "cifar10"])
    assert status == 2 and "holds a model for 1x28x28 images and 10 classes, but cifar10 has 3x32x32" in err


@needs_fashion
def test_readme_eval_example_on_the_readme_checkpoint(tmp_path, capsys):
    """ci/train.sh writes runs/lenet5_bn.anynn; `anynn eval --checkpoint runs/lenet5_bn.anynn` evaluates it."""
    ckpt = str(tmp_path / "runs" / "lenet5_bn.anynn")
    assert main(["train", "--model", "lenet5_bn", "--epochs", "1", "--limit", "256", "--batch-size", "128",
                 "--optimizer", "momentum", "--lr", "0.05", "--schedule", "cosine", "--checkpoint", ckpt,
                 "--no-download"]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", ckpt, "--no-download"]) == 0
    assert capsys.readouterr().out.startswith(f"lenet5_bn from {ckpt} on fashion-mnist: test accuracy")


@needs_fashion
def test_eval_of_a_checkpoint_without_a_record_asks_for_the_model(tmp_path, capsys):
    from anynn.models import get_model
    from anynn.training import save_checkpoint

    model = get_model("softmax_regression")
    model.__dict__.pop("model_record")  # as written before checkpoints recorded their model
    ckpt = str(tmp_path / "old.anynn")
    save_checkpoint(ckpt, model)
    status, err = _cli_error(capsys, ["eval", "--checkpoint", ckpt])
    assert status == 2 and "does not say which model it holds" in err and "--model NAME" in err
    assert main(["eval", "--model", "softmax_regression", "--checkpoint", ckpt, "--no-download"]) == 0

"""docs/results/regenerate.sh, the one script behind every figure in the README's Results and Performance
sections, runs: its quick mode (tiny sizes, into a temporary folder) for the targets that need no dataset."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "docs", "results", "regenerate.sh")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_quick_regeneration_writes_the_logs(tmp_path):
    env = dict(os.environ, OUT_DIR=str(tmp_path), PYTHON=sys.executable)
    done = subprocess.run(["bash", SCRIPT, "--quick", "bench_small", "counts", "overhead"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratio" in (tmp_path / "bench_small.log").read_text()
    counts = (tmp_path / "counts.log").read_text()
    assert "resnet18   cupy" in counts and "torch ops" in counts
    assert "median ratio anynn/torch" in (tmp_path / "overhead.log").read_text()


def test_unknown_target_is_refused(tmp_path):
    env = dict(os.environ, OUT_DIR=str(tmp_path), PYTHON=sys.executable)
    done = subprocess.run(["bash", SCRIPT, "--quick", "no_such_target"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "FAILED" in done.stdout
    assert "unknown target no_such_target" in (tmp_path / "no_such_target.log").read_text()

"""benchmarks/gpu_check.sh, the one command run on a GPU loan, works: its dry run (every step on numpy, tiny
sizes, a 110 s budget) writes the environment, test log, bench JSON and summary; a failing step is recorded
and the others still run; the overall budget is kept; missing packages install from the carried wheels."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")
STEPS = ["env", "wheels", "bench_cupy", "cuda_graphs", "cudnn", "counts", "tests", "bench_numpy"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def _run(out, *args, **env) -> tuple[subprocess.CompletedProcess, float]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ANYNN_", "GPU_CHECK"))}
    environment.update(OUT=str(out), PYTHON=sys.executable, **env)
    began = time.perf_counter()
    done = subprocess.run(["bash", SCRIPT, *args], env=environment, capture_output=True, text=True, timeout=180)
    return done, time.perf_counter() - began


def _steps(out) -> dict[str, list[str]]:
    with open(os.path.join(out, "steps.tsv")) as handle:
        return {row[0]: row[1:] for row in (line.rstrip("\n").split("\t") for line in handle)}


def test_dry_run_writes_every_artefact(tmp_path):
    done, seconds = _run(tmp_path, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds < 150, f"the dry run took {seconds:.0f} s (budget 110 s)"
    steps = _steps(tmp_path)
    assert list(steps) == STEPS and all(rc == "0" for rc, *_ in steps.values()), steps
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["versions"]["numpy"][0].isdigit() and "gpu" in env and "anynn_available_backends" in env
    env_txt = (tmp_path / "env.txt").read_text()
    assert "nvidia-smi" in env_txt or "NVIDIA-SMI" in env_txt  # its output, or that it is absent
    assert "numpy:" in env_txt and "cupy:" in env_txt and "torch:" in env_txt
    for label in ("cupy", "numpy"):  # in a dry run numpy stands in for cupy
        bench = json.loads((tmp_path / f"bench_{label}_mlp.json").read_text())
        assert [(r["model"], r["backend"]) for r in bench["results"]] == [("mlp", "numpy")]
        assert bench["failures"] == []
    compared = json.loads((tmp_path / "bench_cupy_mlp.json").read_text())["results"][0]
    assert compared["torch_device"] == "cpu" and compared["torch_seconds_per_epoch"] > 0, "--compare-torch ran"
    counts = json.loads((tmp_path / "counts.json").read_text())["counts"]
    assert [(c["model"], c["mirrors"]) for c in counts] == [("mlp", "cupy"), ("mlp", "numpy")]
    assert counts[0]["launches"] > 0 and counts[0]["syncs"] == 0 and counts[0]["torch_ops"] > 0
    assert " passed" in (tmp_path / "tests.log").read_text() and (tmp_path / "tests.xml").exists()
    summary = (tmp_path / "summary.txt").read_text()
    assert summary.count(" ok ") == len(STEPS) and "mlp on numpy" in summary
    assert "gpu_check: done in" in (tmp_path / "gpu_check.log").read_text()


def test_a_failing_step_is_recorded_and_the_others_still_run(tmp_path):
    done, _ = _run(tmp_path, "--dry-run", GPU_CHECK_MODELS="no_such_model")
    assert done.returncode == 1
    steps = _steps(tmp_path)
    assert list(steps) == STEPS
    assert steps["bench_cupy"][0] == "2" and steps["bench_numpy"][0] == "2"  # anynn bench: unknown model
    assert steps["counts"][0] == "2"
    assert steps["tests"][0] == "0" and steps["env"][0] == "0"
    assert "unknown model" in (tmp_path / "bench_cupy.log").read_text()
    assert "FAILED (rc 2)" in (tmp_path / "summary.txt").read_text()


def test_the_overall_budget_is_kept(tmp_path):
    done, seconds = _run(tmp_path, "--dry-run", GPU_CHECK_BUDGET="12")
    steps = _steps(tmp_path)
    assert list(steps) == STEPS and "skipped" in [rc for rc, *_ in steps.values()], steps
    assert seconds < 12 + 15, f"{seconds:.0f} s for a 12 s budget"
    assert "summary" not in steps and (tmp_path / "summary.txt").exists()
    assert done.returncode in (0, 1)


def _python_without_array_api_compat() -> str | None:
    for candidate in ("python3", "/usr/bin/python3"):
        path = shutil.which(candidate)
        if path and subprocess.run([path, "-c", "import array_api_compat"], capture_output=True).returncode != 0 \
                and subprocess.run([path, "-m", "pip", "--version"], capture_output=True).returncode == 0:
            return path
    return None


def test_missing_packages_install_from_the_carried_wheels_without_network(tmp_path):
    if not glob.glob(os.path.join(ROOT, "benchmarks", "wheels", "*.whl")):
        pytest.skip("no wheels in benchmarks/wheels (bash benchmarks/fetch_gpu_wheels.sh puts them there)")
    python = _python_without_array_api_compat()
    if python is None:
        pytest.skip("no Python with pip but without array-api-compat on this machine to install into")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ANYNN_", "GPU_CHECK", "PYTHONPATH"))}
    environment.update(OUT=str(tmp_path), PYTHON=python, TMPDIR=str(tmp_path), PIP_NO_INDEX="1")
    done = subprocess.run(["bash", SCRIPT, "--step", "wheels"], env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed into" in done.stdout
    assert (tmp_path / "anynn_gpu_check_site" / "array_api_compat").is_dir()

"""Run ``python -m anynn.distributed._check <case>`` under ``mpiexec`` in a subprocess with a timeout.

pytest itself stays one ordinary process: a hang fails the test (the whole process group is killed), it
never hangs CI. Loopback only (``HYDRA_IFACE=lo`` for MPICH's Hydra; shared memory for Open MPI). Skips,
saying why, where mpi4py or mpiexec is missing (``pip install ".[mpi]"`` installs both).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HARD_TIMEOUT = 120  # seconds for one mpiexec run: past it the test fails and every process of the run is killed


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    leftover: bool  # some process of the run was still alive after mpiexec returned

    @property
    def result(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.startswith("RESULT ")]
        assert len(lines) == 1, f"expected one RESULT line from rank 0:\n{self.stdout}\n{self.stderr}"
        return json.loads(lines[0][len("RESULT "):])


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def mpirun():
    """``mpirun(ranks, *case_args, dist_timeout=10, module="anynn.distributed._check", cwd=None)`` -> Run
    (``module="anynn"``: the command line, e.g. ``mpirun(2, "train", ..., module="anynn")``)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed: pip install \".[mpi]\" (mpi4py and the MPICH wheel) to run the "
                    "distributed tests")
    launcher = _mpiexec()
    if launcher is None:
        pytest.skip("no mpiexec beside the interpreter or on PATH: pip install \".[mpi]\" (the mpich wheel)")
    version = subprocess.run([launcher, "--version"], capture_output=True, text=True, timeout=30).stdout
    open_mpi = "Open MPI" in version or "OpenRTE" in version

    def run(ranks: int, *case: str, dist_timeout: float = 10, module: str = "anynn.distributed._check",
            cwd: str | None = None) -> Run:
        command = [launcher, "-n", str(ranks)]
        if open_mpi:
            command += ["--oversubscribe", "--allow-run-as-root", "--mca", "btl", "self,sm"]
        command += [sys.executable, "-m", module, *map(str, case)]
        env = dict(os.environ, HYDRA_IFACE="lo", UCX_NET_DEVICES="lo", ANYNN_DIST_TIMEOUT=str(dist_timeout),
                   ANYNN_BACKEND="numpy", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                   PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        env.pop("ANYNN_DEVICE", None)
        began = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   start_new_session=True, cwd=cwd)
        try:
            stdout, stderr = process.communicate(timeout=HARD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{' '.join(command)} hung: killed after {HARD_TIMEOUT} s\n{stdout}\n{stderr}")
        seconds = time.monotonic() - began
        deadline = time.monotonic() + 3
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        leftover = _group_alive(process.pid)
        if leftover:
            os.killpg(process.pid, signal.SIGKILL)
        return Run(process.returncode, stdout, stderr, seconds, leftover)

    return run

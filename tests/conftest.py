"""One suite for every backend: the ``backend`` fixture runs a test once per available backend.

``ANYNN_TEST_BACKENDS=numpy,torch`` narrows the set; a backend that cannot run here is reported as skipped
with the reason (e.g. CuPy without a GPU), never silently passed.
"""
from __future__ import annotations

import os
import sys
from collections import Counter

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import anynn  # noqa: E402
from anynn import backends as B  # noqa: E402


def _selected() -> list[str]:
    wanted = os.environ.get("ANYNN_TEST_BACKENDS")
    if not wanted:
        return list(B.NAMES)
    return [B.canonical_name(name.strip()) for name in wanted.split(",") if name.strip()]


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _selected(), indirect=True)


@pytest.fixture
def backend(request):
    """Make ``request.param`` the current backend, seeded, for one test; skip with the reason if unavailable."""
    reason = B.why_unavailable(request.param)
    if reason is not None:
        pytest.skip(f"backend {request.param} unavailable: {reason}")
    with anynn.use_backend(request.param) as b:
        anynn.manual_seed(0)
        yield b


@pytest.fixture(autouse=True)
def _fixed_oracle_seed():
    """Seed PyTorch's global generator before every test, so the weights torch modules draw (and so each
    comparison) do not depend on which tests ran before."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)


try:  # the same examples on every run: a CI result must not depend on the day's random draw
    from hypothesis import settings

    settings.register_profile("anynn", derandomize=True, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "anynn"))
except ImportError:
    pass


_counts: dict[str, Counter] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = "no backend"
        callspec = getattr(report, "nodeid", "")
        for b in B.NAMES:
            if f"[{b}" in callspec or f"-{b}]" in callspec or f"-{b}-" in callspec:
                name = b
                break
        _counts.setdefault(name, Counter())[report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _counts:
        return
    terminalreporter.section("results per backend")
    for name in sorted(_counts):
        c = _counts[name]
        terminalreporter.write_line(f"{name:>18}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    for name in _selected():
        reason = B.why_unavailable(name)
        if reason is not None:
            terminalreporter.write_line(f"{name} was skipped: {reason}")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No user cache, no ANYNN_DATA, an empty system folder: only the dataset files a test writes are found."""
    from anynn.datasets import root

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(root.DATA_ENV, raising=False)
    monkeypatch.setattr(root, "SYSTEM_DIR", str(tmp_path / "system"))
    return tmp_path

"""PyTorch compatibility suite: tutorial programs run unchanged with ``import anynn as torch``.

Each file in ``programs/`` is a short program from PyTorch's tutorials, pytorch/examples or D2L (its source
is named at its top) written as ``def main(torch) -> dict``: the program text keeps its ``torch.`` names and
receives either the real ``torch`` module or ``anynn``. Both runs see the same seeded NumPy data and start
from the same weights, and must return the same numbers within float32 tolerances.

A program that does not run on anynn yet stays in the suite: it is listed in ``KNOWN_GAPS`` with the error it
still raises, and its test checks that it *still fails that way*, so a fix makes the test fail until the
entry is removed. ``test_pass_rate_at_least_the_readme`` holds the rate stated in ``README.md`` (this folder).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import random
import re
import sys
import warnings

import numpy as np
import pytest

import anynn
from anynn import backends as B

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM_DIR = os.path.join(HERE, "programs")
README = os.path.join(HERE, "README.md")
sys.path.insert(0, PROGRAM_DIR)

PROGRAMS = sorted(name[:-3] for name in os.listdir(PROGRAM_DIR) if name.endswith(".py") and not name.startswith("_"))

RTOL, ATOL = 1e-4, 1e-5

# Programs that do not run on anynn yet: "program" (every backend) or "program@backend" -> a piece of the
# error the program raises now ("ExceptionType: message"), naming the missing feature.
KNOWN_GAPS: dict[str, str] = {
    "introyt_tensors": "has no attribute 'svd'",
    "introyt_autograd": "has no attribute 'profiler'",
}


def known_gap(name: str, backend: str) -> str | None:
    return KNOWN_GAPS.get(f"{name}@{backend}", KNOWN_GAPS.get(name))


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"torch_compat_{name}", os.path.join(PROGRAM_DIR, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, framework) -> dict:
    """Run one program with ``framework`` (``torch`` or ``anynn``) from fixed seeds."""
    random.seed(0)
    np.random.seed(0)
    framework.manual_seed(0)
    return load(name).main(framework)


@functools.lru_cache(maxsize=None)
def reference_run(name: str) -> tuple[dict, frozenset[str]]:
    """The program's results with real PyTorch, and the warnings PyTorch gave (computed once per session)."""
    torch = pytest.importorskip("torch")
    try:
        with warnings.catch_warnings(record=True) as caught, single_threaded_torch():
            warnings.simplefilter("always")
            result = run(name, torch)
    finally:
        torch.set_default_device(None)
    return result, frozenset(f"{w.category.__name__}: {w.message}" for w in caught)


def reference(name: str) -> dict:
    return reference_run(name)[0]


@contextlib.contextmanager
def single_threaded_torch():
    """Run PyTorch (the reference, and anynn's torch backend) on one thread, then restore the setting: these
    programs are small, and on a shared machine more threads only wait for each other (d2l_batch_norm on the
    torch backend took 50 s with 2 threads and 4 s with 1 on this project's loaded 2-core machine)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def numbers(value) -> np.ndarray | None:
    """``value`` as a NumPy array if it is a number or a regular nest of numbers, else None."""
    try:
        array = np.asarray(value)
    except ValueError:
        return None
    return array if array.dtype.kind in "biuf" else None


def assert_same(expected, got, tolerance: dict, where: str = "result") -> None:
    """``got`` equals ``expected``: the same keys and structure, equal ints/bools/strings, floats within the
    program's tolerance (float32 by default)."""
    if isinstance(expected, dict):
        keys = sorted(got) if isinstance(got, dict) else got
        assert keys == sorted(expected), f"{where}: keys differ from PyTorch's: {sorted(expected)} vs {keys!r}"
        for key in expected:
            assert_same(expected[key], got[key], tolerance, f"{where}[{key!r}]")
        return
    if isinstance(expected, (bool, str, type(None))):
        assert type(got) is type(expected) and got == expected, f"{where}: PyTorch gave {expected!r}, anynn {got!r}"
        return
    if isinstance(expected, (list, tuple)) and numbers(expected) is None:
        assert isinstance(got, (list, tuple)) and len(got) == len(expected), \
            f"{where}: PyTorch gave {len(expected)} items, anynn {got!r}"
        for i, (e, g) in enumerate(zip(expected, got)):
            assert_same(e, g, tolerance, f"{where}[{i}]")
        return
    want, have = np.asarray(expected), numbers(got)
    assert have is not None, f"{where}: PyTorch gave numbers, anynn {got!r}"
    assert want.shape == have.shape, f"{where}: PyTorch gave shape {want.shape}, anynn {have.shape}"
    if want.dtype.kind in "biu":
        assert np.array_equal(want, have), f"{where}: PyTorch gave {expected!r}, anynn {got!r}"
        return
    rtol, atol = tolerance.get(where, (RTOL, ATOL))
    np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=f"{where} differs from PyTorch's")


def check(name: str) -> None:
    """Run ``name`` on anynn (the current backend) and compare with real PyTorch: the same numbers, and no
    warning that PyTorch does not give for the same code (PyTorch's own warnings about a tutorial's code, such
    as a 2-D input to Dropout2d or float() of a tensor that requires grad, are allowed when anynn repeats them)."""
    expected, allowed = reference_run(name)
    with warnings.catch_warnings(record=True) as caught, single_threaded_torch():
        warnings.simplefilter("always")
        got = run(name, anynn)
    extra = sorted({f"{w.category.__name__}: {w.message}" for w in caught} - allowed)
    assert not extra, f"anynn warned where PyTorch does not: {extra[0]}"
    tolerance = {f"result[{key!r}]": value for key, value in getattr(load(name), "TOLERANCE", {}).items()}
    assert_same(expected, got, tolerance)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("name", PROGRAMS)
def test_program(name, backend):
    gap = known_gap(name, backend.name)
    if gap is None:
        check(name)
        return
    try:
        check(name)
    except Exception as error:  # noqa: BLE001 - a known gap is any error that still names the missing feature
        assert gap in describe(error), (f"{name} on {backend.name} now fails differently: {describe(error)[:500]}; "
                                        f"update its KNOWN_GAPS entry (was {gap!r})")
    else:
        pytest.fail(f"{name} now runs on {backend.name} and matches PyTorch: remove its KNOWN_GAPS entry "
                    f"({gap!r}) and raise the pass rate in {README}")


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_runs_with_pytorch(name):
    """The reference itself: every program runs with real PyTorch and returns numbers."""
    result = reference(name)
    assert isinstance(result, dict) and result, f"{name}.main(torch) must return a non-empty dict"


def source(name: str) -> str:
    """The first URL after ``Source:`` in the program's docstring, as a markdown link."""
    with open(os.path.join(PROGRAM_DIR, f"{name}.py"), encoding="utf-8") as f:
        text = f.read(2000)
    url = text.split("Source:", 1)[1].split()[0].rstrip(",")
    return f"[{url.split('//', 1)[1].split('/', 1)[0]}]({url})"


README_BACKENDS = ("numpy", "array_api_strict", "torch")


def readme_tables() -> str:
    """The pass-rate table and the per-program table, both from KNOWN_GAPS (which the tests hold true)."""
    total = len(PROGRAMS)
    rows = ["| backend | passing / programs | rate |", "|---|---|---|"]
    for backend in README_BACKENDS:
        passing = sum(known_gap(name, backend) is None for name in PROGRAMS)
        rows.append(f"| {backend} | {passing} / {total} | {100 * passing // total}% |")
    rows += ["", "| program | source | " + " | ".join(README_BACKENDS) + " | first error (KNOWN_GAPS) |",
             "|---|---|" + "---|" * len(README_BACKENDS) + "---|"]
    for name in PROGRAMS:
        gaps = [known_gap(name, backend) for backend in README_BACKENDS]
        cells = ["pass" if gap is None else "gap" for gap in gaps]
        reasons = "; ".join(sorted({f"`{gap}`" for gap in gaps if gap is not None}))
        rows.append(f"| `{name}` | {source(name)} | " + " | ".join(cells) + f" | {reasons} |")
    return "\n".join(rows) + "\n"


def stated_pass_rates() -> dict[str, tuple[int, int]]:
    """``backend -> (passing, total)`` from the table in README.md (rows like ``| numpy | 30 / 40 | 75% |``)."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^\|\s*`?(\w+)`?\s*\|\s*(\d+)\s*/\s*(\d+)\s*\|", text, re.M)}


def test_pass_rate_at_least_the_readme():
    stated = stated_pass_rates()
    assert {"numpy", "array_api_strict", "torch"} <= set(stated), f"README.md must state numpy, array_api_strict " \
                                                                   f"and torch pass rates; found {sorted(stated)}"
    for backend, (passing, total) in stated.items():
        assert backend in B.NAMES, f"README.md states a pass rate for unknown backend {backend!r}"
        assert total == len(PROGRAMS), f"README.md counts {total} programs, the suite has {len(PROGRAMS)}"
        actual = sum(known_gap(name, backend) is None for name in PROGRAMS)
        assert actual >= passing, (f"{backend}: {actual}/{total} programs pass (KNOWN_GAPS), below the "
                                   f"{passing}/{total} stated in README.md")


def test_every_program_names_its_source():
    for name in PROGRAMS:
        with open(os.path.join(PROGRAM_DIR, f"{name}.py"), encoding="utf-8") as f:
            head = f.read(1500)
        assert "Source:" in head and "http" in head, f"{name}.py must name its source (a URL) in its docstring"


def test_known_gaps_name_real_programs():
    for key in KNOWN_GAPS:
        name, _, backend = key.partition("@")
        assert name in PROGRAMS, f"KNOWN_GAPS lists {name!r}, which is not a program in {PROGRAM_DIR}"
        assert not backend or backend in B.NAMES, f"KNOWN_GAPS key {key!r} names an unknown backend"


def test_readme_tables_match_known_gaps():
    """README.md's pass rates and per-program table are those KNOWN_GAPS gives (regenerate: report.py --readme)."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    assert readme_tables() in text, \
        "README.md's tables are out of date: run .venv/bin/python tests/torch_compat/report.py --readme"


def test_main_readme_states_the_current_rates():
    """The project README quotes the pass rates ("numpy 32/48, ..."): they must be the current ones."""
    with open(os.path.join(HERE, "..", "..", "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("the PyTorch compatibility suite", 1)[1][:800]
    stated = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(r"(\w+) (\d+)/(\d+)", section)}
    for backend in README_BACKENDS:
        actual = (sum(known_gap(name, backend) is None for name in PROGRAMS), len(PROGRAMS))
        assert stated.get(backend) == actual, f"README.md: {backend} {stated.get(backend)}, the suite has {actual}"

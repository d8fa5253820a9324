"""Which parts of anynn may import an array library, and which may not.

The compute path (autograd, ops, nn, optim, data, training, models, ... : everything not named below) goes
through a backend's ``xp`` and imports none. Two folders are exempt, each for a stated reason:

- ``anynn/backends/``: the backends are the one place that names a library (numpy, cupy, torch, ...).
- ``anynn/bench/``: the benchmark measures libraries against each other: it builds PyTorch twins of the models
  (torch) and reads CuPy's memory pool (cupy). It is never imported by the compute path.
"""
from __future__ import annotations

import re
from pathlib import Path

import anynn

LIBRARIES = ("numpy", "cupy", "cupyx", "torch", "jax", "jaxlib")
IMPORT = re.compile(rf"^\s*(?:import|from)\s+({'|'.join(LIBRARIES)})\b")
PACKAGE = Path(anynn.__file__).parent
MAY_IMPORT = {
    "backends": LIBRARIES,
    "bench": ("torch", "cupy"),
}
COMPUTE_PATH = ("autograd", "ops", "nn", "optim", "data", "training")


def _offenders(package: Path) -> list[str]:
    """``path:line: import`` for every import of an array library that :data:`MAY_IMPORT` does not allow."""
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        allowed = MAY_IMPORT.get(relative.parts[0], ()) if len(relative.parts) > 1 else ()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = IMPORT.match(line)
            if match and match.group(1) not in allowed:
                found.append(f"anynn/{relative.as_posix()}:{number}: {line.strip()}")
    return found


def test_no_array_library_imports_outside_backends_and_bench():
    offenders = _offenders(PACKAGE)
    assert not offenders, ("array libraries imported where the rule forbids them (the compute path: use x.xp / "
                           "ctx.xp, or a backend hook; anynn/bench/: only torch and cupy):\n" + "\n".join(offenders))


def test_the_exempt_folders_and_the_compute_path_exist():
    """The rule names real folders: a rename cannot leave it exempting nothing or checking nothing."""
    for folder in (*MAY_IMPORT, *COMPUTE_PATH):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder


def test_the_rule_catches_the_compute_path_and_bench_beyond_its_allowance(tmp_path):
    files = {"ops/a.py": "import numpy as np\n", "nn/b.py": "    from torch import nn\n",
             "training/c.py": "import cupy\n", "bench/d.py": "import jax\n", "bench.py": "import torch\n",
             "bench/ok.py": "import torch\nfrom cupy import cuda\n", "backends/ok.py": "import numpy\nimport jax\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = _offenders(tmp_path)
    assert sorted(line.split(":")[0] for line in found) == ["anynn/bench.py", "anynn/bench/d.py", "anynn/nn/b.py",
                                                            "anynn/ops/a.py", "anynn/training/c.py"]


def test_the_check_sees_indented_and_from_imports(tmp_path):
    """The pattern must catch the forms a lazy import takes inside a function."""
    for line in ("import numpy as np", "    import torch", "from cupy import ndarray", "\tfrom jax import numpy",
                 "import numpy.linalg"):
        assert IMPORT.match(line), line
    for line in ("import numpyish", "# import numpy", "x = 'import torch'", "from anynn import torch_like"):
        assert not IMPORT.match(line), line

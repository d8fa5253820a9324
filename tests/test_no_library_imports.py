"""Only anynn/backends/ may import an array library: everything else goes through a backend's ``xp``."""
from __future__ import annotations

import re
from pathlib import Path

import anynn

LIBRARIES = ("numpy", "cupy", "cupyx", "torch", "jax", "jaxlib")
IMPORT = re.compile(rf"^\s*(?:import|from)\s+({'|'.join(LIBRARIES)})\b")
PACKAGE = Path(anynn.__file__).parent


def _offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "backends":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if IMPORT.match(line):
                found.append(f"anynn/{relative.as_posix()}:{number}: {line.strip()}")
    return found


def test_no_array_library_imports_outside_backends():
    offenders = _offenders()
    assert not offenders, ("array libraries imported outside anynn/backends/ (use x.xp / ctx.xp, or a backend "
                           "hook):\n" + "\n".join(offenders))


def test_the_check_sees_indented_and_from_imports(tmp_path):
    """The pattern must catch the forms a lazy import takes inside a function."""
    for line in ("import numpy as np", "    import torch", "from cupy import ndarray", "\tfrom jax import numpy",
                 "import numpy.linalg"):
        assert IMPORT.match(line), line
    for line in ("import numpyish", "# import numpy", "x = 'import torch'", "from anynn import torch_like"):
        assert not IMPORT.match(line), line

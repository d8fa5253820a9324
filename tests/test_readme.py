"""The README's backend example runs, and learns, on every backend."""
from __future__ import annotations

import os
import re

import anynn

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _backend_example() -> str:
    text = open(README, encoding="utf-8").read()
    section = text.split("## Choosing a backend", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_backend_example_is_short_and_trains(backend, capsys):
    code = _backend_example()
    assert len(code.strip().splitlines()) <= 13
    exec(code.replace('anynn.set_backend("numpy")', f'anynn.set_backend("{backend.name}")'), {})
    loss = float(capsys.readouterr().out.split()[0])
    assert loss < 0.9, "100 steps on 64 points must bring the loss well below log(3) = 1.10"
    assert anynn.get_backend() is backend

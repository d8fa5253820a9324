"""The guides in docs/ are true: every Python block of each runs, in order, in one namespace, on every backend."""
from __future__ import annotations

import os
from pathlib import Path
import re

import pytest

import anynn

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs")
GUIDES = ["porting_numpy.md", "custom_ops.md"]


def _blocks(name: str) -> list[str]:
    text = Path(os.path.join(DOCS, name)).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("guide", GUIDES)
def test_every_block_of_the_guide_runs(backend, guide):
    blocks = _blocks(guide)
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "guide"}
    for block in blocks:
        exec(compile(block, f"docs/{guide}", "exec"), namespace)
    assert anynn.get_backend() is backend


def test_the_readme_links_the_guides():
    readme = Path(os.path.join(DOCS, "..", "README.md")).read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"docs/{guide}" in readme

"""The optimizer tests exercise the flat (multi-tensor) updates on every backend: ``foreach=None`` chooses them
by device (GPU backends only), so here every backend is made to prefer them; ``test_flat_updates.py`` checks
the choice itself with the real preferences (marker ``real_preference``)."""
from __future__ import annotations

import pytest

from anynn import backends as B


@pytest.fixture(autouse=True)
def _flat_updates_by_default(request, monkeypatch):
    if "real_preference" in request.keywords:
        return
    monkeypatch.setattr(B.Backend, "multi_tensor_updates", True)
    for name in B.NAMES:  # the backends that exist already (some set the preference per instance)
        if B.why_unavailable(name) is None:
            monkeypatch.setattr(B.backend_for(name), "multi_tensor_updates", True)

"""Launch budgets: array-library calls (each at least one kernel launch on a GPU) per training step of the
bench models, as the cupy backend makes them, counted on the CPU by the counting backend. Counts are
deterministic, so these are exact ceilings, not timings; a change that adds launches to a step fails here.

Budgets are issue 12's targets, about PyTorch's own kernel count for the same step (``anynn bench --count
--compare-torch`` prints both). Before the fused kernels, the multi-tensor optimizer and the lean standard path:
mlp 71, lenet5 275, vgg_small 514, resnet18 1738 (and 2-13 host uploads per step).
"""
from __future__ import annotations

import pytest

from anynn.bench import count_step

BUDGETS = {"mlp": 25, "lenet5": 60, "vgg_small": 120, "resnet18": 400}
#: The numpy backend's own path (Numba kernels, each one call; one update per parameter, as CPU backends keep by
#: default; the class labels checked at once, one host read): no target, a ceiling against regressions.
NUMPY_CEILINGS = {"mlp": 65, "lenet5": 120, "vgg_small": 180, "resnet18": 500}


@pytest.mark.parametrize("model", list(BUDGETS))
def test_cupy_step_stays_within_its_launch_budget_without_syncs_or_uploads(model):
    counts = count_step(model, "cupy")
    assert counts.launches <= BUDGETS[model], counts.report
    assert counts.syncs == 0 and counts.uploads == 0, counts.report
    assert counts.forward + counts.backward + counts.optimizer == counts.launches


@pytest.mark.parametrize("model", list(NUMPY_CEILINGS))
def test_numpy_step_stays_under_its_ceiling(model):
    counts = count_step(model, "numpy")
    assert counts.launches <= NUMPY_CEILINGS[model], counts.report
    assert counts.syncs == 1 and counts.uploads == 0, counts.report  # the label check reads one flag

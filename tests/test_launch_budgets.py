"""Launch budgets: array-library calls (each at least one kernel launch on a GPU) per training step of the
bench models, as the cupy backend makes them, counted on the CPU by the counting backend. Counts are
deterministic, so these are exact ceilings, not timings; a change that adds launches to a step fails here.

Budgets are the counts reached, so any added launch fails here (``anynn bench --count --compare-torch`` prints
PyTorch's kernel count for the same step beside them). Before the fused kernels, the multi-tensor optimizer and
the lean standard path: mlp 71, lenet5 275, vgg_small 514, resnet18 1738 (and 2-13 host uploads per step); with
issue 12's kernels 25 / 59 / 92 / 290; with the one-launch SGD update (issue 13) 22 / 56 / 89 / 287, of which
one launch per parameter gathers the gradients into the flat buffer (4 / 10 / 20 / 62).

With ``ANYNN_CUDNN=1`` each convolution's forward pass (bias included) is one cuDNN graph instead of im2col,
GEMM and bias add, and its weight gradient one graph instead of a GEMM: counted in a child process, since the
switch is read at import.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from anynn.bench import count_step

BUDGETS = {"mlp": 22, "lenet5": 56, "vgg_small": 89, "resnet18": 287}
#: With cuDNN convolutions (ANYNN_CUDNN=1): two launches fewer per convolution's forward pass.
CUDNN_BUDGETS = {"lenet5": 51, "vgg_small": 78}
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


def test_cudnn_convolutions_cut_two_launches_per_forward_convolution():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed: CupyBackend.fused is empty")
    code = ("import json; from anynn.bench import count_step; "
            f"print(json.dumps({{m: count_step(m, 'cupy').__dict__ for m in {list(CUDNN_BUDGETS)!r}}}))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, ANYNN_CUDNN="1", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    for model, budget in CUDNN_BUDGETS.items():
        with_cudnn, im2col = counts[model], count_step(model, "cupy")
        assert with_cudnn["launches"] <= budget, with_cudnn["report"]
        assert with_cudnn["syncs"] == 0 and with_cudnn["uploads"] == 0, with_cudnn["report"]
        convolutions = {"lenet5": 2, "vgg_small": 4}[model]
        assert with_cudnn["forward"] == im2col.forward - 2 * convolutions, (with_cudnn["report"], im2col.report)
        # one launch fewer per input gradient (cuDNN's dgrad instead of GEMM + col2im); the first convolution's
        # input (the images) needs none
        assert with_cudnn["backward"] == im2col.backward - (convolutions - 1), (with_cudnn["report"], im2col.report)

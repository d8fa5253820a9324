"""OneCycleLR against PyTorch's: the learning rates and momenta (SGD) or beta1 (Adam) at every step, for both
annealing strategies, two and three phases, and per-group maximum rates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import anynn
from anynn.optim import lr_scheduler as S


def _pair(optimizer: str, groups: int = 1):
    ours = [anynn.zeros(2, requires_grad=True) for _ in range(groups)]
    theirs = [torch.zeros(2, requires_grad=True) for _ in range(groups)]
    if optimizer == "sgd":
        return (anynn.optim.SGD([{"params": [p]} for p in ours], lr=0.1, momentum=0.9),
                torch.optim.SGD([{"params": [p]} for p in theirs], lr=0.1, momentum=0.9))
    return (anynn.optim.Adam([{"params": [p]} for p in ours], lr=0.1),
            torch.optim.Adam([{"params": [p]} for p in theirs], lr=0.1))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("kwargs", [
    dict(max_lr=0.5, total_steps=20),
    dict(max_lr=0.5, total_steps=20, anneal_strategy="linear"),
    dict(max_lr=0.5, epochs=3, steps_per_epoch=7, three_phase=True, pct_start=0.25),
    dict(max_lr=[0.5, 0.2], total_steps=11, div_factor=10.0, final_div_factor=100.0),
])
def test_one_cycle_matches_torch(optimizer, kwargs):
    groups = len(kwargs["max_lr"]) if isinstance(kwargs["max_lr"], list) else 1
    ours, theirs = _pair(optimizer, groups)
    ours_s, theirs_s = S.OneCycleLR(ours, **kwargs), torch.optim.lr_scheduler.OneCycleLR(theirs, **kwargs)
    key = "momentum" if optimizer == "sgd" else "betas"
    for _ in range(ours_s.total_steps):
        np.testing.assert_allclose([g["lr"] for g in ours.param_groups], [g["lr"] for g in theirs.param_groups],
                                   rtol=1e-14)
        np.testing.assert_allclose([np.ravel(g[key])[0] for g in ours.param_groups],
                                   [np.ravel(g[key])[0] for g in theirs.param_groups], rtol=1e-14)
        ours.step()
        theirs.step()
        ours_s.step()
        theirs_s.step()
    with pytest.raises(ValueError, match="Tried to step"):
        ours_s.step()


def test_one_cycle_argument_errors():
    opt, _ = _pair("sgd")
    with pytest.raises(ValueError, match="either total_steps OR"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=5, anneal_strategy="exp")
    plain = anynn.optim.Adagrad([anynn.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(plain, max_lr=0.1, total_steps=5)

"""Learning-rate schedulers against torch.optim.lr_scheduler: the same lr sequence, state_dict, warnings.

Schedulers only do host arithmetic on Python floats, so one backend (the default) is enough here.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import anynn
from anynn import optim
from anynn.nn import Parameter
from anynn.optim import lr_scheduler as S
from helpers import torch_or_skip

LRS = (0.1, 0.03)


def anynn_optimizer():
    params = [Parameter(anynn.tensor(np.ones(2), dtype=anynn.float64)) for _ in LRS]
    return optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], momentum=0.9)


def torch_optimizer():
    torch = torch_or_skip()
    params = [torch.ones(2, dtype=torch.float64, requires_grad=True) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], momentum=0.9)


def _lambda(epoch):
    return 0.9 ** epoch


def _lambda2(epoch):
    return 1.0 / (epoch + 1)


CASES = {
    "StepLR": (dict(step_size=3, gamma=0.5), 12),
    "StepLR-default": (dict(step_size=2), 8),
    "MultiStepLR": (dict(milestones=[2, 5, 5, 9], gamma=0.3), 12),
    "ExponentialLR": (dict(gamma=0.9), 10),
    "CosineAnnealingLR": (dict(T_max=10), 30),
    "CosineAnnealingLR-eta_min": (dict(T_max=7, eta_min=0.01), 21),
    "LinearLR-default": (dict(), 10),
    "LinearLR": (dict(start_factor=0.5, end_factor=0.1, total_iters=4), 8),
    "ConstantLR": (dict(factor=0.5, total_iters=3), 6),
    "LambdaLR": (dict(lr_lambda=_lambda), 8),
    "LambdaLR-list": (dict(lr_lambda=[_lambda, _lambda2]), 8),
}


def _make(name, optimizer, module, kwargs):
    return getattr(module, name.split("-")[0])(optimizer, **kwargs)


def _run(opt, sched, steps):
    lrs = [sched.get_last_lr()]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


@pytest.mark.parametrize("name", list(CASES))
def test_lr_sequence_equals_torch(name):
    torch = torch_or_skip()
    kwargs, steps = CASES[name]
    opt, topt = anynn_optimizer(), torch_optimizer()
    ours = _run(opt, _make(name, opt, S, kwargs), steps)
    theirs = _run(topt, _make(name, topt, torch.optim.lr_scheduler, kwargs), steps)
    assert ours == theirs
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                                  "ConstantLR"])
def test_step_with_epoch_uses_closed_form(name):
    torch = torch_or_skip()
    kwargs, _ = CASES[name]
    opt, topt = anynn_optimizer(), torch_optimizer()
    sched, tsched = _make(name, opt, S, kwargs), _make(name, topt, torch.optim.lr_scheduler, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (3, 1, 7, 4):
            opt.step()
            topt.step()
            sched.step(epoch)
            tsched.step(epoch)
            assert sched.get_last_lr() == tsched.get_last_lr()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(2)


def test_sequential_lr_equals_torch():
    torch = torch_or_skip()
    T = torch.optim.lr_scheduler

    def build(opt, mod):
        warmup = mod.LinearLR(opt, start_factor=0.1, total_iters=4)
        cosine = mod.CosineAnnealingLR(opt, T_max=6, eta_min=0.001)
        step = mod.StepLR(opt, step_size=2, gamma=0.5)
        return mod.SequentialLR(opt, [warmup, cosine, step], milestones=[4, 10])

    opt, topt = anynn_optimizer(), torch_optimizer()
    assert _run(opt, build(opt, S), 16) == _run(topt, build(topt, T), 16)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(patience=1, factor=0.5),
    dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs", cooldown=2, factor=0.5),
    dict(mode="min", patience=1, threshold_mode="abs", threshold=0.05, min_lr=[0.02, 0.01], factor=0.3),
    dict(patience=0, min_lr=0.05, eps=1e-3),
], ids=str)
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    torch = torch_or_skip()
    metrics = [1.0, 0.9, 0.95, 0.95, 0.899, 0.9, 0.9, 0.9, 1.2, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] * 2
    opt, topt = anynn_optimizer(), torch_optimizer()
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for m in metrics:
        opt.step()
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
               (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
    assert sched.get_last_lr() != list(LRS) or kwargs == {}


def test_reduce_lr_on_plateau_accepts_a_tensor_metric():
    opt = anynn_optimizer()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(anynn.tensor(1.0))
    sched.step(anynn.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([LRS[0] * 0.1, LRS[1] * 0.1])


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "LinearLR", "LambdaLR"])
def test_state_dict_resumes_the_schedule(name):
    kwargs, steps = CASES[name]
    opt = anynn_optimizer()
    sched = _make(name, opt, S, kwargs)
    reference = _run(opt, sched, steps)
    opt = anynn_optimizer()
    sched = _make(name, opt, S, kwargs)
    _run(opt, sched, steps // 2)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved_sched
    resumed_opt = anynn_optimizer()
    resumed = _make(name, resumed_opt, S, kwargs)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    assert _run(resumed_opt, resumed, steps - steps // 2)[1:] == reference[steps // 2 + 1:]


def test_multistep_state_from_a_plain_dict():
    """A checkpoint file stores the milestones Counter as a plain dict; loading restores the Counter."""
    opt = anynn_optimizer()
    sched = S.MultiStepLR(opt, milestones=[2, 4, 4])
    saved = sched.state_dict()
    saved["milestones"] = dict(saved["milestones"])
    other_opt = anynn_optimizer()
    other = S.MultiStepLR(other_opt, milestones=[])
    other.load_state_dict(saved)
    other_opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        other.step(5)
    assert other.get_last_lr() == pytest.approx([lr * 0.1 ** 3 for lr in LRS])


def test_plateau_state_dict_round_trip():
    opt = anynn_optimizer()
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=1)
    for m in (1.0, 0.5, 0.5):
        sched.step(m)
    other = S.ReduceLROnPlateau(anynn_optimizer())
    other.load_state_dict(sched.state_dict())
    assert (other.mode, other.mode_worse, other.best, other.num_bad_epochs) == ("max", -np.inf, 1.0, 0)


def test_warns_when_scheduler_steps_before_optimizer():
    opt = anynn_optimizer()
    sched = S.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = anynn_optimizer()
    sched = S.StepLR(opt, step_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()


def test_errors():
    opt = anynn_optimizer()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        S.ExponentialLR(opt, gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode 'median' is unknown"):
        S.ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        S.LambdaLR(opt, lr_lambda=[_lambda])
    with pytest.raises(ValueError, match="one milestone fewer"):
        S.SequentialLR(opt, [S.StepLR(opt, step_size=1)], milestones=[3])


@pytest.mark.parametrize("lr_lambda", [_lambda, [_lambda, _lambda2]], ids=["one", "per-group"])
def test_lambda_lr_step_with_epoch_equals_torch(lr_lambda):
    """LambdaLR has no closed form: step(epoch) evaluates the lambdas at that epoch, then plain steps go on from it."""
    torch = torch_or_skip()
    opt, topt = anynn_optimizer(), torch_optimizer()
    sched, tsched = S.LambdaLR(opt, lr_lambda), torch.optim.lr_scheduler.LambdaLR(topt, lr_lambda)
    for epoch in (3, 1, 7, 4, None, None, 0, None):
        opt.step()
        topt.step()
        with warnings.catch_warnings(record=True) as ours_warned:
            warnings.simplefilter("always")
            sched.step(epoch)
        with warnings.catch_warnings(record=True) as torch_warned:
            warnings.simplefilter("always")
            tsched.step(epoch)
        assert [w.category for w in ours_warned] == [w.category for w in torch_warned]  # a warning iff an epoch
        assert all("epoch parameter" in str(w.message) for w in ours_warned + torch_warned)
        assert sched.get_last_lr() == tsched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        assert sched.last_epoch == tsched.last_epoch


# the flag torch sets while step() calls get_lr() (for its "get_lr() called outside step()" warning); anynn has no
# such warning and so no such attribute
_TORCH_ONLY_KEYS = {"_get_lr_called_within_step"}


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR-eta_min"])
def test_state_dict_contents_equal_torch_and_interchange(name):
    torch = torch_or_skip()
    kwargs, steps = CASES[name]
    opt, topt = anynn_optimizer(), torch_optimizer()
    sched, tsched = _make(name, opt, S, kwargs), _make(name, topt, torch.optim.lr_scheduler, kwargs)
    for count in range(steps // 2 + 1):
        state, tstate = sched.state_dict(), tsched.state_dict()
        assert set(tstate) - set(state) == _TORCH_ONLY_KEYS
        assert state == {k: v for k, v in tstate.items() if k not in _TORCH_ONLY_KEYS}, count
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    # torch's state resumes in anynn and anynn's in torch: the rest of the schedule is the same
    resumed_opt, resumed_topt = anynn_optimizer(), torch_optimizer()
    resumed_opt.load_state_dict(opt.state_dict())
    resumed_topt.load_state_dict(topt.state_dict())
    resumed = _make(name, resumed_opt, S, kwargs)
    resumed_torch = _make(name, resumed_topt, torch.optim.lr_scheduler, kwargs)
    resumed.load_state_dict(tsched.state_dict())
    resumed_torch.load_state_dict(sched.state_dict())
    rest = steps - steps // 2 - 1
    reference = _run(topt, tsched, rest)
    assert _run(resumed_opt, resumed, rest) == reference
    assert _run(resumed_topt, resumed_torch, rest) == reference

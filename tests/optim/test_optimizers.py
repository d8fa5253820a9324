"""Optimizers against torch.optim: 20-step trajectories, state layout, state_dict round trips, dtypes, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import anynn
from anynn import optim
from anynn.nn import Parameter
from helpers import F32, assert_close, torch_or_skip

STEPS = 20
_rng = np.random.default_rng(0)
X, Y = _rng.standard_normal((5, 3)), _rng.standard_normal((5, 4))
INIT = [_rng.standard_normal((3, 4)), _rng.standard_normal(4), np.array(0.7), _rng.standard_normal(2)]
SECOND_LR = 0.05

CASES = {
    "SGD": [dict(), dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, dampening=0.3),
            dict(lr=0.1, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.1), dict(lr=0.1, maximize=True),
            dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)],
    "Adagrad": [dict(), dict(lr=0.1, lr_decay=0.1), dict(weight_decay=0.1), dict(initial_accumulator_value=0.5),
                dict(eps=1e-3, maximize=True),
                dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-4)],
    "RMSprop": [dict(), dict(momentum=0.9), dict(centered=True), dict(centered=True, momentum=0.5),
                dict(weight_decay=0.1), dict(alpha=0.9, eps=1e-3, maximize=True),
                dict(lr=0.02, alpha=0.8, eps=1e-4, weight_decay=0.1, momentum=0.7, centered=True)],
    "Adadelta": [dict(), dict(rho=0.5), dict(weight_decay=0.1), dict(lr=0.5, eps=1e-3), dict(maximize=True),
                 dict(lr=0.7, rho=0.8, eps=1e-4, weight_decay=0.2, maximize=True)],
    "Adam": [dict(), dict(lr=0.05, amsgrad=True), dict(lr=0.05, weight_decay=0.1), dict(lr=0.05, betas=(0.8, 0.9)),
             dict(lr=0.05, maximize=True), dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
             dict(lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.1, amsgrad=True, maximize=True)],
    "AdamW": [dict(), dict(lr=0.05, amsgrad=True), dict(lr=0.05, weight_decay=0.3),
              dict(lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.5, amsgrad=True, maximize=True)],
    "Adamax": [dict(), dict(lr=0.05, betas=(0.8, 0.9)), dict(lr=0.05, weight_decay=0.1),
               dict(lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.1, maximize=True)],
    "RAdam": [dict(), dict(lr=0.05, betas=(0.8, 0.9)), dict(lr=0.05, weight_decay=0.1),
              dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
              dict(lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.1, decoupled_weight_decay=True,
                   maximize=True)],
    "Rprop": [dict(), dict(lr=0.05, etas=(0.3, 1.5)), dict(lr=0.1, step_sizes=(1e-3, 0.2)),
              dict(lr=0.05, etas=(0.4, 1.1), step_sizes=(1e-4, 0.3), maximize=True)],
}
ALL = [(name, kw) for name, combos in CASES.items() for kw in combos]
FULL = [(name, combos[-1]) for name, combos in CASES.items()]  # every option of each optimizer at once


def _ids(case):
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


# --------------------------------------------------------------- helpers
def make_params(dtype=anynn.float64, values=None):
    return [Parameter(anynn.tensor(v, dtype=dtype)) for v in (values or INIT)]


def torch_params(dtype=None, values=None):
    torch = torch_or_skip()
    dtype = dtype or torch.float64
    return [torch.tensor(np.asarray(v), dtype=dtype, requires_grad=True) for v in (values or INIT)]


def groups(params):
    """Two groups: [W] with the defaults, [b, s, unused] with its own lr (``unused`` never gets a gradient)."""
    return [{"params": [params[0]]}, {"params": params[1:], "lr": SECOND_LR}]


def anynn_step(opt, params, every=False):
    """One step on a small regression loss; the last parameter gets a gradient only with ``every``."""
    W, b, s, u = params
    x, y = anynn.tensor(X, dtype=W.dtype), anynn.tensor(Y, dtype=W.dtype)
    opt.zero_grad()
    loss = ((anynn.tanh(x @ W + b) - y) ** 2).sum() + (anynn.tanh(s) - 0.3) ** 2 + 0.1 * (W * W).sum()
    if every:
        loss = loss + (anynn.tanh(u) * s).sum()
    loss.backward()
    opt.step()


def torch_step(opt, params, every=False):
    torch = torch_or_skip()
    W, b, s, u = params
    x, y = torch.tensor(X, dtype=W.dtype), torch.tensor(Y, dtype=W.dtype)
    opt.zero_grad()
    loss = ((torch.tanh(x @ W + b) - y) ** 2).sum() + (torch.tanh(s) - 0.3) ** 2 + 0.1 * (W * W).sum()
    if every:
        loss = loss + (torch.tanh(u) * s).sum()
    loss.backward()
    opt.step()


def assert_flat(opt):
    """Every group ran its last step on flat buffers: each parameter's data is still its view."""
    for gi, group in enumerate(opt.param_groups):
        buckets = opt._buckets[gi].buckets
        assert sorted(i for bucket in buckets for i in bucket.indices) == list(range(len(group["params"])))
        assert all(bucket.bound() for bucket in buckets)


def host_params(params):
    return [p.detach().numpy().copy() for p in params]


def torch_to_numpy(state_dict):
    """A torch optimizer state_dict with every tensor as a NumPy array (what a converted checkpoint holds)."""
    torch = torch_or_skip()
    state = {k: {n: (v.numpy() if isinstance(v, torch.Tensor) else v) for n, v in s.items()}
             for k, s in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


def anynn_to_torch(state_dict):
    torch = torch_or_skip()
    state = {k: {n: torch.tensor(float(v)) if n == "step" else torch.from_numpy(v.numpy()) for n, v in s.items()}
             for k, s in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


def assert_same_state(ours, theirs):
    assert ours["state"].keys() == theirs["state"].keys()
    for index, state in theirs["state"].items():
        assert set(ours["state"][index]) == set(state), index
        for key, value in state.items():
            if key == "step":
                assert isinstance(ours["state"][index][key], int) and ours["state"][index][key] == float(value)
            else:
                assert_close(ours["state"][index][key], value.detach().numpy())
    for group, tgroup in zip(ours["param_groups"], theirs["param_groups"]):
        assert group["params"] == tgroup["params"]
        for key, value in group.items():
            assert tgroup[key] == value, key


# ---------------------------------------------------------- trajectories
@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_trajectory_matches_torch(backend, case):
    torch = torch_or_skip()
    name, kwargs = case
    params, tparams = make_params(), torch_params()
    opt = getattr(optim, name)(groups(params), **kwargs)
    topt = getattr(torch.optim, name)(groups(tparams), **kwargs)
    for _ in range(STEPS):
        anynn_step(opt, params)
        torch_step(topt, tparams)
        for p, tp in zip(params, tparams):
            assert_close(p, tp.detach().numpy())
    assert np.array_equal(params[3].numpy(), INIT[3])  # no gradient: never updated
    assert_same_state(opt.state_dict(), topt.state_dict())


@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_flat_trajectory_matches_torch_and_the_per_parameter_updates(backend, case):
    """Every parameter has a gradient, so each group steps on flat buffers: torch's trajectory and state, and
    bit for bit what the per-parameter updates (``foreach=False``) compute."""
    torch = torch_or_skip()
    name, kwargs = case
    params, loop_params, tparams = make_params(), make_params(), torch_params()
    opt = getattr(optim, name)(groups(params), **kwargs)
    loop = getattr(optim, name)(groups(loop_params), **kwargs, foreach=False)
    topt = getattr(torch.optim, name)(groups(tparams), **kwargs)
    for _ in range(STEPS):
        anynn_step(opt, params, every=True)
        anynn_step(loop, loop_params, every=True)
        torch_step(topt, tparams, every=True)
        assert_flat(opt)
        for p, q, tp in zip(params, loop_params, tparams):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
            assert_close(p, tp.detach().numpy())
    assert_same_state(opt.state_dict(), topt.state_dict())
    flat_state, loop_state = opt.state_dict()["state"], loop.state_dict()["state"]
    assert flat_state.keys() == loop_state.keys()
    for index, state in loop_state.items():
        assert flat_state[index].keys() == state.keys()
        for key, value in state.items():
            assert type(flat_state[index][key]) is type(value)
            if isinstance(value, anynn.Tensor):
                np.testing.assert_array_equal(flat_state[index][key].numpy(), value.numpy())
            else:
                assert flat_state[index][key] == value


@pytest.mark.parametrize("case", FULL, ids=_ids)
def test_state_dict_round_trip(backend, case):
    name, kwargs = case
    cls = getattr(optim, name)
    params = make_params()
    opt = cls(groups(params), **kwargs)
    for _ in range(STEPS // 2):
        anynn_step(opt, params)
    saved = opt.state_dict()
    snapshot = {k: {n: (v.numpy() if isinstance(v, anynn.Tensor) else v) for n, v in s.items()}
                for k, s in saved["state"].items()}
    resumed = make_params(values=host_params(params))
    fresh = cls(groups(resumed), **dict(kwargs, lr=123.0))
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for _ in range(STEPS // 2):
        anynn_step(opt, params)
        anynn_step(fresh, resumed)
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    for k, s in saved["state"].items():  # the saved dict is a snapshot, untouched by later steps
        for n, v in s.items():
            np.testing.assert_array_equal(v.numpy() if isinstance(v, anynn.Tensor) else v, snapshot[k][n])


@pytest.mark.parametrize("case", FULL, ids=_ids)
def test_state_dict_interchange_with_torch(backend, case):
    """A torch checkpoint converted to NumPy resumes in anynn, and ours resumes in torch."""
    torch = torch_or_skip()
    name, kwargs = case
    tparams = torch_params()
    topt = getattr(torch.optim, name)(groups(tparams), **kwargs)
    for _ in range(STEPS // 2):
        torch_step(topt, tparams)
    params = make_params(values=host_params(tparams))
    opt = getattr(optim, name)(groups(params), **dict(kwargs, lr=123.0))
    opt.load_state_dict(torch_to_numpy(topt.state_dict()))
    for state in opt.state.values():
        assert isinstance(state.get("step", 0), int)
        assert all(v.backend is backend for v in state.values() if isinstance(v, anynn.Tensor))
    back = torch_params(values=host_params(tparams))
    topt_back = getattr(torch.optim, name)(groups(back), **kwargs)
    topt_back.load_state_dict(anynn_to_torch(opt.state_dict()))
    for _ in range(STEPS // 2):
        torch_step(topt, tparams)
        anynn_step(opt, params)
        torch_step(topt_back, back)
    for p, tp, bp in zip(params, tparams, back):
        assert_close(p, tp.detach().numpy())
        assert_close(bp.detach().numpy(), tp.detach().numpy())


@pytest.mark.parametrize("case", FULL, ids=_ids)
def test_float32_stays_float32(backend, case):
    torch = torch_or_skip()
    name, kwargs = case
    params, tparams = make_params(anynn.float32), torch_params(torch.float32)
    opt = getattr(optim, name)(groups(params), **kwargs)
    topt = getattr(torch.optim, name)(groups(tparams), **kwargs)
    for _ in range(5):
        anynn_step(opt, params)
        torch_step(topt, tparams)
    for p, tp in zip(params, tparams):
        assert p.dtype == anynn.float32
        assert_close(p, tp.detach().numpy(), **F32)
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, anynn.Tensor):
                assert value.dtype == anynn.float32


# --------------------------------------------------------- other behaviour
def test_shared_gradient_array_is_never_written(backend):
    """Two parameters holding one gradient array: the update must neither write it nor alias it in state."""
    torch = torch_or_skip()
    grads = np.random.default_rng(1).standard_normal((5, 4))
    a, b = make_params()[1], make_params()[1]
    ta, tb = torch_params()[1], torch_params()[1]
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([ta, tb], lr=0.1, momentum=0.9)
    for g in grads:
        a.grad = b.grad = anynn.tensor(g, dtype=anynn.float64)
        ta.grad, tb.grad = torch.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
        np.testing.assert_array_equal(a.grad.numpy(), g)
        assert_close(a, ta.detach().numpy())
        assert_close(b, tb.detach().numpy())


def test_closure_add_param_group_and_zero_grad(backend):
    torch = torch_or_skip()
    params, tparams = make_params(), torch_params()
    opt = optim.Adam([params[0]], lr=0.1)
    topt = torch.optim.Adam([tparams[0]], lr=0.1)
    opt.add_param_group({"params": params[1:], "lr": 0.02, "amsgrad": True})
    topt.add_param_group({"params": tparams[1:], "lr": 0.02, "amsgrad": True})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)

    def closure():
        opt.zero_grad()
        loss = (params[0] ** 2).sum() + (params[1] * params[2]).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = (tparams[0] ** 2).sum() + (tparams[1] * tparams[2]).sum()
        loss.backward()
        return loss

    with anynn.no_grad():  # the closure still records: step() enables grad for it
        for _ in range(3):
            loss = opt.step(closure)
            tloss = topt.step(tclosure)
            assert_close(loss, tloss.detach().numpy())
    for p, tp in zip(params, tparams):
        assert_close(p, tp.detach().numpy())
    old = params[0].grad.array
    opt.zero_grad(set_to_none=False)
    assert params[0].grad.array is not old and not params[0].grad.numpy().any()
    opt.zero_grad()
    assert params[0].grad is None


def test_named_parameters_and_repr(backend):
    model = anynn.nn.Linear(3, 2, dtype=anynn.float64)
    opt = optim.SGD(model.named_parameters(), lr=0.1, momentum=0.5)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    assert "Parameter Group 0" in repr(opt) and "momentum: 0.5" in repr(opt)


def test_adamw_decay_is_decoupled(backend):
    """With a zero gradient AdamW only shrinks p by (1 - lr*wd); Adam's L2 decay moves it by ~lr instead."""
    p, q = Parameter(anynn.tensor([2.0, -4.0], dtype=anynn.float64)), Parameter(anynn.tensor([2.0, -4.0],
                                                                                           dtype=anynn.float64))
    opt_w, opt_l2 = optim.AdamW([p], lr=0.1, weight_decay=0.5), optim.Adam([q], lr=0.1, weight_decay=0.5)
    for t in (p, q):
        t.grad = anynn.zeros(2, dtype=anynn.float64)
    opt_w.step()
    opt_l2.step()
    assert_close(p, np.array([2.0, -4.0]) * (1 - 0.1 * 0.5))
    assert_close(q, np.array([2.0, -4.0]) - 0.1 * np.sign([2.0, -4.0]), rtol=1e-6, atol=0)


# ------------------------------------------------------------------ errors
def test_constructor_errors(backend):
    p = make_params()[0]
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(ValueError, match="needs a 'params' entry"):
        optim.SGD([{"lr": 0.1}])
    with pytest.raises(TypeError, match="set"):
        optim.SGD({p})
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2.0])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(3)])
    with pytest.raises(ValueError, match="Invalid lr"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(TypeError, match="lr must be a Python number"):
        optim.Adam([p], lr="0.1")
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.AdamW([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], nesterov=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optim.SGD([p, p])
    assert any("duplicate" in str(w.message) for w in caught)


def test_step_checks_gradients(backend):
    p = make_params()[0]
    opt = optim.SGD([p], lr=0.1)
    p.grad = anynn.zeros(4, 3, dtype=anynn.float64)
    with pytest.raises(ValueError, match=r"shape \(3, 4\) but its .grad has shape \(4, 3\)"):
        opt.step()
    p.grad = anynn.zeros(3, 4, dtype=anynn.float32)
    with pytest.raises(TypeError, match="float64 but its .grad is anynn.float32"):
        opt.step()


def test_load_state_dict_errors(backend):
    params = make_params()
    opt = optim.Adam(groups(params), lr=0.1)
    anynn_step(opt, params)
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam(params).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"param_groups\[1\] has 3 parameters in the checkpoint but 2 here"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:3]}]).load_state_dict(saved)
    swapped = optim.Adam([{"params": [params[1]]}, {"params": [params[0]] + params[2:]}])
    with pytest.raises(ValueError, match=r"has shape \(3, 4\) but its parameter has shape \(4,\)"):
        swapped.load_state_dict(saved)
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})

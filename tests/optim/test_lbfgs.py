"""optim.LBFGS: the float64 trajectory (parameters, returned losses, closure calls, state counters) equals
PyTorch's, with and without the strong-Wolfe line search, on every backend; float32 kept; the closure protocol
and argument errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn import nn
from helpers import assert_close, torch_or_skip

RNG = np.random.default_rng(0)
X_HOST, Y_HOST = RNG.standard_normal((12, 3)), RNG.standard_normal((12, 2))
W0, B0 = RNG.standard_normal((2, 3)) * 0.5, RNG.standard_normal(2) * 0.5
Z0 = np.array([-1.2, 1.0])


def _regression(lib, params, x, y):
    """A smooth non-quadratic problem over two parameters: tanh regression plus a quartic penalty."""
    w, b = params
    out = lib.tanh(x @ w.T + b)
    return ((out - y) ** 2).mean() + 0.01 * (w ** 4).sum()


def _rosenbrock(lib, params, x, y):
    (z,) = params
    return (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2


PROBLEMS = {"regression": (_regression, (W0, B0)), "rosenbrock": (_rosenbrock, (Z0,))}


def _run(lib, problem, steps, dtype, **opts):
    """``steps`` LBFGS steps of ``lib`` (anynn or torch): the parameters and returned loss after each step, the
    closure calls per step and the final state counters."""
    fn, init = PROBLEMS[problem]
    params = [lib.tensor(a, dtype=dtype, requires_grad=True) for a in init]
    x, y = lib.tensor(X_HOST, dtype=dtype), lib.tensor(Y_HOST, dtype=dtype)
    opt = lib.optim.LBFGS(params, **opts)
    calls = [0]

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = fn(lib, params, x, y)
        loss.backward()
        return loss

    trajectory = []
    for _ in range(steps):
        calls[0] = 0
        loss = opt.step(closure)
        trajectory.append(([p.detach().numpy().copy() for p in params], loss.item(), calls[0]))
    state = opt.state[params[0]]
    return trajectory, (state["func_evals"], state["n_iter"]), params


CONFIGS = [
    dict(lr=1, max_iter=20, history_size=100, line_search_fn=None),
    dict(lr=0.5, max_iter=5, history_size=3, line_search_fn=None),
    dict(lr=1, max_iter=20, history_size=100, line_search_fn="strong_wolfe"),
    dict(lr=1, max_iter=6, max_eval=9, history_size=2, line_search_fn="strong_wolfe", tolerance_change=1e-12),
]


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("opts", CONFIGS, ids=str)
def test_trajectory_matches_torch(backend, problem, opts):
    torch = torch_or_skip()
    ours, our_counts, _ = _run(anynn, problem, 4, anynn.float64, **opts)
    theirs, their_counts, _ = _run(torch, problem, 4, torch.float64, **opts)
    assert our_counts == their_counts
    for (params, loss, calls), (tparams, tloss, tcalls) in zip(ours, theirs):
        assert calls == tcalls
        assert_close(loss, tloss, rtol=1e-8, atol=1e-12)
        for p, tp in zip(params, tparams):
            assert_close(p, tp, rtol=1e-8, atol=1e-12)


def test_converges_with_line_search(backend):
    """Rosenbrock's valley from (-1.2, 1): the minimum (1, 1) to 1e-6 once the tolerances let it get there."""
    trajectory, _, _ = _run(anynn, "rosenbrock", 5, anynn.float64, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)
    assert_close(trajectory[-1][0][0], np.array([1.0, 1.0]), rtol=0, atol=1e-6)


def test_float32_parameters_stay_float32(backend):
    trajectory, _, params = _run(anynn, "regression", 2, anynn.float32, line_search_fn="strong_wolfe")
    assert all(p.dtype is anynn.float32 for p in params)
    assert trajectory[-1][1] < trajectory[0][1]


def test_trains_a_module_and_state_dict_holds_the_history(backend):
    anynn.manual_seed(0)
    model = nn.Linear(3, 2, dtype=anynn.float64)
    x, y = anynn.tensor(X_HOST, dtype=anynn.float64), anynn.tensor(Y_HOST, dtype=anynn.float64)
    opt = anynn.optim.LBFGS(model.parameters(), lr=0.8, history_size=5)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = float(opt.step(closure))
    second = float(opt.step(closure))
    assert second < first
    state = opt.state_dict()["state"][0]
    assert state["n_iter"] >= 2 and 1 <= len(state["old_dirs"]) <= 5
    assert state["d"].shape == (8,) and state["prev_flat_grad"].shape == (8,)


def test_stops_at_once_where_the_gradient_is_zero(backend):
    z = anynn.tensor([1.0, 1.0], dtype=anynn.float64, requires_grad=True)
    opt = anynn.optim.LBFGS([z])

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(anynn, [z], None, None)
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 0.0
    assert opt.state[z]["func_evals"] == 1 and opt.state[z]["n_iter"] == 0
    assert_close(z.detach().numpy(), np.array([1.0, 1.0]))


def test_errors():
    p = anynn.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"LBFGS: line_search_fn must be None or 'strong_wolfe', got 'armijo'"):
        anynn.optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ValueError, match=r"LBFGS: Invalid lr value: -1"):
        anynn.optim.LBFGS([p], lr=-1)
    with pytest.raises(ValueError, match=r"LBFGS: history_size must be a positive int, got 0"):
        anynn.optim.LBFGS([p], history_size=0)
    with pytest.raises(ValueError, match=r"LBFGS doesn't support per-parameter options"):
        anynn.optim.LBFGS([{"params": [p]}, {"params": [anynn.zeros(1, requires_grad=True)]}])
    with pytest.raises(RuntimeError, match=r"LBFGS.step needs a closure"):
        anynn.optim.LBFGS([p]).step(None)

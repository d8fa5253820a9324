"""Multi-tensor updates on flat buffers: never stale after any rebinding, per-parameter where PyTorch's
semantics need it (missing gradients, disagreeing states), mixed dtypes, copies, shared gradients.

Most tests run an optimizer twice, on flat buffers and with ``foreach=False`` (one update per parameter, the
path every optimizer had before), with the same interventions, and require the same bits.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import anynn
from anynn import backends as B
from anynn import nn, optim
from anynn.nn import Parameter
from helpers import F32, assert_close, torch_or_skip

F64 = anynn.float64
STEPS = 6
STATEFUL = {
    "SGD": dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05),
    "Adam": dict(lr=0.05, weight_decay=0.1, amsgrad=True),
    "RMSprop": dict(lr=0.02, momentum=0.5, centered=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01),
    "Adadelta": dict(weight_decay=0.1),
}
FIRST_KEY = {"SGD": "momentum_buffer", "Adam": "exp_avg", "RMSprop": "square_avg", "Adagrad": "sum",
             "Adadelta": "acc_delta"}


def make_model(dtype=F64):
    anynn.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5, dtype=dtype), nn.Tanh(), nn.Linear(5, 2, dtype=dtype))


def train_step(model, opt, t):
    """One step on batch number ``t`` (the same batch for the same ``t``, on the model's backend)."""
    rng = np.random.default_rng(t)
    p = next(iter(model.parameters()))
    with anynn.use_backend(p.backend.name):
        x = anynn.tensor(rng.standard_normal((7, 3)), dtype=p.dtype)
        y = anynn.tensor(rng.standard_normal((7, 2)), dtype=p.dtype)
        opt.zero_grad()
        ((model(x) - y) ** 2).sum().backward()
        opt.step()


def count_updates(opt):
    """Record the ``_update`` calls of ``opt``: one per bucket on the flat path, one per parameter otherwise."""
    calls = []
    update = opt._update

    def recording(p, grad, state, group):
        calls.append(tuple(p.shape))
        update(p, grad, state, group)

    opt._update = recording
    return calls


def assert_same(flat_model, loop_model, flat_opt, loop_opt):
    for p, q in zip(flat_model.parameters(), loop_model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    for p, q in zip(flat_model.parameters(), loop_model.parameters()):
        state, expected = flat_opt.state.get(p, {}), loop_opt.state.get(q, {})
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, anynn.Tensor):
                np.testing.assert_array_equal(state[key].numpy(), value.numpy())
            else:
                assert state[key] == value


def twins(name, kwargs, dtype=F64):
    """The same model and optimizer twice: on flat buffers, and per parameter."""
    flat_model, loop_model = make_model(dtype), make_model(dtype)
    flat_opt = getattr(optim, name)(flat_model.parameters(), **kwargs)
    loop_opt = getattr(optim, name)(loop_model.parameters(), **kwargs, foreach=False)
    return flat_model, loop_model, flat_opt, loop_opt


def run_with(name, kwargs, intervene, at=3, dtype=F64):
    """Train the twins, apply ``intervene(model, opt)`` to both before step ``at``, and require the same bits
    after every step and the flat path (one update per step) after the intervention as before it."""
    flat_model, loop_model, flat_opt, loop_opt = twins(name, kwargs, dtype)
    calls = count_updates(flat_opt)
    for t in range(STEPS):
        if t == at:
            intervene(flat_model, flat_opt)
            intervene(loop_model, loop_opt)
        calls.clear()
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
        assert len(calls) == 1, f"step {t} ran {len(calls)} updates, not one flat update"
        assert_same(flat_model, loop_model, flat_opt, loop_opt)
    return flat_model, flat_opt


# ------------------------------------------------------------------------------------ rebinding
@pytest.mark.parametrize("name", STATEFUL)
def test_model_load_state_dict_rebinds_every_parameter(backend, name):
    weights = {k: v.numpy() * 0.5 for k, v in make_model().state_dict().items()}
    run_with(name, STATEFUL[name], lambda model, opt: model.load_state_dict(weights))


@pytest.mark.parametrize("name", STATEFUL)
def test_user_rebinds_one_parameter(backend, name):
    def halve_first_bias(model, opt):
        bias = model[0].bias
        bias.array = bias.array * 0.5

    run_with(name, STATEFUL[name], halve_first_bias)


@pytest.mark.parametrize("name", STATEFUL)
def test_optimizer_load_state_dict_rebinds_every_state_tensor(backend, name):
    saved = {}
    flat_model, loop_model, flat_opt, loop_opt = twins(name, STATEFUL[name])
    for t in range(2):
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
    saved[id(flat_opt)], saved[id(loop_opt)] = flat_opt.state_dict(), loop_opt.state_dict()
    calls = count_updates(flat_opt)
    for t in range(2, STEPS):
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
    flat_opt.load_state_dict(saved[id(flat_opt)])  # back to the state of step 2, values unlike the buffers'
    loop_opt.load_state_dict(saved[id(loop_opt)])
    calls.clear()
    for t in range(STEPS, STEPS + 3):
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
        assert_same(flat_model, loop_model, flat_opt, loop_opt)
    assert len(calls) == 3


@pytest.mark.parametrize("name", STATEFUL)
def test_user_rebinds_or_replaces_a_state_tensor(backend, name):
    key = FIRST_KEY[name]

    def rebind(model, opt):
        t = opt.state[model[2].weight][key]
        t.array = t.array * 0.25

    def replace(model, opt):
        opt.state[model[0].bias][key] = opt.state[model[0].bias][key] * 3.0

    run_with(name, STATEFUL[name], rebind)
    run_with(name, STATEFUL[name], replace)


def test_model_to_another_dtype_makes_new_buffers(backend):
    flat_model, opt = run_with("SGD", dict(lr=0.1), lambda model, opt: model.to(anynn.float32))
    assert all(p.dtype == anynn.float32 for p in flat_model.parameters())
    assert [bucket.dtype for bucket in opt._buckets[0].buckets] == [flat_model[0].weight.array.dtype]


def test_model_to_another_backend_makes_new_buffers(backend):
    others = [n for n in ("numpy", "torch", "array_api_strict") if n != backend.name and not B.why_unavailable(n)]
    if not others:
        pytest.skip("no second backend available here")
    flat_model, opt = run_with("SGD", dict(lr=0.1), lambda model, opt: model.to(others[0]))
    assert all(p.backend.name == others[0] for p in flat_model.parameters())
    assert opt._buckets[0].buckets[0].backend is flat_model[0].weight.backend


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_two_optimizers_over_the_same_parameters(backend, name):
    """Each re-homes the parameters into its own buffers when its turn comes; neither goes stale."""
    flat_model, loop_model = make_model(), make_model()
    flat_a, flat_b = (getattr(optim, name)(flat_model.parameters(), **STATEFUL[name]) for _ in range(2))
    loop_a, loop_b = (getattr(optim, name)(loop_model.parameters(), **STATEFUL[name], foreach=False)
                      for _ in range(2))
    for t in range(STEPS):
        train_step(flat_model, (flat_a, flat_b)[t % 2], t)
        train_step(loop_model, (loop_a, loop_b)[t % 2], t)
        for p, q in zip(flat_model.parameters(), loop_model.parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("name", STATEFUL)
def test_deep_copy_is_independent(backend, name):
    flat_model, loop_model, flat_opt, loop_opt = twins(name, STATEFUL[name])
    for t in range(2):
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
    model_copy, opt_copy = copy.deepcopy((flat_model, flat_opt), {id(backend): backend})  # backends are shared
    before = [p.numpy() for p in flat_model.parameters()]
    for t in range(2, STEPS):
        train_step(model_copy, opt_copy, t)
        train_step(loop_model, loop_opt, t)
        assert_same(model_copy, loop_model, opt_copy, loop_opt)
    for p, old in zip(flat_model.parameters(), before):  # the original saw none of the copy's steps
        np.testing.assert_array_equal(p.numpy(), old)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_parameters_and_state_are_views_into_flat_buffers(backend, name):
    """A write into a bucket's flat buffers shows in every parameter and every state tensor."""
    model = make_model()
    opt = getattr(optim, name)(model.parameters(), **STATEFUL[name])
    train_step(model, opt, 0)
    (bucket,) = opt._buckets[0].buckets
    xp = backend.xp
    bucket.param.array[...] = xp.zeros_like(bucket.param.array)
    bucket.flat_state([opt.state[p] for p in bucket.params])[FIRST_KEY[name]].array[...] = 7.0
    for p in model.parameters():
        assert not p.numpy().any()
        assert (opt.state[p][FIRST_KEY[name]].numpy() == 7.0).all()


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_frozen_parameters_do_not_keep_the_rest_per_parameter(backend, name):
    """Parameters with requires_grad=False get no gradient; they stay out of the buckets, so the others still
    step flat. Unfreezing them makes the buckets again."""
    flat_model, loop_model, flat_opt, loop_opt = twins(name, STATEFUL[name])
    for model in (flat_model, loop_model):
        model[0].requires_grad_(False)
    calls = count_updates(flat_opt)
    for t in range(STEPS):
        if t == 3:
            for model in (flat_model, loop_model):
                model[0].requires_grad_(True)
        calls.clear()
        train_step(flat_model, flat_opt, t)
        train_step(loop_model, loop_opt, t)
        assert_same(flat_model, loop_model, flat_opt, loop_opt)
        if t < 3:
            assert calls == [(5 * 2 + 2,)]  # the second Linear, flat
    assert len(calls) == (1 if name == "SGD" else 4)  # unfrozen: SGD's fresh buffers agree, Adam's steps do not


# --------------------------------------------------------------------- per-parameter fallback
def masked_steps(opt, params, masks, lib):
    """Steps whose loss uses only the parameters marked in each mask: the others have no gradient."""
    for mask in masks:
        opt.zero_grad()
        loss = None
        for i, (p, used) in enumerate(zip(params, mask)):
            if used:
                term = ((lib.tanh(p) * (i + 1.0) - 0.3) ** 2).sum()
                loss = term if loss is None else loss + term
        loss.backward()
        opt.step()


MASKS = [(1, 0, 1, 1), (1, 1, 1, 1), (0, 1, 1, 0), (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1)]


@pytest.mark.parametrize("name", STATEFUL)
def test_parameters_without_gradient_are_skipped_as_in_torch(backend, name):
    """A step where some parameters of a bucket have no gradient runs per parameter (no decay, no momentum
    for them, as in PyTorch); SGD's momentum buffers agree again once every parameter has one, and the flat
    path returns. Adam-family step counts that differ keep the per-parameter path, as they must."""
    torch = torch_or_skip()
    init = [np.random.default_rng(i).standard_normal(shape) for i, shape in enumerate([(3, 2), (4,), (), (2, 2)])]
    params = [Parameter(anynn.tensor(v, dtype=F64)) for v in init]
    tparams = [torch.tensor(v, requires_grad=True) for v in init]
    opt = getattr(optim, name)(params, **STATEFUL[name])
    topt = getattr(torch.optim, name)(tparams, **STATEFUL[name])
    calls = count_updates(opt)
    for step, mask in enumerate(MASKS):
        calls.clear()
        masked_steps(opt, params, [mask], anynn)
        masked_steps(topt, tparams, [mask], torch)
        for p, tp in zip(params, tparams):
            assert_close(p, tp.detach().numpy())
        if not all(mask):
            assert len(calls) == sum(mask)
    if name == "SGD":
        assert len(calls) == 1, "every momentum buffer exists after the second step: the last steps run flat"
    else:
        assert len(calls) == len(params), "different step counts: per parameter"
    for p, tp in zip(params, tparams):
        state, tstate = opt.state[p], topt.state[tp]
        assert state.keys() == tstate.keys()
        for key, value in tstate.items():
            if key == "step":
                assert state[key] == float(value)
            else:
                assert_close(state[key], value.detach().numpy())


def test_mixed_dtypes_in_one_group_make_one_bucket_each(backend):
    torch = torch_or_skip()
    init = [np.random.default_rng(i).standard_normal(shape) for i, shape in enumerate([(3, 2), (4,), (2,), (5,)])]
    dtypes = [anynn.float32, F64, anynn.float32, F64]
    tdtypes = [torch.float32, torch.float64, torch.float32, torch.float64]
    params = [Parameter(anynn.tensor(v, dtype=d)) for v, d in zip(init, dtypes)]
    tparams = [torch.tensor(v, dtype=d, requires_grad=True) for v, d in zip(init, tdtypes)]
    opt = optim.Adam(params, lr=0.05, weight_decay=0.1)
    topt = torch.optim.Adam(tparams, lr=0.05, weight_decay=0.1)
    calls = count_updates(opt)
    for _ in range(STEPS):
        calls.clear()
        for o, ps, lib in ((opt, params, anynn), (topt, tparams, torch)):
            o.zero_grad()
            for p in ps:
                ((lib.tanh(p) - 0.3) ** 2).sum().backward()
            o.step()
        assert sorted(calls) == [(8,), (9,)]
        for p, tp in zip(params, tparams):
            assert p.dtype == (anynn.float32 if tp.dtype == torch.float32 else F64)
            assert_close(p, tp.detach().numpy(), **(F32 if p.dtype == anynn.float32 else {}))
    assert [b.indices for b in opt._buckets[0].buckets] == [[0, 2], [1, 3]]


def test_duplicate_parameters_update_once_per_occurrence(backend):
    p, q = Parameter(anynn.tensor([1.0, -2.0], dtype=F64)), Parameter(anynn.tensor([1.0, -2.0], dtype=F64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt, loop = optim.SGD([p, p], lr=0.1, momentum=0.9), optim.SGD([q, q], lr=0.1, momentum=0.9, foreach=False)
    for _ in range(3):
        p.grad, q.grad = anynn.tensor([0.5, 1.0], dtype=F64), anynn.tensor([0.5, 1.0], dtype=F64)
        opt.step()
        loop.step()
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert not np.array_equal(p.numpy(), [1.0, -2.0])


@pytest.mark.parametrize("name", STATEFUL)
def test_gradient_arrays_are_never_written(backend, name):
    """One gradient array shared by two parameters (the engine may do that) is read, copied, never written."""
    a, b = Parameter(anynn.tensor([1.0, -2.0, 0.5], dtype=F64)), Parameter(anynn.tensor([0.3, 0.1, -1.0], dtype=F64))
    opt = getattr(optim, name)([a, b], **STATEFUL[name])
    calls = count_updates(opt)
    for t in range(3):
        g = anynn.tensor(np.random.default_rng(t).standard_normal(3), dtype=F64)
        expected = g.numpy()
        a.grad = b.grad = g
        opt.step()
        np.testing.assert_array_equal(g.numpy(), expected)
        for state in opt.state.values():
            for value in state.values():
                if isinstance(value, anynn.Tensor):
                    assert value.array is not g.array
    assert len(calls) == 3


def test_foreach_option_is_kept_in_param_groups(backend):
    p = Parameter(anynn.tensor([1.0], dtype=F64))
    assert optim.Adam([p]).param_groups[0]["foreach"] is None
    assert optim.SGD([p], foreach=False).state_dict()["param_groups"][0]["foreach"] is False


@pytest.mark.real_preference
def test_foreach_none_chooses_flat_updates_by_device():
    """As PyTorch's foreach default: flat where array operations are kernel launches (the cupy backend, here
    its counting mirror), per parameter on CPU backends; True and False force either."""
    from anynn import profiler
    from anynn.backends import backend_for

    def optimizer_launches(backend, **kwargs):
        with anynn.use_backend(backend):
            params = [anynn.randn(3, requires_grad=True) for _ in range(8)]
            opt = optim.SGD(params, lr=0.1, momentum=0.9, **kwargs)
            for _ in range(2):
                for p in params:
                    p.grad = anynn.ones(3)
                with profiler.count() as tally:
                    opt.step()
        return tally.launches

    gpu_like, cpu_like = backend_for("counting", "cupy"), backend_for("counting", "numpy")
    assert gpu_like.multi_tensor_updates and not cpu_like.multi_tensor_updates
    assert not backend_for("numpy").multi_tensor_updates
    assert optimizer_launches(gpu_like) == 8 + 1                  # gathering + the flat update (cupy: one kernel)
    assert optimizer_launches(cpu_like) == 8 * 4                  # per parameter
    assert optimizer_launches(cpu_like, foreach=True) == 8 + 4    # the standard update: 4 operations
    assert optimizer_launches(gpu_like, foreach=False) == 8 * 1

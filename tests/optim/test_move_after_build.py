"""``model.to(...)`` after the optimizer was built: the optimizer keeps working and its state moves with the
parameters (as PyTorch's in-place moves allow), on the per-parameter and the flat-buffer paths; the trajectory
across moves equals torch's without any move."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn import nn, optim
from helpers import assert_close, torch_or_skip

CASES = [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
         ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
         ("AdamW", dict(lr=0.05, weight_decay=0.3)),
         ("RMSprop", dict(lr=0.02, momentum=0.7, centered=True)),
         ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
         ("Adadelta", dict(lr=0.7, rho=0.8))]
_rng = np.random.default_rng(3)
X, Y = _rng.standard_normal((6, 3)), _rng.standard_normal((6, 2))


def _models(lib_nn):
    return lib_nn.Sequential(lib_nn.Linear(3, 4), lib_nn.Tanh(), lib_nn.Linear(4, 2))


def _twins():
    torch = torch_or_skip()
    ours, theirs = _models(nn).double(), _models(torch.nn).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _step(model, opt, lib):
    x = lib.tensor(X, dtype=lib.float64)
    y = lib.tensor(Y, dtype=lib.float64)
    if lib is anynn:
        x, y = x.to(model.backend), y.to(model.backend)
    opt.zero_grad()
    ((model(x) - y) ** 2).sum().backward()
    opt.step()


def _state_tensors(opt):
    return [(p, key, value) for p, state in opt.state.items() for key, value in state.items()
            if isinstance(value, anynn.Tensor)]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("case", CASES, ids=[name for name, _ in CASES])
def test_moving_between_backends_keeps_the_trajectory_of_torch(backend, case, foreach):
    torch = torch_or_skip()
    name, kwargs = case
    ours, theirs = _twins()
    opt = getattr(optim, name)(ours.parameters(), foreach=foreach, **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    other = anynn.backends.backend_for("torch" if backend.name != "torch" else "numpy")
    plan = [None, None, other, None, None, backend, None]  # where the model moves before each step
    for where in plan:
        if where is not None:
            held = {(id(p), key): value for p, key, value in _state_tensors(opt)}
            assert ours.to(where) is ours
            assert all(p.backend is where for p in ours.parameters())
        _step(ours, opt, anynn)
        _step(theirs, topt, torch)
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            assert_close(p, tp.detach().numpy())
        states = _state_tensors(opt)
        assert states and all(value.backend is ours.backend for _, _, value in states)
        if where is not None:  # the same state objects, moved (references to them stay valid)
            assert all(held[(id(p), key)] is value for p, key, value in states if (id(p), key) in held)
    if foreach:
        for gi, group in enumerate(opt.param_groups):
            assert all(bucket.bound() for bucket in opt._buckets[gi].buckets)
            assert sum(len(b.indices) for b in opt._buckets[gi].buckets) == len(group["params"])


def test_a_dtype_move_casts_the_state_and_the_update_continues(backend):
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = anynn.tensor(X, dtype=anynn.float32)
    model(x).sum().backward()
    opt.step()
    before = {id(p): (p.numpy().astype(np.float64), opt.state[p]["momentum_buffer"].numpy().astype(np.float64))
              for p in model.parameters()}
    model.double()
    opt.zero_grad()
    model(x.double()).sum().backward()
    grads = {id(p): p.grad.numpy() for p in model.parameters()}
    opt.step()
    for p in model.parameters():
        value, buf = before[id(p)]
        expected_buf = 0.9 * buf + grads[id(p)]
        assert opt.state[p]["momentum_buffer"].dtype == anynn.float64 and p.dtype == anynn.float64
        assert_close(opt.state[p]["momentum_buffer"], expected_buf)
        assert_close(p, value - 0.1 * expected_buf)


def test_gradients_move_with_their_parameters_like_torch(backend):
    torch = torch_or_skip()
    model, tmodel = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    model(anynn.ones(1, 2)).sum().backward()
    tmodel(torch.ones(1, 2)).sum().backward()
    model.double()
    tmodel.double()
    assert model.weight.grad.dtype == anynn.float64 and tmodel.weight.grad.dtype == torch.float64
    assert_close(model.weight.grad, tmodel.weight.grad.numpy())


def test_cpu_device_moves_stay_on_the_backend_and_cuda_says_why(backend):
    model = nn.Linear(2, 2)
    if backend.device_name not in ("cpu", "CPU_DEVICE"):  # a GPU backend (or the counting one that mimics CuPy)
        assert model.to("cpu") is model and model.backend.name == "numpy"  # 'cpu' is NumPy's, as .cpu() for CuPy
        return
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    weight = model.weight
    device = anynn.device("cuda" if anynn.cuda.is_available() else "cpu")
    for target in ("cpu", anynn.device("cpu"), device):
        assert model.to(target) is model and model.backend is backend and model.weight is weight
    model.cpu()
    model(anynn.ones(1, 2)).sum().backward()
    opt.step()
    assert opt.state[weight]["momentum_buffer"].backend is backend
    assert weight.device == "cpu" and str(weight.device) == "cpu"
    if not anynn.cuda.is_available():
        with pytest.raises(anynn.BackendUnavailable, match="cannot move to cuda"):
            model.cuda()
        with pytest.raises(anynn.BackendUnavailable, match="cannot move to cuda"):
            anynn.ones(2).cuda()


def test_from_a_gpu_like_backend_to_the_cpu_and_back():
    """The counting backend mirrors CuPy's decisions on the host (flat updates by default, no CPU of its own):
    ``model.cpu()`` lands on NumPy, the optimizer leaves its flat buffers for per-parameter updates there, and
    moving back makes new flat buffers; the trajectory is torch's all along."""
    torch = torch_or_skip()
    gpu_like = anynn.backends.backend_for("counting", "cupy")
    ours, theirs = _twins()
    ours.to(gpu_like)
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for move in (None, "cpu", None, gpu_like, None):
        if move == "cpu":
            assert ours.cpu() is ours and ours.backend is anynn.backends.backend_for("numpy")
        elif move is not None:
            ours.to(move)
        _step(ours, opt, anynn)
        _step(theirs, topt, torch)
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            assert_close(p, tp.detach().numpy())
        assert all(value.backend is ours.backend for _, _, value in _state_tensors(opt))
        if ours.backend.multi_tensor_updates:  # stepped on flat buffers: every parameter is still its view
            assert all(bucket.bound() for bucket in opt._buckets[0].buckets)
    assert opt._buckets[0].buckets and all(bucket.backend is gpu_like for bucket in opt._buckets[0].buckets)

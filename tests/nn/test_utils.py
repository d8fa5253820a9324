"""anynn.nn.utils against torch.nn.utils: gradient clipping by norm and value, parameters <-> vector."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import anynn
from anynn.nn import Parameter
from anynn.nn import utils as U
from helpers import F32, assert_close, torch_or_skip

_rng = np.random.default_rng(0)
SHAPES = [(3, 4), (4,), (), (2, 1, 3)]
GRADS = [_rng.standard_normal(s) for s in SHAPES]


def anynn_params(grads=GRADS, dtype=anynn.float64, skip_last_grad=True):
    """Parameters with the given gradients; the last one has no gradient (clipping must ignore it)."""
    params = [Parameter(anynn.zeros(*g.shape, dtype=dtype)) for g in grads]
    for p, g in zip(params[:-1] if skip_last_grad else params, grads):
        p.grad = anynn.tensor(g, dtype=dtype)
    return params


def torch_params(grads=GRADS, dtype=None, skip_last_grad=True):
    torch = torch_or_skip()
    dtype = dtype or torch.float64
    params = [torch.zeros(g.shape, dtype=dtype, requires_grad=True) for g in grads]
    for p, g in zip(params[:-1] if skip_last_grad else params, grads):
        p.grad = torch.tensor(g, dtype=dtype)
    return params


def assert_grads(params, tparams, **tol):
    for p, tp in zip(params, tparams):
        assert (p.grad is None) == (tp.grad is None)
        if p.grad is not None:
            assert_close(p.grad, tp.grad.numpy(), **tol)


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1, 3.0, 0.5, 0, -math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.7, 1e3])
def test_clip_grad_norm_equals_torch(backend, norm_type, max_norm):
    torch = torch_or_skip()
    params, tparams = anynn_params(), torch_params()
    norm = U.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(norm, anynn.Tensor) and norm.shape == () and norm.backend is backend
    assert_close(norm, tnorm.numpy())
    assert_grads(params, tparams)


def test_clip_grad_norm_float32_stays_float32(backend):
    torch = torch_or_skip()
    params, tparams = anynn_params(dtype=anynn.float32), torch_params(dtype=torch.float32)
    norm = U.clip_grad_norm_(params, 0.5)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, 0.5)
    assert norm.dtype == anynn.float32
    assert all(p.grad.dtype == anynn.float32 for p in params[:-1])
    assert_close(norm, tnorm.numpy(), **F32)
    assert_grads(params, tparams, **F32)


def test_clip_grad_norm_single_tensor_and_split_api(backend):
    torch = torch_or_skip()
    p, tp = anynn_params()[0], torch_params()[0]
    assert_close(U.clip_grad_norm_(p, 0.3), torch.nn.utils.clip_grad_norm_(tp, 0.3).numpy())
    assert_close(p.grad, tp.grad.numpy())
    params, tparams = anynn_params(), torch_params()
    total = U.get_total_norm([p.grad for p in params[:-1]], norm_type=3.0)
    ttotal = torch.nn.utils.get_total_norm([p.grad for p in tparams[:-1]], norm_type=3.0)
    assert_close(total, ttotal.numpy())
    U.clip_grads_with_norm_(params, 0.4, total)
    torch.nn.utils.clip_grads_with_norm_(tparams, 0.4, ttotal)
    assert_grads(params, tparams)


def test_clip_rebinds_instead_of_writing_shared_arrays(backend):
    """Two parameters holding one gradient array: clipping one must leave the other alone."""
    a, b = anynn_params()[:2]
    shared = anynn.tensor(GRADS[1], dtype=anynn.float64)
    a.grad, b.grad = shared, anynn.Tensor._make(shared.array, shared.backend)
    U.clip_grad_norm_([a], 0.1)
    U.clip_grad_value_([a], 0.01)
    np.testing.assert_array_equal(b.grad.numpy(), GRADS[1])
    assert float(abs(a.grad).max()) <= 0.01


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_nonfinite_norm(backend):
    torch = torch_or_skip()
    grads = [GRADS[0], np.array([1.0, np.inf, 2.0, -1.0]), GRADS[3]]
    params, tparams = anynn_params(grads), torch_params(grads)
    with pytest.raises(RuntimeError, match="non-finite"):
        U.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(tparams, 1.0, error_if_nonfinite=True)
    norm = U.clip_grad_norm_(params, 1.0)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    assert math.isinf(float(norm)) and math.isinf(float(tnorm))
    assert_grads(params, tparams)


def test_no_gradients(backend):
    params = anynn_params(skip_last_grad=True)
    for p in params:
        p.grad = None
    assert float(U.clip_grad_norm_(params, 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        U.clip_grad_norm_((p for p in []), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        U.clip_grad_norm_([], 1.0)


@pytest.mark.parametrize("clip_value", [0.3, 5.0])
def test_clip_grad_value_equals_torch(backend, clip_value):
    torch = torch_or_skip()
    params, tparams = anynn_params(), torch_params()
    assert U.clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    assert_grads(params, tparams)
    params32 = anynn_params(dtype=anynn.float32)
    U.clip_grad_value_(params32, clip_value)
    assert all(p.grad.dtype == anynn.float32 for p in params32[:-1])


def test_parameters_to_vector_and_back(backend):
    torch = torch_or_skip()
    values = [_rng.standard_normal(s) for s in SHAPES]
    params = [Parameter(anynn.tensor(v, dtype=anynn.float64)) for v in values]
    tparams = [torch.tensor(v, requires_grad=True) for v in values]
    vec = U.parameters_to_vector(params)
    tvec = torch.nn.utils.parameters_to_vector(tparams)
    assert_close(vec, tvec.detach().numpy())
    weights = np.arange(vec.shape[0], dtype=np.float64)
    (vec * anynn.tensor(weights, dtype=anynn.float64)).sum().backward()
    (tvec * torch.tensor(weights)).sum().backward()
    for p, tp in zip(params, tparams):
        assert_close(p.grad, tp.grad.numpy())

    new = anynn.tensor(np.linspace(-1, 1, vec.shape[0]), dtype=anynn.float64)
    U.vector_to_parameters(new, params)
    torch.nn.utils.vector_to_parameters(torch.tensor(np.linspace(-1, 1, vec.shape[0])), tparams)
    for p, tp, v in zip(params, tparams, values):
        assert p.shape == v.shape
        assert_close(p, tp.detach().numpy())
    new.array *= 0.0  # the parameters hold copies, not views of the vector
    assert float(abs(params[0]).sum()) > 0


def test_vector_to_parameters_errors(backend):
    params = [Parameter(anynn.zeros(3, dtype=anynn.float64))]
    with pytest.raises(TypeError, match="vector_to_parameters got vec of type .*: expected an anynn Tensor"):
        U.vector_to_parameters(np.zeros(3), params)
    with pytest.raises(ValueError, match=r"expected shape \(3,\)"):
        U.vector_to_parameters(anynn.zeros(4, dtype=anynn.float64), params)


def test_parameters_to_vector_gradcheck(backend):
    """Every parameter shape of SHAPES (a 0-d one included) finite-differenced through the joined vector."""
    params = [Parameter(anynn.tensor(_rng.standard_normal(s), dtype=anynn.float64)) for s in SHAPES]
    assert anynn.gradcheck(lambda *ps: U.parameters_to_vector(ps), params)

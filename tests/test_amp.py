"""anynn.amp against torch.amp: autocast's dtypes per op, float32 master gradients, GradScaler step for step."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import F32, assert_close, blobs, raises, torch_or_skip

import anynn
import anynn.nn.functional as F
from anynn import amp

torch = torch_or_skip()
TF = torch.nn.functional
# Two tensors rounded to float16 identically and multiplied differ by the rounding of the result and of the
# accumulation order: a few float16 ulps (2**-10 relative) on values of order 1.
HALF = dict(rtol=4e-3, atol=4e-3)


def _lower_available(backend) -> bool:
    """array-api-strict has no float16 (not in the standard): autocast is a no-op there."""
    return backend.name != "array_api_strict"


def _pair(rng, *shape, scale=1.0):
    host = (rng.standard_normal(shape) * scale).astype(np.float32)
    return anynn.tensor(host), torch.tensor(host)


def _op_table(rng):
    """(name, anynn call, torch call) on float32 inputs; several chain a float16 GEMM into a float32 op."""
    (x, tx), (w, tw), (b, tb) = _pair(rng, 4, 8), _pair(rng, 3, 8, scale=0.3), _pair(rng, 3)
    (img, timg), (cw, tcw) = _pair(rng, 2, 3, 6, 6), _pair(rng, 4, 3, 3, 3, scale=0.3)
    (seq, tseq), (cw1, tcw1) = _pair(rng, 2, 3, 7), _pair(rng, 4, 3, 3, scale=0.3)
    (z, tz), (ones, tones) = _pair(rng, 4, 3), (anynn.ones(3), torch.ones(3))
    labels, tlabels = anynn.tensor([0, 2, 1, 0]), torch.tensor([0, 2, 1, 0])
    probs, tprobs = anynn.tensor(rng.random((4, 3)).astype(np.float32)), None
    tprobs = torch.tensor(probs.numpy())

    def both(fn_ours, fn_theirs):
        return lambda: fn_ours(F.linear(x, w, b)), lambda: fn_theirs(TF.linear(tx, tw, tb))

    return {
        "linear": (lambda: F.linear(x, w, b), lambda: TF.linear(tx, tw, tb)),
        "matmul": (lambda: anynn.matmul(x, w.T), lambda: torch.matmul(tx, tw.T)),
        "mm": (lambda: anynn.mm(x, w.T), lambda: torch.mm(tx, tw.T)),
        "einsum": (lambda: anynn.einsum("ij,kj->ik", x, w), lambda: torch.einsum("ij,kj->ik", tx, tw)),
        "bmm": (lambda: anynn.bmm(x[None], w.T[None]), lambda: torch.bmm(tx[None], tw.T[None])),
        "conv2d": (lambda: F.conv2d(img, cw, padding=1), lambda: TF.conv2d(timg, tcw, padding=1)),
        "conv1d": (lambda: F.conv1d(seq, cw1), lambda: TF.conv1d(tseq, tcw1)),
        "softmax": both(lambda h: F.softmax(h, 1), lambda h: TF.softmax(h, 1)),
        "log_softmax": both(lambda h: F.log_softmax(h, 1), lambda h: TF.log_softmax(h, 1)),
        "softmax float32": (lambda: F.softmax(z, 1), lambda: TF.softmax(tz, 1)),
        "cross_entropy": both(lambda h: F.cross_entropy(h, labels), lambda h: TF.cross_entropy(h, tlabels)),
        "cross_entropy probs": both(lambda h: F.cross_entropy(h, probs), lambda h: TF.cross_entropy(h, tprobs)),
        "nll_loss": both(lambda h: F.nll_loss(h, labels), lambda h: TF.nll_loss(h, tlabels)),
        "mse_loss": both(lambda h: F.mse_loss(h, z), lambda h: TF.mse_loss(h, tz)),
        "l1_loss": both(lambda h: F.l1_loss(h, z), lambda h: TF.l1_loss(h, tz)),
        "smooth_l1_loss": both(lambda h: F.smooth_l1_loss(h, z), lambda h: TF.smooth_l1_loss(h, tz)),
        "huber_loss": both(lambda h: F.huber_loss(h, z), lambda h: TF.huber_loss(h, tz)),
        "bce_with_logits": both(lambda h: F.binary_cross_entropy_with_logits(h, probs),
                                lambda h: TF.binary_cross_entropy_with_logits(h, tprobs)),
        "binary_cross_entropy": both(lambda h: F.binary_cross_entropy(anynn.sigmoid(h), probs),
                                     lambda h: TF.binary_cross_entropy(torch.sigmoid(h), tprobs)),
        "multi_margin_loss": both(lambda h: F.multi_margin_loss(h, labels), lambda h: TF.multi_margin_loss(h, tlabels)),
        "batch_norm": both(lambda h: F.batch_norm(h, anynn.zeros(3), anynn.ones(3), ones, ones * 0, training=True),
                           lambda h: TF.batch_norm(h, torch.zeros(3), torch.ones(3), tones, tones * 0,
                                                   training=True)),
        "layer_norm": both(lambda h: F.layer_norm(h, (3,), ones, ones * 0),
                           lambda h: TF.layer_norm(h, (3,), tones, tones * 0)),
        "relu (no policy)": both(F.relu, TF.relu),
        "sum (no policy)": both(lambda h: h.sum(), lambda h: h.sum()),
        "add float32 (promotes)": both(lambda h: h + z, lambda h: h + tz),
    }


def test_dtypes_and_values_follow_torch_cpu_autocast(backend):
    rng = np.random.default_rng(0)
    for name, (ours, theirs) in _op_table(rng).items():
        with anynn.autocast("cpu", dtype=anynn.float16):
            got = ours()
        if _lower_available(backend):
            with torch.autocast("cpu", dtype=torch.float16):
                want = theirs()
        else:
            want = theirs()
        assert got.dtype.name == str(want.dtype).split(".")[-1], name
        assert_close(got.float(), want.float().numpy(), **HALF)


def test_master_weights_get_float32_gradients_equal_to_torch(backend):
    rng = np.random.default_rng(1)
    (x, tx), (w1, tw1), (w2, tw2) = _pair(rng, 8, 6), _pair(rng, 5, 6, scale=0.4), _pair(rng, 3, 5, scale=0.4)
    (cw, tcw) = _pair(rng, 2, 1, 3, 3, scale=0.4)
    labels = rng.integers(0, 3, 8)
    for p in (w1, w2, cw, tw1, tw2, tcw):
        p.requires_grad_(True)
    with anynn.autocast("cpu"):
        h = F.conv2d(x.reshape(8, 1, 2, 3), cw, padding=1).reshape(8, 12)[:, :6]
        loss = F.cross_entropy(F.linear(F.relu(F.linear(x + h.float(), w1)), w2), anynn.tensor(labels))
    with torch.autocast("cpu", dtype=torch.float16, enabled=_lower_available(backend)):
        th = TF.conv2d(tx.reshape(8, 1, 2, 3), tcw, padding=1).reshape(8, 12)[:, :6]
        tloss = TF.cross_entropy(TF.linear(TF.relu(TF.linear(tx + th, tw1)), tw2), torch.tensor(labels))
    loss.backward()
    tloss.backward()
    assert loss.dtype is anynn.float32
    for ours, theirs in ((w1, tw1), (w2, tw2), (cw, tcw)):
        assert ours.grad.dtype is anynn.float32
        assert_close(ours.grad, theirs.grad.numpy(), **HALF)


def test_cuda_policy_on_tensors_that_report_cuda(backend, monkeypatch):
    """PyTorch's CUDA lists differ from its CPU ones: softmax, log_softmax and layer_norm give float32, batch_norm
    keeps its float16 input's dtype, binary_cross_entropy is refused. Checked here with every tensor reporting
    a CUDA device (no GPU runs this suite); ``autocast("cpu")`` then covers none of them."""
    monkeypatch.setattr(amp, "_device_type", lambda t: "cuda")
    x, w, ones = anynn.randn(4, 3), anynn.randn(3, 3), anynn.ones(3)
    lower = anynn.float16 if _lower_available(backend) else anynn.float32
    with anynn.autocast("cpu"):
        assert F.linear(x, w).dtype is anynn.float32
    with anynn.autocast("cuda"):
        h = F.linear(x, w)
        assert h.dtype is lower
        assert F.softmax(h, 1).dtype is F.log_softmax(h, 1).dtype is anynn.float32
        assert F.layer_norm(h, (3,), ones, ones * 0).dtype is anynn.float32
        assert F.batch_norm(h, anynn.zeros(3), anynn.ones(3), ones, ones * 0, training=True).dtype is lower
        assert F.cross_entropy(h, anynn.tensor([0, 1, 2, 0])).dtype is anynn.float32
        with raises(RuntimeError, "binary_cross_entropy is unsafe to autocast", "with_logits"):
            F.binary_cross_entropy(anynn.sigmoid(h), anynn.zeros(4, 3))


def test_regions_nest_disable_decorate_and_stay_in_their_thread(backend):
    x, w = anynn.randn(2, 4), anynn.randn(3, 4)
    lower = anynn.float16 if _lower_available(backend) else anynn.float32
    assert not anynn.is_autocast_enabled("cpu") and amp.active == 0
    with anynn.autocast("cpu"):
        assert anynn.is_autocast_enabled("cpu") and not anynn.is_autocast_enabled("cuda")
        assert anynn.get_autocast_dtype("cpu") is anynn.float16
        assert F.linear(x, w).dtype is lower
        with anynn.autocast("cpu", enabled=False):
            assert F.linear(x, w).dtype is anynn.float32 and not anynn.is_autocast_enabled("cpu")
        with anynn.autocast("cuda"):  # covers CUDA tensors only, as in PyTorch
            assert F.linear(x, w).dtype is lower
        seen = []
        worker = threading.Thread(target=lambda: seen.append((anynn.is_autocast_enabled("cpu"),
                                                               F.linear(x, w).dtype)))
        worker.start()
        worker.join()
        assert seen == [(False, anynn.float32)]
    with anynn.autocast("cuda"):
        assert F.linear(x, w).dtype is anynn.float32
    assert not anynn.is_autocast_enabled("cpu") and amp.active == 0

    @anynn.autocast("cpu")
    def forward(a, b):
        return F.linear(a, b)

    assert forward(x, w).dtype is lower and F.linear(x, w).dtype is anynn.float32


def test_a_weight_is_cast_once_per_region_and_again_after_it_changes(backend):
    x, w = anynn.randn(2, 4), anynn.randn(3, 4, requires_grad=True)
    if not _lower_available(backend):  # no float16 in the standard: nothing is cast, nothing cached
        with anynn.autocast("cpu"):
            assert amp.cast_inputs("linear", w)[0] is w and F.linear(x, w).dtype is anynn.float32
            assert not amp._state.cache
        return
    with anynn.autocast("cpu"):
        F.linear(x, w)
        F.linear(x * 2, w)
        first = amp.cast_inputs("linear", w)[0]
        assert amp.cast_inputs("linear", w)[0] is first and len(amp._state.cache) == 1
        with anynn.no_grad():
            w.array = w.array * 2  # an optimizer's step rebinds the array: the cached cast is stale
        again = amp.cast_inputs("linear", w)[0]
        assert again is not first
        assert_close(again, (w.numpy() * 1).astype(np.float16), **F32)
        with anynn.autocast("cpu", cache_enabled=False):
            assert amp.cast_inputs("linear", w)[0] is not again
    assert not amp._state.cache


def test_clear_errors(backend):
    with raises(TypeError, "bfloat16", "anynn.float16"):
        anynn.autocast("cpu", dtype="bfloat16")
    with raises(TypeError, "bfloat16"):
        anynn.autocast("cuda", dtype=torch.bfloat16)
    with raises(ValueError, "device_type 'tpu'", "cpu"):
        anynn.autocast("tpu")
    with pytest.warns(UserWarning, match="not supported"):
        region = anynn.autocast("cpu", dtype=anynn.float32)
    with region:
        assert not anynn.is_autocast_enabled("cpu")
    assert amp.POLICY["cuda"]["binary_cross_entropy"] == amp.UNSAFE  # PyTorch refuses it in CUDA autocast too
    with pytest.warns(FutureWarning, match="anynn.amp.autocast"):
        region = anynn.cuda.amp.autocast()
    assert region.device == "cuda"


# ------------------------------------------------------------------ GradScaler against torch.amp.GradScaler
def _scaler_run(backend, steps, bad, unscale_first=(), **options):
    """Train ``loss = sum(p * c_t)`` with both scalers; ``bad`` maps a step to the value (inf or nan) put into
    its coefficients. Returns both trajectories: (scale, growth tracker, stepped?, weights) per step."""
    rng = np.random.default_rng(3)
    start = rng.standard_normal(5).astype(np.float32)
    p, tp = anynn.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    opt, topt = anynn.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    ours, theirs = amp.GradScaler("cpu", **options), torch.amp.GradScaler("cpu", **options)
    trace, ttrace = [], []
    for t in range(steps):
        c = rng.standard_normal(5).astype(np.float32)
        if t in bad:
            c[t % 5] = bad[t]
        for scaler, param, optimizer, tensor, out in ((ours, p, opt, anynn.tensor, trace),
                                                       (theirs, tp, topt, torch.tensor, ttrace)):
            optimizer.zero_grad()
            before = param.detach().numpy().copy()
            scaler.scale((param * tensor(c)).sum()).backward()
            if t in unscale_first:
                scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()
            stepped = not np.array_equal(before, param.detach().numpy())
            out.append((scaler.get_scale(), scaler._get_growth_tracker(), stepped, param.detach().numpy().copy()))
    return trace, ttrace, ours, theirs


@pytest.mark.parametrize("options", [dict(init_scale=2.0 ** 16, growth_interval=3),
                                     dict(init_scale=1000.0, growth_factor=1.7, backoff_factor=0.3,
                                          growth_interval=2)])
def test_scaler_trajectory_equals_torch(backend, options):
    bad = {1: np.inf, 2: np.nan, 6: -np.inf, 7: np.inf, 12: np.nan}
    trace, ttrace, ours, theirs = _scaler_run(backend, 16, bad, unscale_first={4, 9}, **options)
    for t, ((s, g, stepped, w), (ts, tg, tstepped, tw)) in enumerate(zip(trace, ttrace)):
        assert (s, g, stepped) == (ts, tg, tstepped), t
        assert stepped == (t not in bad)
        assert_close(w, tw, **F32)
    assert ours.state_dict() == theirs.state_dict()


# near float32's largest power of two, the scaled loss overflows on some steps on purpose (NumPy warns)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_scaler_grows_to_overflow_of_the_scale_itself_as_torch(backend):
    trace, ttrace, _, _ = _scaler_run(backend, 6, {}, init_scale=2.0 ** 126, growth_interval=1)
    assert [r[:3] for r in trace] == [r[:3] for r in ttrace]  # 2**127 grows once, then float32 has no 2**128


def test_scaler_state_dict_update_and_disabled(backend):
    ours, theirs = amp.GradScaler("cpu", growth_interval=5), torch.amp.GradScaler("cpu", growth_interval=5)
    assert ours.get_scale() == theirs.get_scale() == 2.0 ** 16 and ours.state_dict() == theirs.state_dict()
    copy = amp.GradScaler("cpu")
    copy.load_state_dict({"scale": 8.0, "growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 7,
                          "_growth_tracker": 2})
    p = anynn.ones(2, requires_grad=True)
    copy.scale(p.sum()).backward()
    assert_close(p.grad, np.full(2, 8.0), **F32)
    opt = anynn.optim.SGD([p], lr=0.1)
    copy.step(opt)
    copy.update()
    assert copy.state_dict() == {"scale": 8.0, "growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 7,
                                 "_growth_tracker": 3}
    copy.update(new_scale=4.0)
    assert copy.get_scale() == 4.0
    copy.update(new_scale=anynn.tensor([2.0]))
    assert copy.get_scale() == 2.0
    off = amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {} and not off.is_enabled()
    with raises(RuntimeError, "empty"):
        amp.GradScaler("cpu").load_state_dict({})
    if not anynn.cuda.is_available():  # as torch.amp.GradScaler("cuda") without a GPU
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not amp.GradScaler("cuda").is_enabled()


def test_scaler_errors_name_the_misuse(backend):
    p = anynn.ones(2, requires_grad=True)
    opt = anynn.optim.SGD([p], lr=0.1)
    scaler = amp.GradScaler("cpu")
    with raises(RuntimeError, "scale(loss)"):
        scaler.step(opt)
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    with raises(RuntimeError, "already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with raises(RuntimeError, "step() has already been called"):
        scaler.step(opt)
    with raises(RuntimeError, "after step()"):
        scaler.unscale_(opt)
    scaler.update()
    with raises(RuntimeError, "closure"):
        scaler.step(opt, closure=lambda: None)
    with raises(ValueError, "growth_factor"):
        amp.GradScaler("cpu", growth_factor=1.0)
    if _lower_available(backend):
        h = anynn.ones(2, dtype=anynn.float16, requires_grad=True)
        half_opt = anynn.optim.SGD([h], lr=0.1)
        h.grad = anynn.ones(2, dtype=anynn.float16)
        with raises(ValueError, "float16 gradients"):
            scaler.unscale_(half_opt)


def test_small_model_trains_under_autocast_and_scaler_like_float32(backend):
    """Both runs start from the same weights and see the same batch; float16 rounding (up to 2**-11 relative
    per GEMM input and result) perturbs each step a little, so after 60 steps the losses agree closely but not to
    the bit (0.05% apart on NumPy): the final losses must be within 5% of each other, both far below the
    starting loss of ~0.9."""
    x, y = blobs(64, classes=3, features=8, seed=2)
    losses = {}
    for mixed in (False, True):
        anynn.manual_seed(0)
        model = anynn.nn.Sequential(anynn.nn.Linear(8, 16), anynn.nn.ReLU(), anynn.nn.Linear(16, 3))
        opt = anynn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        scaler = amp.GradScaler("cpu", enabled=mixed)
        for _ in range(60):
            opt.zero_grad()
            with anynn.autocast("cpu", enabled=mixed):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        assert all(p.dtype is anynn.float32 for p in model.parameters())
        losses[mixed] = float(loss)
    assert losses[False] < 0.2 and losses[True] < 0.2
    assert abs(losses[True] - losses[False]) <= 0.05 * losses[False]

"""The two autograd hooks DistributedDataParallel is built on (anynn/autograd/engine.py)."""
from __future__ import annotations

import pytest

import anynn
from anynn.autograd import engine


def test_post_accumulate_hook_sees_the_summed_gradient_once_per_backward(backend):
    w = anynn.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = engine.register_post_accumulate_grad_hook(w, lambda t: seen.append(t.grad.tolist()))
    ((w * 3.0).sum() + (w * w).sum()).backward()  # two uses of w: one hook call, after both are summed
    assert seen == [[5.0, 7.0]]
    (w * 2.0).sum().backward()  # accumulates into the existing grad; the hook sees the accumulated value
    assert seen == [[5.0, 7.0], [7.0, 9.0]]
    handle.remove()
    (w * 2.0).sum().backward()
    assert len(seen) == 2


def test_post_accumulate_hook_skips_leaves_no_gradient_reached(backend):
    a = anynn.tensor([1.0], requires_grad=True)
    b = anynn.tensor([1.0], requires_grad=True)
    seen = []
    for t, name in ((a, "a"), (b, "b")):
        engine.register_post_accumulate_grad_hook(t, lambda t, name=name: seen.append(name))
    (a * 2.0).sum().backward()
    assert seen == ["a"]


def test_hooks_only_on_leaves_that_require_grad(backend):
    x = anynn.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        engine.register_post_accumulate_grad_hook(x * 2.0, lambda t: None)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        engine.register_post_accumulate_grad_hook(anynn.tensor([1.0]), lambda t: None)


def test_queued_callback_runs_once_after_every_gradient_is_accumulated(backend):
    a = anynn.tensor([1.0, 2.0], requires_grad=True)
    b = anynn.tensor([3.0], requires_grad=True)
    events = []

    def hook(t):
        events.append("hook")
        if events.count("hook") == 1:
            engine.queue_callback(lambda: events.append(("end", a.grad.tolist(), b.grad.tolist())))

    engine.register_post_accumulate_grad_hook(a, hook)
    engine.register_post_accumulate_grad_hook(b, hook)
    ((a * b).sum()).backward()
    assert events == ["hook", "hook", ("end", [3.0, 3.0], [3.0])]
    events.clear()
    ((a * b).sum()).backward()  # queued callbacks run once: nothing left over from the first backward
    assert events == ["hook", "hook", ("end", [6.0, 6.0], [6.0])]


def test_queue_callback_outside_backward_is_an_error():
    with pytest.raises(RuntimeError, match="only be called during backward"):
        engine.queue_callback(lambda: None)


def test_callbacks_of_a_failed_backward_are_dropped(backend):
    a = anynn.tensor([1.0], requires_grad=True)
    ran = []

    def hook(t):
        engine.queue_callback(lambda: ran.append(True))
        raise ValueError("hook fails")

    handle = engine.register_post_accumulate_grad_hook(a, hook)
    with pytest.raises(ValueError, match="hook fails"):
        (a * 2.0).sum().backward()
    handle.remove()
    (a * 2.0).sum().backward()
    assert ran == []
    assert not engine._QUEUED

"""The counting backend and anynn.profiler: what counts as a launch, a host sync and an upload (CuPy's rules),
attribution to ops and phases, and the capture-safe mode."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn import profiler
from anynn.backends import backend_for
from anynn.backends.counting import CountedArray


@pytest.fixture(params=["cupy", "numpy"], ids=["counting(cupy)", "counting(numpy)"])
def counting(request):
    backend = backend_for("counting", request.param)
    with anynn.use_backend(backend):
        yield backend


def _array(backend, host):
    return backend.from_numpy(np.asarray(host, dtype=np.float32))


def test_each_library_call_is_one_launch_and_views_are_free(counting):
    xp = counting.xp
    a, b = _array(counting, np.ones((4, 6))), _array(counting, np.arange(24).reshape(4, 6))
    with profiler.count() as tally:
        c = a * b + 1.0           # two operators
        d = xp.sum(c, axis=1)     # one namespace call (NumPy's own nested calls are not counted)
        xp.permute_dims(c, (1, 0))  # a view
        c[1:3, ::2]               # basic indexing: a view
        xp.reshape(c, (24,))      # a reshape that copies nothing
        xp.reshape(xp.permute_dims(c, (1, 0)), (24,))  # one that must copy
        xp.astype(d, xp.float64)  # a cast copies
    assert isinstance(c, CountedArray) and isinstance(d, CountedArray)
    assert (tally.launches, tally.syncs, tally.uploads) == (5, 0, 0), tally.events


def test_host_reads_are_syncs_and_host_data_is_an_upload(counting):
    xp = counting.xp
    a = _array(counting, [1.0, -2.0, 3.0])
    with profiler.count() as tally:
        float(xp.sum(a))                 # launch + sync
        a[a > 0]                          # compare, mask getitem (launch + sync)
        xp.asarray([1.0, 2.0])            # upload
        counting.to_numpy(a)              # sync
        a[0:1] = np.ones(1, np.float32)   # setitem (launch) from host data (upload)
    assert tally.syncs == 3 and tally.uploads == 2 and tally.launches == 4, tally.events


def test_concatenate_follows_cupys_single_kernel_rule():
    backend = backend_for("counting", "cupy")
    xp = backend.xp
    parts = [_array(backend, np.ones(3)) for _ in range(9)]
    with profiler.count() as many:
        xp.concat(parts)        # more than 8 small arrays: one kernel and an upload of pointer tables
    with profiler.count() as few:
        xp.stack(parts[:8])     # 8 or fewer: one copy per array
    assert (many.launches, many.uploads) == (1, 1)
    assert (few.launches, few.uploads) == (8, 0)


def test_cupy_mirror_uses_its_sync_free_clip_sign_and_randint():
    backend = backend_for("counting", "cupy")
    xp = backend.xp
    a = _array(backend, [-2.0, 0.5, np.nan])
    with profiler.count() as tally:
        clipped = xp.clip(a, -1.0, 1.0)
        signs = xp.sign(a)
        drawn = backend.randint(0, 10, (100,))
    assert tally.syncs == 0 and tally.uploads == 0 and tally.launches > 0
    np.testing.assert_array_equal(backend.to_numpy(clipped), [-1.0, 0.5, np.nan])
    np.testing.assert_array_equal(backend.to_numpy(signs), [-1.0, 1.0, np.nan])
    values = backend.to_numpy(drawn)
    assert values.dtype == np.int64 and values.min() >= 0 and values.max() <= 9


def test_calls_are_attributed_to_the_op_and_the_phase(counting):
    x = anynn.randn(8, 5, requires_grad=True)
    w = anynn.randn(5, 3, requires_grad=True)
    with profiler.count() as tally:
        loss = anynn.nn.functional.relu(x @ w).sum()
        loss.backward()
    ops = {op for (_, op) in tally.by_op()}
    assert {"MatMul.forward", "Relu.forward", "MatMul.backward", "Relu.backward"} <= ops, ops
    assert tally.total("launch", "forward") > 0 and tally.total("launch", "backward") > 0
    assert "MatMul.forward" in profiler.report(tally)


def test_capture_safe_names_the_op_that_reads_back():
    with anynn.use_backend(backend_for("counting", "cupy")):
        x = anynn.randn(4, 3)
        with profiler.capture_safe():
            y = (x * 2.0).sum()                     # stays on the device: fine
            with pytest.raises(profiler.HostSyncError, match=r"reads a value back to the host \(float\(\)\)"):
                float(y)
            with pytest.raises(profiler.HostSyncError, match=r"uploads host data"):
                anynn.tensor(np.ones(3))
        assert float(y) == pytest.approx(float(np.sum(backend_for("counting", "cupy").to_numpy(x.array) * 2.0)))

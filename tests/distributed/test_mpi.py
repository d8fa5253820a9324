"""anynn.distributed under ``mpiexec`` (2 ranks, and 4 oversubscribed on CI's 2 cores), loopback only.

Targets (issue 14): DistributedDataParallel over 2 ranks against one process on the same global batches, 30
SGD-momentum steps: float64 weights within 1e-12 relative, float32 within 1e-5, ranks bit-identical; the same
with no_sync accumulation and with SyncBatchNorm (running statistics included). A rank that raises, exits,
is killed or hangs ends the job within seconds (the deadline for exit and hang), no process left behind.
"""
from __future__ import annotations

import pytest

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "array_api_strict"])
def test_tensor_collectives_on_every_backend(mpirun, backend_name):
    pytest.importorskip(backend_name, reason=f"{backend_name} is not installed")
    run = mpirun(2, "collectives", backend_name)
    assert run.returncode == 0, run.stderr
    r = run.result
    assert r["backend"] == backend_name
    assert r["summed"] == [3.0, 2.0]           # ranks 0 and 1: [1, 0] + [2, 2]
    assert r["mean"] == [1.5, 1.0]
    assert r["biggest"] == [1, 0]
    assert r["shared"] == [2.0, 2.0]           # rank 1's values, broadcast
    assert r["untouched"]                      # the broadcast bound a new array, the old one was not written
    assert r["gathered"] == [[0.0] * 3, [1.0] * 3]
    assert r["objects"] == [{"rank": 0}, {"rank": 1}]
    assert r["told"] == ["hello", 0]
    assert r["same_everywhere"]


@pytest.mark.parametrize("mode", ["plain", "no_sync", "syncbn"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_ranks_equal_one_process(mpirun, dtype, mode):
    run = mpirun(2, "equivalence", dtype, mode, 30)
    assert run.returncode == 0, run.stderr
    r = run.result
    assert r["world"] == 2 and r["steps"] == 30
    assert r["rel"] <= TOLERANCE[dtype], r
    assert r["identical"], "ranks ended with different weights"
    assert r["unused_grad_none"], "a parameter used on no rank got a gradient"
    assert r["buckets"] >= 2  # the check uses tiny buckets so that several reduce during backward
    assert not any(key.startswith("module.") for key in r["state_keys"])


def test_four_ranks_oversubscribed(mpirun):
    run = mpirun(4, "equivalence", "float64", "plain", 30)
    assert run.returncode == 0, run.stderr
    r = run.result
    assert r["world"] == 4
    assert r["rel"] <= 1e-12, r
    assert r["identical"]


def test_plain_batchnorm_differs_from_one_process(mpirun):
    """Per-rank statistics are not the global batch's: what SyncBatchNorm is for (and the check can tell)."""
    run = mpirun(2, "equivalence", "float64", "bn", 30)
    assert run.returncode == 0, run.stderr
    assert run.result["rel"] > 1e-6


def test_parameter_used_on_one_rank_only(mpirun):
    run = mpirun(2, "unused")
    assert run.returncode == 0, run.stderr
    assert run.result == {"matches": True, "nowhere_none": True}


def test_different_models_are_an_error_on_every_rank(mpirun):
    run = mpirun(2, "mismatch")
    assert run.returncode != 0
    assert "constructed a DDP" not in run.stdout
    assert "rank 1 built a different model than rank 0" in run.stderr
    assert "'0.weight' is (3, 5) float32 on rank 1 but (3, 4) float32 on rank 0" in run.stderr
    assert not run.leftover


DEADLINE = 5


@pytest.mark.parametrize("mode, budget", [("raise", 6), ("kill", 6), ("exit", DEADLINE + 6),
                                          ("hang", DEADLINE + 6)])
def test_a_failing_rank_ends_the_job(mpirun, mode, budget):
    run = mpirun(2, "fail", mode, dist_timeout=DEADLINE)
    assert run.returncode != 0
    assert "finished without noticing" not in run.stdout
    assert run.seconds < budget, f"took {run.seconds:.1f} s\n{run.stderr}"
    assert not run.leftover, "a process of the job outlived mpiexec"
    if mode == "raise":
        assert "[rank 1] uncaught RuntimeError; aborting all ranks" in run.stderr
    if mode in ("exit", "hang"):
        assert f"[rank 0] gradient allreduce (bucket 0, step 3) did not complete within {DEADLINE} s" in run.stderr
    # kill: the launcher reports it (MPICH's Hydra names the PID and the signal, not the rank)

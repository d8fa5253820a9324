"""Backend registry and selection: availability and its reasons, ANYNN_BACKEND, one object per device,
dtypes and host conversion, seeding."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anynn
from anynn import backends as B
from anynn.backends import BackendUnavailable


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANYNN_")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                          timeout=120)


def test_available_lists_only_backends_that_run():
    names = anynn.available()
    assert "numpy" in names and set(names) <= set(B.NAMES)
    for name in B.NAMES:
        assert (name in names) == (anynn.why_unavailable(name) is None)


def test_unknown_backend_is_a_clear_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="unknown backend 'tensorflow'.*numpy.*torch"):
        B.backend_for("tensorflow")
    with pytest.raises(ValueError):  # also a ValueError, for code that catches that
        anynn.set_backend("tensorflow")
    assert "unknown backend" in anynn.why_unavailable("tensorflow")


def test_cupy_without_a_gpu_says_why_and_what_to_do():
    reason = anynn.why_unavailable("cupy")
    if reason is None:
        pytest.skip("this machine has a usable GPU, so CuPy is available")
    assert "CuPy" in reason and ("GPU" in reason or "pip install" in reason)
    with pytest.raises(BackendUnavailable) as err:
        B.backend_for("cupy")
    assert str(err.value) == reason


def test_cupy_not_installed_message(monkeypatch):
    monkeypatch.setattr(B, "_cache", {})
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(BackendUnavailable, match=r"CuPy is not installed: pip install 'anynn\[cuda12\]'"):
        B.backend_for("cupy")


def test_cupy_without_driver_message(monkeypatch):
    cupy = pytest.importorskip("cupy")
    pytest.importorskip("array_api_compat.cupy")

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    monkeypatch.setattr(B, "_cache", {})
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", no_driver)
    with pytest.raises(BackendUnavailable, match="no NVIDIA GPU is usable here.*ANYNN_BACKEND=numpy"):
        B.backend_for("cupy")


def test_bad_devices_are_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="cpu' only"):
        B.backend_for("numpy", "cuda:0")
    with pytest.raises(BackendUnavailable, match="no device"):
        B.backend_for("array_api_strict", "GPU_9")
    if anynn.why_unavailable("torch") is None:
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            with pytest.raises(BackendUnavailable, match="no CUDA device"):
                B.backend_for("torch", "cuda")
        with pytest.raises(BackendUnavailable, match="does not know the device"):
            B.backend_for("torch", "nonsense")


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "torch"])
def test_one_backend_object_per_library_and_device(name):
    if anynn.why_unavailable(name):
        pytest.skip(anynn.why_unavailable(name))
    default = B.backend_for(name)
    assert B.backend_for(name, default.device_name) is default
    assert B.backend_for(name, "cpu") is default, "'cpu' and the default device must be the same backend"
    alias = {"numpy": "np", "array_api_strict": "strict", "torch": "pytorch"}[name]
    assert B.backend_for(alias) is default and B.backend_for(name.upper()) is default
    assert repr(default) == f"Backend(name={name!r}, device={default.device_name!r})"


def test_fresh_backend_for_the_cpu_spelling_is_the_same_object(monkeypatch):
    """Asking for 'cpu' first, then the default, must not create two backends that refuse to mix."""
    monkeypatch.setattr(B, "_cache", {})
    first = B.backend_for("numpy", "cpu")
    assert B.backend_for("numpy") is first


def test_set_backend_and_use_backend():
    before = anynn.get_backend()
    with anynn.use_backend("array_api_strict") as strict:
        assert anynn.get_backend() is strict and anynn.zeros(1).backend is strict
        with anynn.use_backend(before):
            assert anynn.get_backend() is before
        assert anynn.get_backend() is strict
    assert anynn.get_backend() is before
    try:
        assert anynn.set_backend("strict") is B.backend_for("array_api_strict")
    finally:
        anynn.set_backend(before)


@pytest.mark.parametrize("name", ["torch", "strict"])
def test_anynn_backend_environment_variable(name):
    if anynn.why_unavailable(name):
        pytest.skip(anynn.why_unavailable(name))
    result = _run("import anynn; print(anynn.get_backend().name, anynn.zeros(1).backend.name, anynn.zeros(1).dtype)",
                  ANYNN_BACKEND=name)
    assert result.returncode == 0, result.stderr
    canonical = B.canonical_name(name)
    assert result.stdout.split() == [canonical, canonical, "anynn.float32"]


def test_default_backend_is_numpy_and_bad_environment_fails_clearly():
    assert _run("import anynn; print(anynn.get_backend().name)").stdout.strip() == "numpy"
    result = _run("import anynn; anynn.zeros(1)", ANYNN_BACKEND="nonsense")
    assert result.returncode != 0 and "unknown backend 'nonsense'" in result.stderr


def test_dtype_mapping_round_trips(backend):
    for dtype in anynn.dtypes.ALL:
        try:
            native = backend.dtype(dtype)
        except TypeError:
            assert backend.name == "array_api_strict" and dtype is anynn.float16
            continue
        assert backend.dtype_of(native) is dtype
        assert anynn.zeros(2, dtype=dtype).dtype is dtype


def test_host_conversions_copy(backend):
    host = np.arange(6.0).reshape(2, 3)
    arr = backend.from_numpy(host)
    host[0, 0] = 50.0
    back = backend.to_numpy(arr)
    assert isinstance(back, np.ndarray) and back[0, 0] == 0.0 and back.shape == (2, 3)
    back[0, 1] = 60.0
    assert backend.to_numpy(arr)[0, 1] == 1.0
    assert backend.to_numpy(backend.from_numpy(host, anynn.float32)).dtype == np.float32
    raw = np.arange(4, dtype=np.int32).tobytes()
    assert backend.to_numpy(backend.from_buffer(raw, anynn.int32, (2, 2))).tolist() == [[0, 1], [2, 3]]


def test_asarray_accepts_every_library(backend):
    for name in anynn.available():
        other = B.backend_for(name)
        source = other.from_numpy(np.array([1.5, 2.5]))
        arr = backend.asarray(source)
        assert backend.is_native(arr) and backend.to_numpy(arr).tolist() == [1.5, 2.5]
        assert backend.dtype_of(backend.asarray(source, anynn.float32).dtype) is anynn.float32
    assert backend.to_numpy(backend.asarray([[1, 2]], anynn.int64)).tolist() == [[1, 2]]


def test_manual_seed_also_seeds_backends_created_later(monkeypatch):
    monkeypatch.setattr(B, "_seed", None)
    monkeypatch.setattr(B, "_cache", {})
    anynn.manual_seed(77)
    first = B.backend_for("numpy").randn((4,), anynn.float32)
    monkeypatch.setattr(B, "_cache", {})
    second = B.backend_for("numpy").randn((4,), anynn.float32)
    np.testing.assert_array_equal(first, second)


def test_synchronize_is_callable(backend):
    backend.synchronize()

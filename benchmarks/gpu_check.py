"""Helpers of benchmarks/gpu_check.sh: record the environment, and summarise the steps' results.

    python3 benchmarks/gpu_check.py env OUT_DIR       # env.json and env.txt
    python3 benchmarks/gpu_check.py summary OUT_DIR   # summary.txt from steps.tsv, the logs and the bench JSON

Only the standard library is required; every library probed is optional and its absence is recorded.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time

LIBRARIES = ("numpy", "cupy", "torch", "array_api_compat", "array_api_strict", "numba", "scipy", "pytest", "xdist",
             "pytest_timeout")


def _version(name: str) -> str:
    try:
        module = importlib.import_module(name)
    except Exception as err:  # absent, or present but broken: both worth recording
        return f"unavailable ({type(err).__name__}: {str(err)[:160]})"
    return str(getattr(module, "__version__", "present"))


def _gpu() -> dict:
    info: dict = {}
    try:
        import cupy

        runtime = cupy.cuda.runtime
        count = runtime.getDeviceCount()
        info["cupy_devices"] = [runtime.getDeviceProperties(i)["name"].decode() for i in range(count)]
        info["cuda_runtime_version"] = runtime.runtimeGetVersion()
        info["cuda_driver_version"] = runtime.driverGetVersion()
        info["cupy_tf32"] = os.environ.get("CUPY_TF32", "0 (unset: CuPy GEMMs in full float32)")
    except Exception as err:
        info["cupy_error"] = f"{type(err).__name__}: {str(err)[:200]}"
    try:
        import torch

        info["torch_cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            info["torch_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["torch_cuda_version"] = torch.version.cuda
            info["torch_matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
            info["torch_cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
            info["torch_cudnn_version"] = torch.backends.cudnn.version()
    except Exception as err:
        info["torch_error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return info


def environment() -> dict:
    env = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": sys.version.split()[0],
           "executable": sys.executable, "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "versions": {name: _version(name) for name in LIBRARIES},
           "anynn_env": {k: v for k, v in os.environ.items()
                         if k.startswith(("ANYNN_", "CUPY_", "CUDA_", "GPU_CHECK"))}}
    try:
        import anynn

        env["anynn"] = getattr(anynn, "__version__", "present")
        env["anynn_available_backends"] = anynn.available()
        env["anynn_cupy_unavailable_because"] = anynn.why_unavailable("cupy")
    except Exception as err:
        env["anynn_error"] = f"{type(err).__name__}: {err}"
    env["gpu"] = _gpu()
    return env


def write_env(out: str) -> int:
    env = environment()
    with open(os.path.join(out, "env.json"), "w") as handle:
        json.dump(env, handle, indent=2, default=str)
    with open(os.path.join(out, "env.txt"), "a") as handle:
        handle.write(f"python {env['python']} ({env['executable']}) on {env['platform']}, {env['cpu_count']} CPUs\n")
        for name, version in env["versions"].items():
            handle.write(f"{name}: {version}\n")
        for key, value in env["gpu"].items():
            handle.write(f"{key}: {value}\n")
        handle.write(f"anynn backends available: {env.get('anynn_available_backends')}\n")
        if env.get("anynn_cupy_unavailable_because"):
            handle.write(f"cupy unavailable: {env['anynn_cupy_unavailable_because']}\n")
    print(json.dumps(env["versions"], indent=1))
    print(json.dumps(env["gpu"], indent=1))
    return 0


def _bench_lines(path: str) -> list[str]:
    try:
        with open(path) as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as err:
        return [f"  {os.path.basename(path)}: unreadable ({err})"]
    lines = []
    for r in payload.get("results", []):
        torch = ""
        if r.get("torch_seconds_per_epoch"):
            torch = (f", torch on {r.get('torch_device')} {r['torch_images_per_second']:.0f} img/s"
                     f" (anynn/torch time {r.get('ratio') or float('nan'):.2f}x)")
        extra = "".join(f", {k} {r[k]}" for k in sorted(r) if "launch" in k or "sync" in k)
        lines.append(f"  {r['model']} on {r['backend']} ({r['device']}): {r['images_per_second']:.0f} img/s, "
                     f"{r['seconds_per_epoch']:.3f} s/epoch{torch}{extra}")
    for f in payload.get("failures", []):
        lines.append(f"  FAILED {f['model']} on {f['backend']}: {f['error']}")
    return lines or [f"  {os.path.basename(path)}: no results"]


def write_summary(out: str) -> int:
    lines, failed = [], 0
    try:
        with open(os.path.join(out, "steps.tsv")) as handle:
            rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    except OSError:
        rows = []
    for name, rc, seconds, *note in rows:
        state = {"0": "ok", "124": "TIMED OUT", "137": "KILLED (timeout)",
                 "skipped": "skipped"}.get(rc, f"FAILED (rc {rc})")
        failed += state not in ("ok", "skipped")
        lines.append(f"{name:<14} {state:<18} {seconds:>6}s  {' '.join(note)}")
    try:
        with open(os.path.join(out, "env.json")) as handle:
            env = json.load(handle)
        gpu = env.get("gpu", {})
        lines.append(f"GPU: {gpu.get('cupy_devices') or gpu.get('torch_devices') or 'none found'}")
        if env.get("anynn_cupy_unavailable_because"):
            lines.append(f"cupy backend UNAVAILABLE (its tests were skipped): {env['anynn_cupy_unavailable_because']}")
    except (OSError, ValueError):
        lines.append("env.json missing or unreadable")
    tests_log = os.path.join(out, "tests.log")
    if os.path.exists(tests_log):
        with open(tests_log, errors="replace") as handle:
            tail = [line.strip() for line in handle
                    if " passed" in line or " failed" in line or "error" in line.lower()]
        if tail:
            lines.append(f"tests: {tail[-1]}")
    try:  # cuDNN vs im2col vs PyTorch per layer shape (benchmarks/cudnn_check.py)
        with open(os.path.join(out, "cudnn_check.json")) as handle:
            for row in json.load(handle).get("layers", []):
                worst = max([v for key in ("im2col_vs_torch", "cudnn_vs_torch") for v in row.get(key, {}).values()],
                            default=float("nan"))
                ms = {key: row.get(f"{key}_ms", float("nan")) for key in ("torch", "im2col", "cudnn")}
                state = str(row.get("cudnn", row.get("error", "-")))[:160]
                lines.append(f"cudnn_check {row['layer']}: torch {ms['torch']:.3f} ms, im2col {ms['im2col']:.3f} ms, "
                             f"cudnn {ms['cudnn']:.3f} ms; worst difference {worst:.1e}; cudnn {state}")
    except (OSError, ValueError):
        pass
    for name in sorted(os.listdir(out)):
        if name.startswith("bench") and name.endswith(".json"):
            lines.append(f"{name}:")
            lines.extend(_bench_lines(os.path.join(out, name)))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.txt"), "w") as handle:
        handle.write(text)
    print(text, end="")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("env", "summary"):
        sys.exit(__doc__)
    sys.exit({"env": write_env, "summary": write_summary}[sys.argv[1]](sys.argv[2]))

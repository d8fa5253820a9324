"""cuDNN convolutions on a GPU: anynn's cuDNN graphs (anynn/backends/cudnn.py) against anynn's im2col path and
PyTorch's cuDNN, for the forward pass (bias fused), the weight gradient and the input gradient.

    python benchmarks/cudnn_check.py --out DIR              # on the GPU machine (gpu_check.sh)
    python benchmarks/cudnn_check.py --backend numpy --out DIR --repeats 1   # anywhere: im2col vs PyTorch only

For each layer shape of the bench models (resnet18's 3x3/1x1/7x7 convolutions, vgg_small's): the largest
difference of each cuDNN result from PyTorch's and from anynn's im2col, and median times (ms) of each. PyTorch runs
with TF32 off, as anynn does unless ANYNN_CUDNN_TF32=1, so the three compute the same float32 arithmetic; the TF32
setting of each is recorded. Writes cudnn_check.json and prints one line per layer; exits 1 when a result differs
by more than the tolerance, 0 otherwise. Where cuDNN cannot run (no frontend, no library, no GPU) the reason is
recorded and only im2col and PyTorch are compared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import anynn  # noqa: E402
from anynn import backends as B  # noqa: E402
from anynn.backends import cudnn  # noqa: E402

#: (name, batch, in channels, size, out channels, kernel, stride, padding)
LAYERS = [
    ("resnet18 stem 7x7/2", 32, 3, 64, 64, 7, 2, 3),
    ("resnet18 3x3 64", 32, 64, 32, 64, 3, 1, 1),
    ("resnet18 3x3/2 128", 32, 64, 32, 128, 3, 2, 1),
    ("resnet18 1x1/2 128", 32, 64, 32, 128, 1, 2, 0),
    ("resnet18 3x3 256", 32, 256, 8, 256, 3, 1, 1),
    ("vgg_small 3x3 32", 128, 32, 32, 32, 3, 1, 1),
]
TOLERANCE = 1e-3  # float32, relative to the largest magnitude of the reference


def _time(fn, sync, repeats: int) -> float:
    """Median milliseconds of ``fn`` over ``repeats`` runs after one warm-up (graph build, compilation)."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times)


def _diff(got, want) -> float:
    want = np.asarray(want, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - want)) / max(np.max(np.abs(want)), 1e-30))


def check_layer(backend, torch, device: str, layer: tuple, repeats: int) -> dict:
    name, n, c, size, k, window, stride, pad = layer
    rng = np.random.default_rng(0)
    host = {"x": rng.standard_normal((n, c, size, size)).astype(np.float32),
            "w": (rng.standard_normal((k, c, window, window)) / np.sqrt(c * window * window)).astype(np.float32),
            "b": rng.standard_normal(k).astype(np.float32)}
    pads = ((pad, pad), (pad, pad))
    out_hw = cudnn.output_hw((size, size), (window, window), (stride, stride), (1, 1), pads)
    host["g"] = rng.standard_normal((n, k) + out_hw).astype(np.float32)
    sync = backend.synchronize
    row: dict = {"layer": name, "shape": [n, c, size, size, k, window, stride, pad]}

    # PyTorch (cuDNN on a GPU), TF32 off: the reference
    t = {key: torch.from_numpy(value).to(device) for key, value in host.items()}
    tx, tw = t["x"].clone().requires_grad_(), t["w"].clone().requires_grad_()

    def torch_step():
        tx.grad = tw.grad = None
        out = torch.nn.functional.conv2d(tx, tw, t["b"], stride=stride, padding=pad)
        out.backward(t["g"])
        return out

    torch_sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    row["torch_ms"] = _time(torch_step, torch_sync, repeats)
    want = {"y": torch_step().detach().cpu().numpy(), "dw": tw.grad.cpu().numpy(), "dx": tx.grad.cpu().numpy()}

    # anynn's im2col path (the cupy backend without ANYNN_CUDNN)
    with anynn.use_backend(backend):
        ax, aw, ab = (anynn.tensor(host[key], requires_grad=True) for key in ("x", "w", "b"))
        ag = anynn.tensor(host["g"])

    def im2col_step():
        ax.grad = aw.grad = ab.grad = None
        out = anynn.nn.functional.conv2d(ax, aw, ab, stride=stride, padding=pad)
        out.backward(ag)
        return out

    row["im2col_ms"] = _time(im2col_step, sync, repeats)
    got = {"y": im2col_step().numpy(), "dw": aw.grad.numpy(), "dx": ax.grad.numpy()}
    row["im2col_vs_torch"] = {key: _diff(got[key], want[key]) for key in want}

    # anynn's cuDNN graphs, called directly
    conv = cudnn.Convolutions()
    arrays = {key: backend.from_numpy(value) for key, value in host.items()}
    geometry = ((stride, stride), (1, 1), pads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = conv.forward(arrays["x"], arrays["w"], arrays["b"], *geometry, out_hw, 1)
    if y is None:
        row["cudnn"] = "not run: " + "; ".join(str(w.message) for w in caught)
        return row

    def cudnn_step():
        return (conv.forward(arrays["x"], arrays["w"], arrays["b"], *geometry, out_hw, 1),
                conv.weight_grad(arrays["x"], arrays["g"], arrays["w"].shape, *geometry),
                conv.input_grad(arrays["g"], arrays["w"], arrays["x"].shape, *geometry))

    row["cudnn_ms"] = _time(cudnn_step, sync, repeats)
    results = cudnn_step()
    if any(r is None for r in results):
        row["cudnn"] = "a pass declined: " + "; ".join(str(w.message) for w in caught)
        return row
    got = dict(zip(("y", "dw", "dx"), (backend.to_numpy(r) for r in results)))
    row["cudnn"] = "ran"
    row["cudnn_vs_torch"] = {key: _diff(got[key], want[key]) for key in want}
    row["cudnn_vs_im2col"] = {key: _diff(got[key], value) for key, value in
                              (("y", want["y"]), ("dw", aw.grad.numpy()), ("dx", ax.grad.numpy()))}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy")
    parser.add_argument("--out", default=".")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--layers", type=int, default=len(LAYERS), help="the first N layer shapes only")
    args = parser.parse_args(argv)
    import torch

    device = "cuda" if args.backend == "cupy" and torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    backend = B.backend_for(args.backend)
    report = {"backend": args.backend, "torch_device": device, "anynn_cudnn_tf32": cudnn.tf32_allowed(),
              "torch_cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
              "torch_cudnn_version": torch.backends.cudnn.version() if device == "cuda" else None, "layers": []}
    failed = False
    for layer in LAYERS[:args.layers]:
        try:
            row = check_layer(backend, torch, device, layer, args.repeats)
        except Exception:  # noqa: BLE001 - recorded, the next layer still runs
            row = {"layer": layer[0], "error": traceback.format_exc()}
        report["layers"].append(row)
        diffs = [v for key in ("im2col_vs_torch", "cudnn_vs_torch") for v in row.get(key, {}).values()]
        bad = "error" in row or any(d > TOLERANCE for d in diffs)
        failed |= bad
        os.makedirs(args.out, exist_ok=True)  # after every layer, so a timeout keeps the layers done
        with open(os.path.join(args.out, "cudnn_check.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        print(f"{row['layer']}: torch {row.get('torch_ms', float('nan')):.3f} ms, im2col "
              f"{row.get('im2col_ms', float('nan')):.3f} ms, cudnn {row.get('cudnn_ms', float('nan')):.3f} ms; "
              f"cudnn {row.get('cudnn', '-')}; worst difference {max(diffs, default=float('nan')):.2e}"
              + ("  FAILED" if bad else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

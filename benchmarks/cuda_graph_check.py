"""Whole-step CUDA graphs on a GPU: captured vs eager trajectories, and step times, per bench model.

    python benchmarks/cuda_graph_check.py --backend cupy --out DIR        # on the GPU machine (gpu_check.sh)
    python benchmarks/cuda_graph_check.py --backend replay --steps 3 --batch-size 4   # anywhere (the emulator)

For each model: STEPS training steps eagerly and the same steps through ``anynn.cuda.GraphedStep`` (one eager
warm-up, one capture, replays), both with a capturable SGD momentum optimizer stepped by a StepLR every step and
dropout masks from the device generator; then the largest loss and weight differences, and the median step time
eager vs replayed over TIMED further steps. Writes cuda_graphs.json (and prints one line per model); exits 1 when
a trajectory differs by more than the tolerance or a step fails, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import anynn  # noqa: E402
from anynn.optim.capturable import make_capturable  # noqa: E402
from anynn import nn  # noqa: E402
from anynn.bench.workload import image_shape  # noqa: E402
from anynn.cuda_graphs import GraphedStep, device_rng  # noqa: E402
from anynn.models import get_model  # noqa: E402
from anynn.optim import lr_scheduler as S  # noqa: E402


def _run(backend, model_name: str, graphed: bool, steps: int, timed: int, batch: int, dtype) -> dict:
    anynn.manual_seed(0)
    c, side, _ = image_shape(model_name)
    rng = np.random.default_rng(1)
    with anynn.use_backend(backend), device_rng():
        extra = {"dropout": 0.2} if model_name == "mlp" else {}
        model = get_model(model_name, in_channels=c, image_size=side, num_classes=10, **extra).to(dtype=dtype)
        opt = anynn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        make_capturable(opt)  # lr and momentum in device scalars (GraphedStep would do it too)
        scheduler = S.StepLR(opt, step_size=1, gamma=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        data = [(anynn.tensor(rng.standard_normal((batch, c, side, side)), dtype=dtype),
                 anynn.tensor(rng.integers(0, 10, batch))) for _ in range(steps + timed)]
        run = GraphedStep(step, data[0], optimizers=[opt], modules=[model]) if graphed else step
        losses, times = [], []
        for i, (x, y) in enumerate(data):
            backend.synchronize()
            began = time.perf_counter()
            loss = run(x, y)
            backend.synchronize()
            if i >= steps:
                times.append(time.perf_counter() - began)
            else:
                losses.append(float(loss.detach().numpy()))
                scheduler.step()
            if i == steps - 1:
                weights = [p.detach().numpy().astype(np.float64) for p in model.parameters()]
        return {"losses": losses, "weights": weights, "ms_per_step": 1e3 * statistics.median(times) if times else None,
                "launches": getattr(run, "launches", None)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy")
    parser.add_argument("--models", default="mlp,lenet5,vgg_small,resnet18")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--timed", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest relative difference allowed")
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args(argv)
    backend = anynn.backends.backend_for(args.backend)
    dtype = getattr(anynn, args.dtype)
    results, ok = {}, True
    for name in args.models.split(","):
        try:
            eager = _run(backend, name, False, args.steps, args.timed, args.batch_size, dtype)
            graph = _run(backend, name, True, args.steps, args.timed, args.batch_size, dtype)
            loss_diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(eager["losses"], graph["losses"]))
            weight_diff = max(float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-12))
                              for a, b in zip(eager["weights"], graph["weights"]))
            row = {"loss_rel_diff": loss_diff, "weight_rel_diff": weight_diff, "eager_losses": eager["losses"],
                   "graph_losses": graph["losses"], "eager_ms": eager["ms_per_step"],
                   "graph_ms": graph["ms_per_step"], "launches_per_graph": graph["launches"],
                   "equal": loss_diff <= args.tolerance and weight_diff <= args.tolerance}
            ok &= row["equal"]
        except Exception as err:  # noqa: BLE001 - record and go on to the next model
            row = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            ok = False
        results[name] = row
        print(f"{name}: " + (row.get("error") or
                             f"loss diff {row['loss_rel_diff']:.2e}, weight diff {row['weight_rel_diff']:.2e}, "
                             f"eager {row['eager_ms']} ms, graph {row['graph_ms']} ms per step"), flush=True)
        os.makedirs(args.out, exist_ok=True)  # after every model: a timeout keeps the models done
        with open(os.path.join(args.out, "cuda_graphs.json"), "w") as handle:
            json.dump({"backend": args.backend, "device": backend.device_name, "batch_size": args.batch_size,
                       "dtype": args.dtype, "models": results}, handle, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

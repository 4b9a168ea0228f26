"""End-to-end GAN benchmark: StyleGAN2 training iterations on fastgen's ops vs the reference backend.

    python benchmarks/e2e_gan.py [--quick] [--device cpu|cuda] [--cycles N] [--compile] [--out DIR]

One timed window is a whole number of regularisation cycles (16 iterations: the path-length step
runs on 4 of them and the R1 step on 1, as configured), so the lazy regularisers are counted at
their intervals. Each backend trains the same model from the same seed on the procedural shapes.
On CPU tensors the GAN ops' "auto" choice is the reference (their C++ launchers lose to oneDNN's
convolutions there), so a CPU run has one backend; the comparison is a GPU one.
Writes ``<out>/<device>-e2e-gan.json`` (DESIGN.md's schema: op ``gan_train_step``, ``ms`` per
iteration, ``throughput`` in images/s, plus peak memory on CUDA) and the fastgen run's sample grid
``<out>/<device>-e2e-gan-samples.png``. Defaults take about 3 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks import harness, report  # noqa: E402
import fastgen.gan  # noqa: E402,F401  (registers the GAN ops with the backend registry)
from fastgen.backend import resolve  # noqa: E402
from fastgen.data.images import ImageDataset, image_loader  # noqa: E402
from fastgen.data.procedural_shapes import default_cache_dir, write_shapes  # noqa: E402
from fastgen.demo import gan_pictures  # noqa: E402
from fastgen.demo.gan_train import Trainer, TrainConfig  # noqa: E402

CYCLE = 16  # lcm of the R1 (16) and path-length (4) intervals


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one cycle per backend, 32x32 (under a minute on a CPU)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when visible")
    p.add_argument("--resolution", type=int, help="default 64 on CUDA, 32 on CPU")
    p.add_argument("--batch", type=int, help="default 64 on CUDA, 16 on CPU")
    p.add_argument("--cycles", type=int, help="timed cycles of 16 iterations per backend (default 2 CPU, 10 CUDA)")
    p.add_argument("--backends", default=None, help="comma list (default: auto's pick on the device, and reference)")
    p.add_argument("--compile", action="store_true",
                   help="also time the reference with G's synthesis and D under torch.compile in the main phases "
                        "(R1 and path length stay eager: AOTAutograd has no double backward); a compile failure "
                        "is recorded with its reason")
    p.add_argument("--fp16-res", type=int, help="synthesis resolutions in float16 (CUDA only; default 2 on CUDA, 0 on CPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the cores this process may use)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    return p.parse_args(argv)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_backend(backend, device, resolution, batch, cycles, loader, compile_model=False, fp16_res=0) -> tuple:
    """(ms per iteration over ``cycles`` cycles, median cycle, peak MB, trainer) after one warm-up cycle."""
    cfg = TrainConfig(resolution=resolution, batch=batch, backend=backend, num_fp16_res=fp16_res,
                      sizes={"z_dim": 64, "w_dim": 64, "channel_base": 512 if device.type == "cpu" else 8192,
                             "channel_max": 64 if device.type == "cpu" else 256})
    trainer = Trainer(cfg, device)
    if compile_model:
        trainer.compile_main_phases()
    batches = [next(loader)[0].to(device, torch.float32) / 127.5 - 1 for _ in range(4)]
    cycle_ms = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for c in range(cycles + 1):  # cycle 0 warms up (allocator, autotuning, compilation)
        _sync(device)
        t = time.perf_counter()
        for i in range(CYCLE):
            trainer.step(batches[i % len(batches)])
        _sync(device)
        if c:
            cycle_ms.append((time.perf_counter() - t) * 1e3 / CYCLE)
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    return statistics.median(cycle_ms), peak, trainer


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else harness.default_device()
    cpu = device.type == "cpu"
    resolution = args.resolution or (32 if cpu or args.quick else 64)
    batch = args.batch or (16 if cpu else 64)
    cycles = args.cycles or (1 if args.quick else (2 if cpu else 10))
    if cpu:
        torch.set_num_threads(args.threads or min(torch.get_num_threads(), len(os.sched_getaffinity(0))))
    backends = args.backends.split(",") if args.backends else ["auto", "reference"]
    data = write_shapes(default_cache_dir(32, 0, 2000), count=2000, resolution=32, seed=0)
    loader = image_loader(ImageDataset(data, resolution), batch, workers=0)
    device_name, slug = harness.device_label(device)
    busy = harness.cpu_contention(device)
    if busy:
        print(f"warning: {busy}")
    records, out = [], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = []
    for b in backends:  # "auto" is recorded as what it picks: the backend the whole model ran on
        name = resolve("conv2d_resample", b, device)
        if (name, False) in plan:
            print(f"{b}: runs the {name} backend on {device.type} tensors, already in the plan")
            continue
        plan.append((name, False))
    plan += [("reference", True)] if args.compile else []
    fp16_res = args.fp16_res if args.fp16_res is not None else (2 if device.type == "cuda" else 0)
    if fp16_res and device.type != "cuda":
        print("--fp16-res: float16 synthesis runs on CUDA only (CPU runs float32)")
    for backend, compiled in plan:
        name = "compile" if compiled else backend
        record = {"case": f"gan_train_step_{resolution}px_b{batch}", "op": "gan_train_step",
                  "backend": name, "direction": "fwd+bwd+bwd2",
                  "shape": {"resolution": resolution, "batch": batch, "iterations_per_cycle": CYCLE},
                  "dtype": "float16+float32" if device.type == "cuda" and fp16_res else "float32",
                  "gbps": None, "pct_of_peak": None}
        try:
            ms, peak, trainer = run_backend(backend, device, resolution, batch, cycles, loader, compiled, fp16_res)
        except Exception as exc:  # noqa: BLE001  (torch.compile's failures have many types: record, go on)
            if not compiled:
                raise
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:500]
            print(f"{name:<10} failed under torch.compile: {reason}")
            records.append({**record, "ms": None, "throughput": None, "peak_mb": None, "error": reason})
            continue
        print(f"{name:<10} {ms:9.1f} ms/iter  {batch * 1e3 / ms:8.1f} images/s" + (f"  peak {peak:.0f} MB" if peak else ""))
        records.append({**record, "ms": round(ms, 3), "throughput": round(batch * 1e3 / ms, 2),
                        "throughput_unit": "images/s", "peak_mb": None if peak is None else round(peak, 1)})
        if (backend, compiled) == plan[0]:
            with torch.no_grad():
                z = torch.randn(64, trainer.G.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
                gan_pictures.save_grid(trainer.G_ema(z, noise_mode="const"), 8, out / f"{slug}-e2e-gan-samples.png")
    result = {**report.environment(device_name, None, None), "cpu_contention": busy,
              "threads": torch.get_num_threads() if cpu else None, "records": records}
    path = out / f"{slug}-e2e-gan.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

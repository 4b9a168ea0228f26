"""End-to-end NeRF benchmark: the demo's training on the procedural scene, fastgen vs the reference.

``python benchmarks/e2e_nerf.py [--quick] [--profile]`` trains the same model (same seed, same
steps) once with fastgen's kernels (backend "auto") and once with every op on its PyTorch
reference (``--backend reference``), and writes ``benchmarks/results/<device>-e2e-nerf.json``
(records with ``op`` = ``nerf_train_step``: ``ms`` per step, ``throughput`` in rays/s, final test
``psnr`` and ``time_to_psnr``) plus the pictures: ``<device>-e2e-nerf-psnr.png`` (PSNR vs wall
time of both runs), ``<device>-e2e-nerf-views.png`` (fastgen's test views | ground truth) and
``<device>-e2e-nerf-turntable.gif``. ``--profile`` also profiles one training step of the kernel
backend with torch.profiler and writes the breakdown as ``<device>-e2e-nerf-profile.md``.

``--nerfacc [MODULE]`` adds a third run of the same field on nerfacc 0.5.3's ``OccGridEstimator`` and
``rendering`` (the default on a GPU when nerfacc is installed: its marching needs CUDA); with
``fastgen.compat.nerfacc`` as MODULE it runs anywhere, which the tests use to check the swap.

Sizes: CPU 64x64 for 200 steps (``--quick``: 32x32, 60 steps), GPU 400x400 for 2000 steps.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import cpu_contention, default_device, device_label  # noqa: E402
from benchmarks.report import environment  # noqa: E402
from fastgen.demo import nerf, pictures  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# a training step's time split by the scopes fastgen.models.ngp records, and the backward ops by name
CATEGORIES = ("encoding", "mlp", "marching", "compositing", "grid_update", "optimizer")


def _size(device, quick):
    if device.type == "cuda":
        return (200, 500) if quick else (400, 2000)
    return (32, 60) if quick else (64, 200)  # the reference backend's steps are most of the ~4 minutes


def _train(backend, resolution, steps, seed, cache, out, threads, extra=()):
    argv = [*extra, "--backend", backend, "--resolution", str(resolution), "--steps", str(steps), "--seed", str(seed),
            "--cache", cache, "--out", str(out), "--no-resume", "--eval-every", str(max(steps // 10, 1)),
            "--eval-views", "2", "--quiet"]
    if threads:
        argv += ["--threads", str(threads)]
    rc, model = nerf.run(argv)
    if rc != 0:
        raise SystemExit(f"e2e_nerf: the {backend} run failed with exit code {rc}")
    return json.loads((out / "summary.json").read_text()), model


def _record(summary, resolution, steps):
    return {"case": f"nerf_train_step-procedural-{resolution}px", "op": "nerf_train_step",
            "backend": summary["backend"], "direction": "fwd+bwd",
            "shape": {"resolution": resolution, "steps": steps, "scene": "procedural"}, "dtype": "float32",
            "ms": summary["ms_per_step"], "gbps": None, "pct_of_peak": None,
            "throughput": summary["rays_per_s"], "throughput_unit": "rays", "samples_per_s": summary["samples_per_s"],
            "psnr": summary["psnr"], "ssim": summary["ssim"], "time_to_psnr": summary["time_to_psnr"],
            "wall_time_s": summary["wall_time_s"], "cpu_time_s": summary.get("cpu_time_s"),
            "peak_memory_bytes": summary["peak_memory_bytes"]}


def _category(name: str):
    if name in CATEGORIES:
        return name
    low = name.lower()
    if low.startswith("optimizer.step") or "adam" in low:
        return "optimizer"
    if "backward" in low or "evaluate_function" in low:
        if "hash_grid" in low:
            return "encoding"
        if "composite" in low:
            return "compositing"
        if any(k in low for k in ("mm", "threshold", "relu", "sigmoid", "truncexp", "tbackward")):
            return "mlp"
    return None


def profile_step(model, resolution, seed, cache):
    """Markdown table: one training step of the trained ``model`` (kernel backend), by category."""
    from torch.profiler import ProfilerActivity, profile

    from fastgen.data.blender import load_split, over
    from fastgen.models.ngp import make_optimizer

    data = load_split(nerf.procedural_scene.cached(cache, resolution=resolution, seed=seed), "train",
                      device=next(model.parameters()).device)
    optimizer = make_optimizer(model)
    gen = torch.Generator(data.images.device).manual_seed(seed)
    model.train()

    def step(i):
        model.update_grid(i, generator=gen)
        rays_o, rays_d, rgba = data.random_rays(2048, gen)
        bg = torch.rand(2048, 3, generator=gen, device=rays_o.device)
        rgb, _, n = model.render(rays_o, rays_d, bg, stratified=True)
        loss = torch.nn.functional.mse_loss(rgb, over(rgba, bg))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return n

    for i in range(1, 4):
        step(i)
    times, totals = [], dict.fromkeys(CATEGORIES + ("other ops",), 0.0)
    for i in (1007, 1008):  # past the warm-up: the sparse occupancy update of every 16th step
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            n = step(i)
            wall = time.perf_counter() - t0
        weight = 15 / 16 if i == 1007 else 1 / 16  # a typical step, and the update step's share
        times.append(wall * weight)
        for ev in prof.events():
            cat, node = None, ev
            while node is not None and cat is None:
                cat, node = _category(node.name), node.cpu_parent
            totals[cat or "other ops"] += ev.self_cpu_time_total / 1e6 * weight
    wall = sum(times)
    glue = max(wall - sum(totals.values()), 0.0)
    rows = [(k, v) for k, v in totals.items()] + [("Python overhead (not in any op)", glue)]
    backend = nerf._resolved_backend(model.backend, data.images.device)
    lines = [f"One training step, {resolution}x{resolution} procedural scene, 2048 rays (~{n} samples), "
             f"backend {backend}, {torch.get_num_threads()} threads; the occupancy update (every 16th "
             "step) is averaged in. `encoding` and `mlp` include the no-grad density pass of the marcher's "
             "visibility test.", "",
             "| part | ms | share |", "| --- | ---: | ---: |"]
    for name, sec in sorted(rows, key=lambda r: -r[1]):
        lines.append(f"| {name} | {sec * 1e3:.1f} | {100 * sec / wall:.0f}% |")
    lines.append(f"| **total** | {wall * 1e3:.1f} | 100% |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller scene and fewer steps")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default torch's)")
    p.add_argument("--profile", action="store_true", help="also write the step breakdown (markdown)")
    p.add_argument("--nerfacc", default=None, metavar="MODULE", nargs="?", const="nerfacc",
                   help="also train the same field on this nerfacc-API module's estimator and rendering "
                        "(default with a GPU: nerfacc 0.5.3 itself, whose marching needs CUDA)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "fastgen-e2e-nerf"))
    args = p.parse_args(argv)
    device = default_device()
    name, slug = device_label(device)
    resolution, steps = _size(device, args.quick)
    resolution, steps = args.resolution or resolution, args.steps or steps
    warning = cpu_contention(device)
    if warning:
        print(f"warning: {warning}")
    results = Path(args.out)
    results.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="e2e-nerf-"))
    nerfacc = args.nerfacc
    if nerfacc is None and device.type == "cuda":
        try:
            import nerfacc as _  # noqa: F401
            nerfacc = "nerfacc"
        except ImportError:
            print("nerfacc is not installed: no nerfacc side-by-side (`pip install nerfacc==0.5.3`)")
    plan = [("auto", "auto", ()), ("reference", "reference", ())]
    if nerfacc:
        plan.append(("nerfacc", "auto", ("--nerfacc", nerfacc)))
    summaries, models = {}, {}
    for key, backend, extra in plan:
        t0 = time.perf_counter()
        summaries[key], models[key] = _train(backend, resolution, steps, args.seed, args.cache,
                                             runs / key, args.threads, extra)
        s = summaries[key]
        print(f"{s['backend']:>10}: {s['ms_per_step']:.1f} ms/step, {s['rays_per_s'] / 1e3:.1f}k rays/s, "
              f"test PSNR {s['psnr']:.2f} dB, SSIM {s['ssim']:.3f} ({time.perf_counter() - t0:.0f} s in all)")
    fast, ref = summaries["auto"], summaries["reference"]
    speedup = ref["ms_per_step"] / fast["ms_per_step"]
    print(f"speedup of a training step: {speedup:.2f}x ({fast['backend']} vs reference)")
    if "nerfacc" in summaries:
        print(f"vs {summaries['nerfacc']['backend']}: "
              f"{summaries['nerfacc']['ms_per_step'] / fast['ms_per_step']:.2f}x per step")
    env = environment(name, None, None)
    env["cpu_contention"] = warning
    env["records"] = [_record(s, resolution, steps) for s in summaries.values()]
    (results / f"{slug}-e2e-nerf.json").write_text(json.dumps(env, indent=1))
    label = {"reference": "every op on its PyTorch reference", "nerfacc": "nerfacc's estimator and rendering"}
    curves = {label.get(s["backend"], f"fastgen kernels ({s['backend']})"):
              [(h["time_s"], h["psnr"]) for h in s["history"]] for s in summaries.values()}
    pictures.plot_psnr(results / f"{slug}-e2e-nerf-psnr.png", curves, nerf.MILESTONES,
                       title=f"procedural scene {resolution}x{resolution}, {name}")
    views = sorted((runs / "auto" / "test_views").glob("*.png"))[:4]
    from PIL import Image

    tiles = [Image.open(v) for v in views]
    strip = Image.new("RGB", (tiles[0].width, tiles[0].height * len(tiles)))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (0, i * tile.height))
    strip.save(results / f"{slug}-e2e-nerf-views.png")
    shutil.copy(runs / "auto" / "turntable.gif", results / f"{slug}-e2e-nerf-turntable.gif")
    if args.profile:
        table = profile_step(models["auto"], resolution, args.seed, args.cache)
        (results / f"{slug}-e2e-nerf-profile.md").write_text(table)
        print(table)
    shutil.rmtree(runs, ignore_errors=True)
    print(f"wrote {results}/{slug}-e2e-nerf.json and pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())

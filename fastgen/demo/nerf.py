"""``python -m fastgen.demo nerf``: train an Instant-NGP-style NeRF on fastgen's ops, end to end.

Without ``--data`` it trains on the procedural scene (:mod:`fastgen.data.procedural_scene`),
generated once into a cache folder. It writes into ``--out``: ``checkpoint.pt`` (resumed on the
next run; also written on Ctrl-C), ``summary.json``, ``test_views/<i>.png`` (rendered | ground
truth), ``psnr_vs_time.png`` and ``turntable.gif``. Under ``torchrun --nproc_per_node N`` it
trains with DistributedDataParallel: each rank draws its own rays, gradients are averaged, and
rank 0's occupancy grid is broadcast after every update so that all ranks march the same grid.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from fastgen.data import procedural_scene
from fastgen.data.blender import DatasetError, load_split, over
from fastgen.data.cameras import turntable_poses
from fastgen.demo import metrics, pictures
from fastgen.models.ngp import NGPModel, make_optimizer, make_scheduler

MILESTONES = (20.0, 22.0, 24.0, 26.0, 28.0, 30.0)
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m fastgen.demo nerf", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="a Blender or nerfstudio dataset folder (default: the procedural scene)")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    p.add_argument("--time-limit", type=float, default=None, help="stop training after this many seconds")
    p.add_argument("--resolution", type=int, default=64,
                   help="image width: the procedural scene's size, or real images downscaled to about it")
    p.add_argument("--backend", default="auto", help="backend of every fastgen op: auto, reference, cpu, cuda, triton")
    p.add_argument("--nerfacc", default=None, metavar="MODULE",
                   help="march and composite with this nerfacc-API module instead of fastgen's ops: 'nerfacc' "
                        "(nerfacc 0.5.3 itself; its estimator needs CUDA) or 'fastgen.compat.nerfacc'")
    p.add_argument("--out", default="nerf-out", help="output folder (checkpoint, pictures, summary)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rays", type=int, default=None, help="rays per step at the start (default 2048 CPU, 4096 GPU)")
    p.add_argument("--target-samples", type=int, default=None,
                   help="samples per step the ray count adapts to (default 2^15 CPU, 2^18 GPU)")
    p.add_argument("--max-rays", type=int, default=None, help="most rays per step (default 8 x --rays)")
    p.add_argument("--grid-resolution", type=int, default=None, help="occupancy grid cells per axis (32 CPU, 128 GPU)")
    p.add_argument("--render-steps", type=int, default=None,
                   help="marching steps across the scene box's diagonal (default: 2 x resolution, 128..1024)")
    p.add_argument("--log2-hashmap-size", type=int, default=None, help="hash table size per level (15 CPU, 19 GPU)")
    p.add_argument("--levels", type=int, default=16, help="hash grid levels")
    p.add_argument("--background", default="white", choices=["white", "black"], help="background of evaluation")
    p.add_argument("--eval-every", type=int, default=100, help="steps between test PSNR evaluations (0: never)")
    p.add_argument("--eval-views", type=int, default=4, help="test views of the periodic evaluations")
    p.add_argument("--test-views", type=int, default=None, help="test views of the final evaluation (default all)")
    p.add_argument("--turntable-frames", type=int, default=24)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "fastgen"),
                   help="where the procedural scene is generated")
    p.add_argument("--no-resume", action="store_true", help="ignore a checkpoint in --out")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch and fastgen's kernels (default torch's; 1 is faster on a busy CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("steps", "resolution", "levels"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


@dataclass
class Run:
    """Training state that the checkpoint holds besides the model and the optimizer."""

    step: int = 0
    train_time: float = 0.0
    cpu_time: float = 0.0  # process CPU seconds of training: on a busy machine, what the run got
    n_rays: int = 1024
    history: list = field(default_factory=list)  # [(train seconds, step, test PSNR)]
    samples: int = 0
    rays: int = 0


def _device(world: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) if world > 1 else 0)
    return torch.device("cpu")


def _defaults(args, device):
    gpu = device.type == "cuda"
    args.rays = args.rays or (4096 if gpu else 2048)
    args.max_rays = args.max_rays or 8 * args.rays
    args.target_samples = args.target_samples or (1 << 18 if gpu else 1 << 15)
    # on CPU the warm-up's full-grid updates (every cell, every 16 steps) of a 64^3 grid cost ~3x
    # the training itself at 64x64; a 32^3 grid reached 24 dB in 72 s instead of 22.8 dB in 180 s
    args.grid_resolution = args.grid_resolution or (128 if gpu else 32)
    args.render_steps = args.render_steps or min(1024, max(128, 2 * args.resolution))
    args.log2_hashmap_size = args.log2_hashmap_size or (19 if gpu else 15)


def _load_data(args, device, rank):
    if args.data is None:
        root = Path(args.cache) / f"procedural-{args.resolution}px-seed{args.seed}"
        if rank == 0:
            root = procedural_scene.cached(args.cache, resolution=args.resolution, seed=args.seed)
        if dist.is_initialized():
            dist.barrier()
    else:
        root = Path(args.data)
    probe = load_split(root, "test", device="cpu") if args.data is not None else None
    downscale = max(1, probe.width // args.resolution) if probe is not None else 1
    return load_split(root, "train", downscale, device), load_split(root, "test", downscale, device), root


def _checkpoint(path, model, optimizer, scheduler, run, generators):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "run": run.__dict__, "generators": {k: g.get_state() for k, g in generators.items()}}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint


def _evaluate(model, split, views, background):
    model.eval()
    images = [model.render_image(split.c2w[i], split.K[i], split.width, split.height, background) for i in views]
    model.train()
    return images


def _eval_psnr(model, split, n_views, background):
    views = range(min(n_views, len(split)))
    images = _evaluate(model, split, views, background)
    return sum(metrics.psnr(img, over(split.images[i], background)) for i, img in zip(views, images)) / len(images)


def _progress(quiet):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]nerf"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[stats]}"), disable=quiet, transient=False)


def train(args, model, optimizer, scheduler, run, data, test, generators, ddp_field, rank, world, out):
    """The training loop; returns normally at the end, raises KeyboardInterrupt after checkpointing."""
    device = data.images.device
    background = torch.tensor(BACKGROUNDS[args.background], device=device)
    ckpt = out / "checkpoint.pt"
    with _progress(args.quiet or rank != 0) as progress:
        task = progress.add_task("train", total=args.steps, completed=run.step, stats="")
        try:
            while run.step < args.steps and (args.time_limit is None or run.train_time < args.time_limit):
                t0, c0 = time.perf_counter(), time.process_time()
                model.update_grid(run.step, generator=generators["grid"])
                if world > 1:  # one grid for all ranks: rank 0's
                    dist.broadcast(model.estimator.occs, 0)
                    dist.broadcast(model.estimator.binaries, 0)
                rays_o, rays_d, rgba = data.random_rays(run.n_rays, generators["rays"])
                bg = torch.rand(run.n_rays, 3, generator=generators["rays"], device=device)
                rgb, _, n_samples = model.render(rays_o, rays_d, bg, field=ddp_field, stratified=True)
                loss = torch.nn.functional.mse_loss(rgb, over(rgba, bg))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                dt = time.perf_counter() - t0
                run.train_time += dt
                run.cpu_time += time.process_time() - c0
                run.samples += n_samples
                run.rays += run.n_rays
                run.step += 1
                # nerfacc's dynamic batch: aim at a fixed number of samples per step
                ratio = args.target_samples / max(n_samples, 1)
                run.n_rays = int(min(max(run.n_rays * ratio, 64), args.max_rays))
                if rank == 0 and args.eval_every and (run.step % args.eval_every == 0 or run.step == args.steps):
                    run.history.append((run.train_time, run.step, _eval_psnr(model, test, args.eval_views, background)))
                if rank == 0 and args.checkpoint_every and run.step % args.checkpoint_every == 0:
                    _checkpoint(ckpt, model, optimizer, scheduler, run, generators)
                mse = float(loss.detach())
                test_psnr = f" | test {run.history[-1][2]:.2f} dB" if run.history else ""
                stats = (f"loss {mse:.4f} | PSNR {-10 * math.log10(max(mse, 1e-10)):.2f}{test_psnr} | "
                         f"{run.n_rays * world / dt / 1e3:.0f}k rays/s | {n_samples * world / dt / 1e6:.2f}M samples/s")
                progress.update(task, completed=run.step, stats=stats)
        except KeyboardInterrupt:
            if rank == 0:
                _checkpoint(ckpt, model, optimizer, scheduler, run, generators)
                progress.console.print(f"interrupted at step {run.step}: checkpoint saved to {ckpt}")
            raise
    if rank == 0:
        _checkpoint(ckpt, model, optimizer, scheduler, run, generators)


def _peak_memory(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cores} cores)"


def finish(args, model, run, test, out, device, world, backend):
    """Final evaluation, pictures and summary.json (rank 0)."""
    background = torch.tensor(BACKGROUNDS[args.background], device=device)
    views = range(min(args.test_views or len(test), len(test)))
    images = _evaluate(model, test, views, background)
    (out / "test_views").mkdir(exist_ok=True)
    psnrs, ssims = [], []
    for i, img in zip(views, images):
        truth = over(test.images[i], background)
        psnrs.append(metrics.psnr(img, truth))
        ssims.append(metrics.ssim(img, truth))
        pictures.save_side_by_side(out / "test_views" / f"{i:03d}.png", img, truth)
    radius = float(test.c2w[:, :3, 3].norm(dim=-1).mean())
    poses = turntable_poses(args.turntable_frames, radius).to(device=device, dtype=torch.float32)
    model.eval()
    frames = [model.render_image(c2w, test.K[0], test.width, test.height, background) for c2w in poses]
    pictures.save_gif(out / "turntable.gif", frames)
    pictures.plot_psnr(out / "psnr_vs_time.png", {f"fastgen ({backend})": [(t, p) for t, _, p in run.history]},
                       MILESTONES, title=f"test PSNR, {test.width}x{test.height}, {_device_name(device)}")
    to_psnr = {}
    for m in MILESTONES:
        hit = next((t for t, _, p in run.history if p >= m), None)
        to_psnr[f"{m:g}"] = None if hit is None else round(hit, 3)
    summary = {
        "device": _device_name(device), "backend": backend, "world_size": world, "steps": run.step,
        "wall_time_s": round(run.train_time, 3), "cpu_time_s": round(run.cpu_time, 3),
        "threads": torch.get_num_threads(), "ms_per_step": round(1e3 * run.train_time / max(run.step, 1), 3),
        "rays_per_s": round(run.rays * world / max(run.train_time, 1e-9), 1),
        "samples_per_s": round(run.samples * world / max(run.train_time, 1e-9), 1),
        "time_to_psnr": to_psnr, "psnr": round(sum(psnrs) / len(psnrs), 4), "ssim": round(sum(ssims) / len(ssims), 5),
        "test_views": len(psnrs), "resolution": [test.width, test.height], "peak_memory_bytes": _peak_memory(device),
        "history": [{"time_s": round(t, 3), "step": s, "psnr": round(p, 4)} for t, s, p in run.history],
        "torch": torch.__version__, "seed": args.seed,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv) -> int:
    """Run the demo (see ``--help``); 0 on success, 2 for a bad dataset, 130 after Ctrl-C."""
    return run(argv)[0]


def run(argv):
    """:func:`main`, also returning the trained model (None when no training happened)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = _device(world)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
    _defaults(args, device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        data, test, root = _load_data(args, device, rank)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 2, None
    torch.manual_seed(args.seed)  # identical initial weights on every rank
    if args.nerfacc == "nerfacc" and device.type != "cuda":
        print("error: --nerfacc nerfacc needs a GPU: nerfacc's OccGridEstimator marches with its CUDA "
              "extension only (on CPU, --nerfacc fastgen.compat.nerfacc runs the same API)")
        return 2, None
    try:
        nerfacc = importlib.import_module(args.nerfacc) if args.nerfacc else None
    except ImportError as exc:
        print(f"error: --nerfacc {args.nerfacc}: {exc} (`pip install nerfacc==0.5.3`)")
        return 2, None
    model = NGPModel(data.aabb, grid_resolution=args.grid_resolution, render_steps=args.render_steps,
                     backend=args.backend, nerfacc=nerfacc, n_levels=args.levels, log2_hashmap_size=args.log2_hashmap_size,
                     max_resolution=min(2048, 8 * data.width)).to(device)
    optimizer = make_optimizer(model)
    scheduler = make_scheduler(optimizer, args.steps)
    generators = {"rays": torch.Generator(device).manual_seed(args.seed + 1 + rank),
                  "grid": torch.Generator(device).manual_seed(args.seed)}
    run = Run(n_rays=max(1, args.rays // world))
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not args.no_resume:
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        run = Run(**state["run"])
        for k, g in generators.items():
            g.set_state(state["generators"][k])
        if rank == 0 and not args.quiet:
            print(f"resuming from {ckpt} at step {run.step}")
    ddp_field = model.field
    if world > 1:
        ddp_field = torch.nn.parallel.DistributedDataParallel(
            model.field, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    try:
        train(args, model, optimizer, scheduler, run, data, test, generators, ddp_field, rank, world, out)
    except KeyboardInterrupt:
        return 130, model
    if rank == 0:
        label = _resolved_backend(args.backend, device)
        if args.nerfacc:  # DESIGN's name for the same model on nerfacc's estimator and rendering
            label = "nerfacc" if args.nerfacc == "nerfacc" else f"{label} via {args.nerfacc}"
        summary = finish(args, model, run, test, out, device, world, label)
        if not args.quiet:
            print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0, model


def _resolved_backend(backend: str, device) -> str:
    """The backend "auto" picks for the composite op on ``device`` (for the summary)."""
    from fastgen.backend import resolve

    return resolve("composite", backend, device)

"""``python -m fastgen.demo gan``: train a small StyleGAN2 on fastgen's GAN ops.

With no ``--data`` it first writes the procedural shapes dataset (:mod:`fastgen.data.procedural_shapes`)
into a cache folder. It trains for ``--kimg`` thousand images (or ``--time-limit`` seconds),
resuming from ``<out>/checkpoint.pt`` when one exists, and writes to ``--out``:

* ``reals.png`` and ``grids/fakes_<nimg>.png`` (G_ema, fixed latents) every ``--snap-kimg``, and
  ``samples.png``, the last grid;
* ``loss.png`` (losses, penalties and SWD against kimg), ``interpolation.png`` (latent walks),
  ``truncation.png`` (psi from 1 to 0);
* ``summary.json`` (configuration, speed, SWD history with the untrained generator's value) and
  ``stats.jsonl`` (per-step losses);
* ``checkpoint.pt`` (models, optimisers, kimg).

Under ``torchrun --nproc_per_node N`` the batch is split over the processes (nccl on GPUs, gloo on
CPUs); rank 0 writes the files.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from fastgen.data.images import ImageDataset, image_loader
from fastgen.data.procedural_shapes import default_cache_dir, write_shapes
from fastgen.demo import gan_pictures as pictures
from fastgen.demo import swd
from fastgen.demo.gan_train import Trainer, TrainConfig, world

log = logging.getLogger("fastgen.demo.gan")
GRID_ROWS, GRID_COLS = 8, 8


def parse_args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fastgen.demo gan", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="image folder or zip (default: the procedural shapes, generated once)")
    p.add_argument("--resolution", type=int, default=32, help="image side, a power of 2 (default 32)")
    p.add_argument("--kimg", type=float, default=20, help="train until this many thousand images in total (default 20)")
    p.add_argument("--batch", type=int, default=16, help="batch over all processes (default 16)")
    p.add_argument("--backend", default="auto", help="fastgen backend of every op: auto, reference, cuda, triton")
    p.add_argument("--out", default="runs/gan", help="output folder (default runs/gan)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, help="stop after this many seconds of training in this run")
    p.add_argument("--snap-kimg", type=float, default=1.0, help="sample grid, SWD and checkpoint interval (default 1)")
    p.add_argument("--swd-images", type=int, default=512, help="real and generated images per SWD (default 512)")
    p.add_argument("--dataset-size", type=int, default=5000, help="images of the procedural dataset (default 5000)")
    p.add_argument("--arch", choices=("sg2", "sg3"), default="sg2",
                   help="synthesis network: StyleGAN2's (default) or StyleGAN3-T's alias-free one (float32)")
    p.add_argument("--sg3-layers", type=int, default=6, help="alias-free layers of --arch sg3 (default 6)")
    p.add_argument("--mapping-layers", type=int, default=2, help="depth of the mapping network (default 2)")
    p.add_argument("--lr", type=float, default=0.0025, help="Adam learning rate of G and D (default 0.0025)")
    p.add_argument("--cond", action="store_true",
                   help="class-conditional G and D on the data's labels (sub-folders or dataset.json)")
    p.add_argument("--xflip", action="store_true", help="add mirrored copies of the training images")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--fp16-res", type=int, help="highest synthesis resolutions in float16 (default: 2 on CUDA, 0 on CPU)")
    p.add_argument("--channel-base", type=int, default=512, help="channels at resolution r: min(base / r, max)")
    p.add_argument("--channel-max", type=int, default=64)
    p.add_argument("--r1-gamma", type=float, help="R1 weight (default 0.0002 * R^2 / batch)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default torch's)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    return p.parse_args(argv)


def _setup_distributed(device_arg: str) -> torch.device:
    """Join the torchrun process group when WORLD_SIZE > 1; return this process's device."""
    use_cuda = device_arg == "cuda" or (device_arg == "auto" and torch.cuda.is_available())
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def _dataset(args) -> ImageDataset:
    path = args.data
    if path is None:
        path = default_cache_dir(args.resolution, args.seed, args.dataset_size)
        rank, _ = world()
        if rank == 0:
            log.info("writing the procedural shapes dataset to %s", path)
            write_shapes(path, args.dataset_size, args.resolution, args.seed)
        if dist.is_initialized():
            dist.barrier()
    dataset = ImageDataset(path, args.resolution, xflip=args.xflip, use_labels=args.cond)
    if args.cond and dataset.label_dim == 0:
        raise ValueError(f"--cond: the data at {path} has no class labels (no sub-folders and no dataset.json)")
    return dataset


def _reals(batch, device) -> tuple:
    """(images as floats in [-1, 1], labels) of a loader batch."""
    return batch[0].to(device, torch.float32) / 127.5 - 1, batch[1].to(device)


class Snapshots:
    """The fixed latents and real images behind the grids and SWD, and the files they make."""

    def __init__(self, trainer: Trainer, dataset: ImageDataset, out: Path, swd_images: int, seed: int):
        self.trainer, self.out = trainer, out
        n = min(swd_images, len(dataset))
        index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
        reals = torch.stack([dataset[int(i)][0] for i in index]).float() / 127.5 - 1
        self.real_desc = swd.descriptors(reals, seed=seed)
        # the generated SWD images get the real subset's labels: the same class mix
        self.swd_c = torch.stack([dataset[int(i)][1] for i in index]) if trainer.G.c_dim else None
        self.n, self.seed = n, seed
        self.grid_z = torch.randn(GRID_ROWS * GRID_COLS, trainer.G.z_dim, generator=torch.Generator().manual_seed(seed))
        self.grid_c = pictures.class_labels(GRID_ROWS * GRID_COLS, trainer.G.c_dim, "cpu")  # class i % c_dim
        (out / "grids").mkdir(parents=True, exist_ok=True)
        pictures.save_grid(reals[:GRID_ROWS * GRID_COLS], GRID_ROWS, out / "reals.png")

    @torch.no_grad()
    def generate(self, z, c=None) -> torch.Tensor:
        G, dev = self.trainer.G_ema, self.trainer.device
        cs = c.split(64) if c is not None else [None] * len(z.split(64))
        return torch.cat([G(zi.to(dev), None if ci is None else ci.to(dev), noise_mode="const").cpu()
                          for zi, ci in zip(z.split(64), cs)])

    def measure_swd(self) -> dict:
        z = torch.randn(self.n, self.trainer.G.z_dim, generator=torch.Generator().manual_seed(self.seed + 7))
        return swd.swd(self.real_desc, self.generate(z, self.swd_c), seed=self.seed)

    def grid(self) -> Path:
        path = self.out / "grids" / f"fakes_{self.trainer.nimg:08d}.png"
        images = self.generate(self.grid_z, self.grid_c)
        pictures.save_grid(images, GRID_ROWS, path)
        pictures.save_grid(images, GRID_ROWS, self.out / "samples.png")
        return path


def _progress(disable: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]gan[/]"), BarColumn(), TextColumn("{task.fields[kimg]}"),
                    TextColumn("{task.fields[losses]}"), TextColumn("{task.fields[speed]}"),
                    TimeElapsedColumn(), disable=disable)


def main(argv) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = _setup_distributed(args.device)
    rank, world_size = world()
    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    fp16_res = args.fp16_res if args.fp16_res is not None else (2 if device.type == "cuda" else 0)
    dataset = _dataset(args)
    sizes = {"z_dim": 64, "w_dim": 64, "channel_base": args.channel_base, "channel_max": args.channel_max,
             "c_dim": dataset.label_dim, "mapping_layers": args.mapping_layers}
    if args.arch == "sg3":
        sizes.update(arch="sg3", sg3_layers=args.sg3_layers)
    cfg = TrainConfig(resolution=args.resolution, batch=args.batch, seed=args.seed, backend=args.backend, lr=args.lr,
                      r1_gamma=args.r1_gamma, num_fp16_res=fp16_res, sizes=sizes)
    trainer = Trainer(cfg, device)
    summary_path, ckpt_path = out / "summary.json", out / "checkpoint.pt"
    previous, history = {}, []
    if ckpt_path.exists() and not args.no_resume:
        trainer.load_state_dict(torch.load(ckpt_path, map_location=device, weights_only=False))
        if summary_path.exists():
            previous = json.loads(summary_path.read_text())
        log.info("resumed from %s at %.3f kimg", ckpt_path, trainer.nimg / 1000)
        if (out / "stats.jsonl").exists():
            history = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
            history = [h for h in history if h["kimg"] * 1000 <= trainer.nimg]  # steps after the checkpoint were redone
    start_nimg = trainer.nimg
    swd_history = previous.get("swd_history", [])
    snaps = Snapshots(trainer, dataset, out, args.swd_images, args.seed) if rank == 0 else None
    if rank == 0 and not swd_history:
        swd_history.append({"kimg": trainer.nimg / 1000, **snaps.measure_swd()})
        log.info("SWD of the untrained generator: %.2f", swd_history[0]["mean"])
    loader = image_loader(dataset, trainer.batch_per_rank, rank, world_size, args.seed + trainer.step_count,
                          args.workers, pin_memory=device.type == "cuda")
    target = int(args.kimg * 1000)
    snap_every = max(int(args.snap_kimg * 1000), 1)
    next_snap = (trainer.nimg // snap_every + 1) * snap_every
    t0 = time.perf_counter()
    eval_seconds = 0.0  # snapshots (SWD, grids, checkpoints): in the time limit, not in images/s
    stats = {}
    with _progress(rank != 0 or args.no_progress) as progress:
        task = progress.add_task("train", total=max(target - start_nimg, 1), kimg="", losses="", speed="")
        while trainer.nimg < target:
            stats = trainer.step(*_reals(next(loader), device))
            elapsed = time.perf_counter() - t0
            history.append({"kimg": trainer.nimg / 1000, "seconds": round(elapsed, 2), **stats})
            speed = (trainer.nimg - start_nimg) / max(elapsed - eval_seconds, 1e-9)
            out_of_time = args.time_limit is not None and elapsed >= args.time_limit  # wall clock, snapshots included
            progress.update(task, completed=trainer.nimg - start_nimg,
                            kimg=f"{trainer.nimg / 1000:.3f}/{args.kimg:g} kimg",
                            losses=f"G {stats['loss_G']:.3f} D {stats['loss_D']:.3f}", speed=f"{speed:.1f} img/s")
            if args.no_progress and rank == 0 and trainer.step_count % 50 == 0:
                log.info("%.2f kimg  G %.3f  D %.3f  %.1f img/s", trainer.nimg / 1000, stats["loss_G"], stats["loss_D"], speed)
            finished = trainer.nimg >= target or out_of_time
            if trainer.nimg >= next_snap or finished:
                next_snap = (trainer.nimg // snap_every + 1) * snap_every
                if rank == 0:
                    t_eval = time.perf_counter()
                    swd_history.append({"kimg": trainer.nimg / 1000, "seconds": round(elapsed, 2), **snaps.measure_swd()})
                    snaps.grid()
                    torch.save(trainer.state_dict(), ckpt_path)
                    eval_seconds += time.perf_counter() - t_eval
            if out_of_time:
                break
    train_seconds = time.perf_counter() - t0 - eval_seconds
    if rank == 0:
        if trainer.nimg == start_nimg:  # nothing to train: still leave every picture
            snaps.grid()
            torch.save(trainer.state_dict(), ckpt_path)
        pictures.loss_plot(history, swd_history, out / "loss.png")
        pictures.interpolation_strip(trainer.G_ema, out / "interpolation.png", seed=args.seed)
        pictures.truncation_strip(trainer.G_ema, out / "truncation.png", seed=args.seed)
        with open(out / "stats.jsonl", "w") as f:
            f.writelines(json.dumps(h) + "\n" for h in history)
        summary = {
            "config": asdict(cfg), "device": str(device), "world_size": world_size,
            "threads": torch.get_num_threads(),
            "data": {"path": str(dataset.path), "images": len(dataset), "skipped_unreadable": dataset.skipped,
                     "classes": dataset.class_names if args.cond else None},
            "start_kimg": start_nimg / 1000, "kimg": trainer.nimg / 1000, "steps": trainer.step_count,
            "train_seconds_this_run": train_seconds, "eval_seconds_this_run": eval_seconds,
            "images_per_second": (trainer.nimg - start_nimg) / max(train_seconds, 1e-9),
            "swd_untrained": swd_history[0]["mean"], "swd_final": swd_history[-1]["mean"],
            "swd_history": swd_history, "last_losses": stats,
            "files": sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) + ["checkpoint.pt", "stats.jsonl"],
        }
        summary_path.write_text(json.dumps(summary, indent=1))
        log.info("%.2f kimg in %.0f s; SWD %.2f (untrained %.2f); files in %s", trainer.nimg / 1000,
                 train_seconds, summary["swd_final"], summary["swd_untrained"], out)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0

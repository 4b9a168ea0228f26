"""Two CPU processes with gloo: each draws its own latents and its share of the reals; the
all-reduced gradients keep the ranks' weights identical."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgen.demo.gan_train import Trainer, TrainConfig
from tests.gan_demo.conftest import TINY


def _worker(rank, world, init_file, result_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = TrainConfig(resolution=16, batch=8, r1_interval=2, pl_interval=2, sizes=TINY)
        trainer = Trainer(cfg, torch.device("cpu"))
        start = torch.cat([p.detach().flatten() for p in trainer.G.parameters()])
        gen = torch.Generator().manual_seed(100 + rank)  # every rank sees different reals
        for _ in range(3):
            trainer.step(torch.rand(trainer.batch_per_rank, 3, 16, 16, generator=gen) * 2 - 1)
        flat = torch.cat([p.detach().flatten() for m in (trainer.G, trainer.D, trainer.G_ema) for p in m.parameters()]
                         + [trainer.pl_mean.reshape(1), trainer.G.mapping.w_avg])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        if rank == 0:
            moved = float((torch.cat([p.detach().flatten() for p in trainer.G.parameters()]) - start).abs().max())
            torch.save({"diff": float((gathered[0] - gathered[1]).abs().max()), "moved": moved,
                        "per_rank": trainer.batch_per_rank}, result_file)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_keep_identical_weights(tmp_path):
    result = tmp_path / "result.pt"
    os.environ.pop("WORLD_SIZE", None)
    # fork: the children inherit the imported modules instead of importing torch again (seconds each)
    mp.start_processes(_worker, args=(2, str(tmp_path / "init"), str(result)), nprocs=2, join=True,
                       start_method="fork")
    out = torch.load(result)
    assert out["per_rank"] == 4
    assert out["moved"] > 0  # training changed the weights...
    assert out["diff"] == 0.0  # ...identically on both ranks (the reals and latents differed)

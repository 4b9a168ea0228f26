"""The demo under DistributedDataParallel: 2 CPU processes with gloo stay in sync."""
import socket

import torch
import torch.multiprocessing as mp

from tests.nerf_demo.test_train import TINY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, cache, out, result):
    import os

    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from fastgen.demo import nerf

    # 20 steps: past the occupancy updates of steps 0 and 16, with different rays on each rank
    rc, model = nerf.run([*TINY, "--rays", "256", "--steps", "20", "--eval-every", "0", "--test-views", "1",
                          "--cache", cache, "--out", out])
    torch.save({"rc": rc, "state": model.state_dict()}, f"{result}.{rank}")


def test_two_gloo_ranks_keep_identical_weights_and_grids(tmp_path, cache):
    world, result = 2, str(tmp_path / "state")
    mp.spawn(_worker, args=(world, _free_port(), cache, str(tmp_path / "out"), result),
             nprocs=world, join=True)
    states = [torch.load(f"{result}.{r}") for r in range(world)]
    assert all(s["rc"] == 0 for s in states)
    a, b = states[0]["state"], states[1]["state"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (a["estimator.occs"] > 0).any()  # the grid was updated
    assert (tmp_path / "out" / "summary.json").is_file()

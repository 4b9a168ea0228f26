"""The march family as PyTorch citizens: torch.library.opcheck on every ``torch.ops.fastgen`` op of
each kernel backend, and torch.compile(fullgraph=True) of the sync-free batched sampling."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import OccGridEstimator, ray_aabb_intersect, traverse_grids
from fastgen.ops.march import _library  # noqa: F401  (registers torch.ops.fastgen.*)
from tests.march._helpers import grid, nested_aabbs, rays

CUSTOM_OPS = ("ray_aabb_intersect", "traverse_count", "traverse_fill", "traverse_batched")


def test_every_custom_op_is_registered():
    for name in CUSTOM_OPS:
        assert hasattr(torch.ops.fastgen, name), f"torch.ops.fastgen.{name} is not registered"


def test_opcheck(kernel_backend, device, gen):
    o, d = (x.to(device) for x in rays(gen, 24, extent=2.0))
    bins, boxes = grid(gen, 2).to(device), nested_aabbs(2).float().to(device)
    near, far = torch.zeros(24, device=device), torch.full((24,), 10.0, device=device)
    jitter = torch.rand(24, generator=gen).to(device)
    common = (o, d, bins, boxes, near, far, jitter, 0.05, 0.02, 0.2)
    counts = torch.ops.fastgen.traverse_count(*common, kernel_backend)
    info = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
    cases = [
        ("ray_aabb_intersect", (o, d, boxes, 0.0, 5.0, -1.0, kernel_backend)),
        ("traverse_count", (*common, kernel_backend)),
        ("traverse_count", (o, d, bins, boxes, near, far, None, 0.05, 0.0, 0.2, kernel_backend)),
        ("traverse_fill", (*common, info, int(counts.sum()), kernel_backend)),
        ("traverse_batched", (*common, 5, kernel_backend)),
    ]
    for name, args in cases:
        torch.library.opcheck(getattr(torch.ops.fastgen, name), args)


@pytest.mark.slow
def test_compile_fullgraph_batched_sampling(kernel_backend, device, gen):
    """The sync-free variant compiles as one graph: marching, the density query and visibility."""
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8).to(device)
    est.binaries.copy_(grid(gen, 1, (8, 8, 8), 0.5).to(device))
    est.occs.fill_(0.5)
    o, d = (x.to(device) for x in rays(gen, 16))

    def sigma_fn(t0, t1, ids):
        return (t0 + t1) * 0.5

    def step(o, d):
        return est.sampling(o, d, sigma_fn=sigma_fn, render_step_size=0.05, alpha_thre=0.01,
                            max_samples_per_ray=32, backend=kernel_backend)

    want = step(o, d)
    got = torch.compile(step, fullgraph=True)(o, d)
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    t = torch.compile(lambda o, d: ray_aabb_intersect(o, d, est.aabbs, backend=kernel_backend), fullgraph=True)(o, d)
    assert torch.equal(t[2], ray_aabb_intersect(o, d, est.aabbs, backend="reference")[2])
    b = torch.compile(lambda o, d: traverse_grids(o, d, est.binaries, est.aabbs, step_size=0.05,
                                                  max_samples_per_ray=8, backend=kernel_backend), fullgraph=True)(o, d)
    assert torch.equal(b[2], traverse_grids(o, d, est.binaries, est.aabbs, step_size=0.05, max_samples_per_ray=8)[2])

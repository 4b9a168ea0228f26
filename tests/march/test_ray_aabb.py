"""ray_aabb_intersect: nerfacc's definition on every backend, exact on axis-parallel rays."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import ray_aabb_intersect
from tests.conftest import assert_close_rel
from tests.march._helpers import rays


def _boxes(gen, m, dtype):
    lo = torch.rand(m, 3, generator=gen, dtype=torch.float64) * 2 - 1.5
    return torch.cat([lo, lo + 0.2 + torch.rand(m, 3, generator=gen, dtype=torch.float64)], 1).to(dtype)


def _nerfacc_formula(o, d, boxes, near, far, miss):
    """The textbook slab formula in float64 (valid for directions without zero components)."""
    t1 = (boxes[None, :, :3] - o[:, None]) / d[:, None]
    t2 = (boxes[None, :, 3:] - o[:, None]) / d[:, None]
    t_mins = torch.minimum(t1, t2).amax(-1)
    t_maxs = torch.maximum(t1, t2).amin(-1)
    hits = (t_maxs > t_mins) & (t_maxs > 0)
    t_mins, t_maxs = t_mins.clamp(near, far), t_maxs.clamp(near, far)
    return torch.where(hits, t_mins, miss), torch.where(hits, t_maxs, miss), hits


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("near", "far", "miss"), [(-math.inf, math.inf, math.inf), (0.5, 3.0, -1.0)])
def test_matches_reference(backend, device, gen, dtype, near, far, miss):
    o = torch.randn(301, 3, generator=gen, dtype=torch.float64) * 2
    d = torch.randn(301, 3, generator=gen, dtype=torch.float64) * 3  # not unit: allowed here
    boxes = _boxes(gen, 5, torch.float64)
    want = _nerfacc_formula(o, d, boxes, near, far, miss)
    got = ray_aabb_intersect(o.to(device, dtype), d.to(device, dtype), boxes.to(device, dtype), near, far, miss,
                             backend=backend)
    assert torch.equal(got[2].cpu(), want[2])
    for g, w in zip(got[:2], want[:2]):
        finite = torch.isfinite(w)
        assert torch.equal(torch.isfinite(g.cpu()), finite)
        assert_close_rel(g.cpu()[finite], w[finite], dtype)
        assert torch.equal(g.cpu()[~finite], w[~finite].to(dtype))


def test_axis_parallel_rays_are_exact(backend, device):
    box = torch.tensor([[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]], device=device)
    o = torch.tensor([[0.0, -1.0, -5.0],   # on the face y = -1, along z: hits (closed box)
                      [0.0, 1.0000001, -5.0],  # just outside, along z: misses
                      [0.5, 0.5, 0.5],     # inside, along x
                      [-1.0, -1.0, 3.0]], device=device)  # on an edge, along -z
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], device=device)
    t_min, t_max, hit = (x.cpu() for x in ray_aabb_intersect(o, d, box, backend=backend))
    assert not bool(torch.isnan(t_min).any() or torch.isnan(t_max).any())
    assert hit[:, 0].tolist() == [True, False, True, True]
    assert t_min[:, 0].tolist() == [4.0, math.inf, -1.5, 2.0]
    assert t_max[:, 0].tolist() == [6.0, math.inf, 0.5, 4.0]


def test_random_scene_rays_no_nan(backend, device, gen):
    o, d = rays(gen, 200)
    box = torch.tensor([[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0], [-2.0, -2, -2, 2, 2, 2]])
    out = ray_aabb_intersect(o.to(device), d.to(device), box.to(device), near_plane=0.0, backend=backend)
    ref = ray_aabb_intersect(o, d, box, near_plane=0.0, backend="reference")
    assert not any(bool(torch.isnan(x.float()).any()) for x in out)
    for a, b in zip(out, ref):
        assert torch.equal(a.cpu(), b)


def test_empty_inputs(backend, device):
    z = torch.zeros(0, 3, device=device)
    t0, t1, hit = ray_aabb_intersect(z, z, torch.tensor([[0.0, 0, 0, 1, 1, 1]], device=device), backend=backend)
    assert t0.shape == (0, 1) and hit.dtype == torch.bool

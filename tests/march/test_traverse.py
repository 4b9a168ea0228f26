"""traverse_grids: every backend gives exactly the reference's samples (the brute-force definition),
packed and batched, on random grids and rays of every kind; plus properties of the definition."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import ray_aabb_intersect, traverse_grids
from tests.march._helpers import assert_same_samples, grid, nested_aabbs, rays

CASES = [  # (levels, cone_angle, max_step_size, jitter)
    (1, 0.0, None, False),
    (1, 0.0, None, True),
    (3, 0.0, None, False),
    (3, 0.05, None, True),
    (2, 0.05, math.inf, False),
    (1, 0.3, None, False),
]


def _scene(gen, levels, n_rays=97, dtype=torch.float32, res=(16, 8, 12)):
    o, d = rays(gen, n_rays, extent=2.0 ** (levels - 1), dtype=dtype)
    return o, d, grid(gen, levels, res), nested_aabbs(levels).to(dtype)


@pytest.mark.parametrize(("levels", "cone", "max_step", "jitter"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference(backend, device, gen, levels, cone, max_step, jitter, dtype):
    o, d, bins, boxes = _scene(gen, levels, dtype=dtype)
    j = torch.rand(o.shape[0], generator=gen, dtype=dtype) if jitter else None
    kw = dict(step_size=0.02, cone_angle=cone, max_step_size=max_step, jitter=j)
    ref = traverse_grids(o, d, bins, boxes, backend="reference", **kw)
    dev = lambda x: None if x is None else x.to(device)  # noqa: E731
    out = traverse_grids(dev(o), dev(d), dev(bins), dev(boxes), jitter=dev(j),
                         **{k: v for k, v in kw.items() if k != "jitter"}, backend=backend)
    assert ref[0].shape[0] > 0
    assert_same_samples(out, ref, f"{backend} levels={levels} cone={cone}")


@pytest.mark.parametrize("K", [1, 7, 400])
@pytest.mark.parametrize("cone", [0.0, 0.05])
def test_batched_matches_packed(backend, device, gen, K, cone):
    o, d, bins, boxes = (x.to(device) for x in _scene(gen, 2))
    kw = dict(step_size=0.03, cone_angle=cone)
    t0, t1, ids, info = (x.cpu() for x in traverse_grids(o, d, bins, boxes, backend="reference" if device.type == "cpu"
                                                             else backend, **kw))
    b0, b1, mask = (x.cpu() for x in traverse_grids(o, d, bins, boxes, max_samples_per_ray=K, backend=backend, **kw))
    counts = info[:, 1].clamp(max=K)
    assert torch.equal(mask.sum(1), counts)
    assert torch.equal(mask, torch.arange(K)[None] < counts[:, None])  # a prefix of each row
    rank = torch.arange(t0.shape[0]) - info[ids, 0]
    sel = rank < K
    assert torch.equal(b0[ids[sel], rank[sel]], t0[sel]) and torch.equal(b1[ids[sel], rank[sel]], t1[sel])
    last = torch.where(counts > 0, b1.gather(1, (counts - 1).clamp(min=0)[:, None])[:, 0], torch.zeros(len(counts)))
    assert torch.equal(b0[~mask], last[:, None].expand_as(b0)[~mask])  # padding: empty intervals at the last end
    assert torch.equal(b1[~mask], b0[~mask])


def test_full_grid_is_uniform_stepping(backend, device, gen):
    """A full grid with cone_angle = 0 samples [t_min, t_max] uniformly: t_k = t_min + k * step for
    every k with t_k + step <= t_max (t_min, t_max from ray_aabb_intersect, clamped at near = 0)."""
    o, d, _, boxes = _scene(gen, 1, n_rays=64)
    bins = torch.ones(1, 5, 7, 3, dtype=torch.bool)
    step = 0.05
    t0, t1, ids, info = (x.cpu() for x in traverse_grids(o.to(device), d.to(device), bins.to(device),
                                                             boxes.to(device), step_size=step, backend=backend))
    t_min, t_max, hits = ray_aabb_intersect(o.double(), d.double(), boxes.double(), near_plane=0.0,
                                            backend="reference")
    for r in range(o.shape[0]):
        got = t0[ids == r].double()
        if not bool(hits[r, 0]):
            assert got.numel() == 0
            continue
        n = int(math.floor((float(t_max[r, 0]) - float(t_min[r, 0])) / step + 1e-6))
        want = float(t_min[r, 0]) + step * torch.arange(n, dtype=torch.float64)
        assert got.numel() in (n, n - 1, n + 1) and abs(got.numel() - n) <= 1, (r, got.numel(), n)
        m = min(n, got.numel())
        assert torch.allclose(got[:m], want[:m], atol=1e-5, rtol=0), r
        assert torch.allclose(t1[ids == r].double() - got, torch.full_like(got, step), atol=1e-5)


def test_empty_grid_and_misses(backend, device, gen):
    o, d, _, boxes = _scene(gen, 2)
    empty = torch.zeros(2, 4, 4, 4, dtype=torch.bool)
    t0, t1, ids, info = traverse_grids(o.to(device), d.to(device), empty.to(device), boxes.to(device), backend=backend)
    assert t0.shape == (0,) and ids.shape == (0,) and info.shape == (o.shape[0], 2) and int(info.abs().sum()) == 0
    # rays pointing away from the box: nothing, even with a full grid
    away = torch.tensor([[3.0, 3.0, 3.0], [0.0, 5.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    full = torch.ones(2, 4, 4, 4, dtype=torch.bool)
    out = traverse_grids(away[0].to(device), away[1].to(device), full.to(device), boxes.to(device), backend=backend)
    assert out[0].numel() == 0 and out[3][:, 1].tolist() == [0, 0]


def test_no_rays(backend, device):
    z = torch.zeros(0, 3, device=device)
    bins = torch.ones(1, 2, 2, 2, dtype=torch.bool, device=device)
    box = torch.tensor([[0.0, 0, 0, 1, 1, 1]], device=device)
    t0, t1, ids, info = traverse_grids(z, z, bins, box, backend=backend)
    assert t0.shape == (0,) and info.shape == (0, 2)
    b0, b1, mask = traverse_grids(z, z, bins, box, max_samples_per_ray=3, backend=backend)
    assert b0.shape == (0, 3) and mask.shape == (0, 3)


def test_one_ray_through_one_occupied_cell(backend, device):
    """Only the samples whose midpoint lies in the single occupied cell are kept."""
    bins = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    bins[0, 1, 2, 3] = True  # x in [-0.5, 0], y in [0, 0.5], z in [0.5, 1]
    box = torch.tensor([[-1.0, -1, -1, 1, 1, 1]])
    o = torch.tensor([[-0.25, 0.25, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0]])
    t0, t1, ids, info = (x.cpu() for x in traverse_grids(o.to(device), d.to(device), bins.to(device), box.to(device),
                                                             step_size=0.1, backend=backend))
    mids = -3.0 + (t0 + t1) / 2
    assert t0.numel() == 5 and bool(((mids > 0.5) & (mids < 1.0)).all()), mids
    assert torch.allclose(t0, 2.0 + 0.1 * torch.arange(15, 20).float(), atol=1e-5)


def test_near_far_planes_per_ray(backend, device, gen):
    o, d, bins, boxes = _scene(gen, 1)
    near = torch.rand(o.shape[0], generator=gen) * 2
    far = near + torch.rand(o.shape[0], generator=gen) * 3
    ref = traverse_grids(o, d, bins, boxes, near, far, step_size=0.02, backend="reference")
    out = traverse_grids(*(x.to(device) for x in (o, d, bins, boxes, near, far)), step_size=0.02, backend=backend)
    assert_same_samples(out, ref, backend)
    t0, t1, ids, _ = (x.cpu() for x in out)
    assert bool((t0 >= near[ids]).all()) and bool((t1 <= far[ids]).all())


def test_float32_close_to_float64(gen):
    """The float32 samples are the float64 ones up to rounding: membership can only differ for
    samples whose midpoint is within rounding of a cell face (rare), and t agrees within 1e-5."""
    o, d, bins, boxes = _scene(gen, 3, n_rays=200, dtype=torch.float64)
    r64 = traverse_grids(o, d, bins, boxes, step_size=0.01, backend="reference")
    r32 = traverse_grids(o.float(), d.float(), bins, boxes.float(), step_size=0.01, backend="cpu")
    n64 = r64[3][:, 1]
    n32 = r32[3][:, 1]
    assert int((n64 - n32).abs().sum()) <= max(2, n64.sum() // 1000)
    same = n64 == n32
    keep64, keep32 = same[r64[2]], same[r32[2]]
    assert torch.allclose(r32[0][keep32].double(), r64[0][keep64], atol=1e-5, rtol=0)


def test_stratified_jitter_shifts_the_first_sample(gen):
    bins = torch.ones(1, 4, 4, 4, dtype=torch.bool)
    box = torch.tensor([[-1.0, -1, -1, 1, 1, 1]])
    o, d = torch.tensor([[0.1, 0.2, -3.0]] * 3), torch.tensor([[0.0, 0.0, 1.0]] * 3)
    jitter = torch.tensor([0.0, 0.5, 0.99])
    t0, t1, ids, info = traverse_grids(o, d, bins, box, step_size=0.1, jitter=jitter)
    first = t0[info[:, 0]]
    assert torch.allclose(first, 2.0 + 0.1 * jitter, atol=1e-6)
    assert bool((t1 <= 4.0 + 1e-6).all())

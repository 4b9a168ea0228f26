"""The Triton kernels of the march family against the brute-force reference (and the C++ backend):
the samples must be the same exactly (membership, t values, packing), not merely close.

Small scenes (the interpreter runs a marching loop iteration per sample or crossed cell): grids of
1 or 3 levels, nested or overlapping free boxes, non-cubic resolutions, rays from outside and from
inside, along axes, along cell faces, and missing.
"""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.ops.march import ray_aabb_intersect, traverse_grids
from fastgen.ops.march import reference
from tests.conftest import backend_available, backend_device, skip_unless_available

TRITON = "triton"


@pytest.fixture
def device():
    return backend_device(skip_unless_available(TRITON))


def _others():
    """The backends the Triton samples are compared with: the reference, and cpu where built."""
    return ["reference"] + (["cpu"] if backend_available("cpu")[0] else [])


def _unit(d):
    return d / d.norm(dim=-1, keepdim=True)


def _boxes(kind, gen):
    if kind == "one":
        return torch.tensor([[-1.0, -0.5, -1.0, 1.0, 1.5, 0.5]], dtype=torch.float64)
    if kind == "nested":  # Instant-NGP cascades: level l covers the ROI scaled by 2^l
        return torch.tensor([[-s, -s, -s, s, s, s] for s in (0.25, 0.5, 1.0)], dtype=torch.float64)
    lo = torch.rand(3, 3, generator=gen, dtype=torch.float64) * 2 - 1.5  # free, overlapping boxes
    return torch.cat([lo, lo + 0.5 + torch.rand(3, 3, generator=gen, dtype=torch.float64) * 1.5], 1)


def _rays(gen, n, boxes):
    """From outside aimed into the boxes, from inside in any direction, along an axis, along cell
    faces of the first grid (axis-parallel, origins on its lattice of faces), and missing."""
    lo, hi = boxes[:, :3].amin(0), boxes[:, 3:].amax(0)
    mid, size = (lo + hi) / 2, (hi - lo).max()
    n1 = n2 = n3 = n4 = n // 5
    n5 = n - n1 - n2 - n3 - n4
    o1 = mid + _unit(torch.randn(n1, 3, generator=gen, dtype=torch.float64)) * size
    d1 = _unit(lo + torch.rand(n1, 3, generator=gen, dtype=torch.float64) * (hi - lo) - o1)
    o2 = lo + torch.rand(n2, 3, generator=gen, dtype=torch.float64) * (hi - lo)
    d2 = _unit(torch.randn(n2, 3, generator=gen, dtype=torch.float64))
    o3 = lo + torch.rand(n3, 3, generator=gen, dtype=torch.float64) * (hi - lo)
    d3 = torch.randn(n3, 3, generator=gen, dtype=torch.float64)
    d3[torch.arange(n3), torch.randint(0, 3, (n3,), generator=gen)] = 0  # one or two zero components
    d3[: n3 // 2, 0] = 0
    d3 = _unit(d3 + (d3.abs().sum(1, keepdim=True) == 0).double())
    b0 = boxes[0]
    frac = torch.randint(0, 5, (n4, 3), generator=gen).double() / 4  # on faces of a 4x4x4 sub-lattice
    o4 = b0[:3] + frac * (b0[3:] - b0[:3])
    o4[:, 2] = b0[2] - 1.0
    d4 = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64).expand(n4, 3).clone()
    o5 = mid + _unit(torch.randn(n5, 3, generator=gen, dtype=torch.float64)) * size * 2
    d5 = _unit(o5 - mid + torch.randn(n5, 3, generator=gen, dtype=torch.float64) * 0.1)  # away: miss
    return torch.cat([o1, o2, o3, o4, o5]), torch.cat([d1, d2, d3, d4, d5])


def _scene(gen, device, kind="nested", res=(16, 8, 12), density=0.3, n_rays=30, dtype=torch.float32):
    boxes = _boxes(kind, gen)
    o, d = _rays(gen, n_rays, boxes)
    grid = torch.rand(boxes.shape[0], *res, generator=gen) < density
    return o.to(device, dtype), d.to(device, dtype), grid.to(device), boxes.to(device, dtype)


def _equal(out, ref, what):
    for i, (a, b) in enumerate(zip(out, ref)):
        a, b = a.cpu(), b.cpu()
        assert a.shape == b.shape and a.dtype == b.dtype, f"{what}[{i}]: {a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
        if not torch.equal(a, b):
            bad = torch.nonzero((a != b).flatten())[0, 0]
            raise AssertionError(f"{what}[{i}]: differs at flat index {int(bad)}: "
                                 f"{a.flatten()[bad].item()!r} vs {b.flatten()[bad].item()!r}")


def _check_traverse(o, d, grid, boxes, Ks=(), **kw):
    """Packed (and batched for each K) Triton samples equal the reference's and cpu's."""
    out = traverse_grids(o, d, grid, boxes, backend=TRITON, **kw)
    for other in _others():
        args = [x.cpu() for x in (o, d, grid, boxes)]
        kw_cpu = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        _equal(out, traverse_grids(*args, backend=other, **kw_cpu), f"packed vs {other}")
    for K in Ks:
        got = traverse_grids(o, d, grid, boxes, max_samples_per_ray=K, backend=TRITON, **kw)
        _equal(got, traverse_grids(*[x.cpu() for x in (o, d, grid, boxes)], max_samples_per_ray=K,
                                   backend="reference", **{k: (v.cpu() if isinstance(v, torch.Tensor) else v)
                                                           for k, v in kw.items()}), f"batched K={K}")
    return out


# ---------------------------------------------------------------------------- ray_aabb_intersect
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("near", "far", "miss"), [(-math.inf, math.inf, math.inf), (0.3, 2.1, -0.7)])
def test_ray_aabb_intersect(device, gen, dtype, near, far, miss):
    o, d, _, _ = _scene(gen, device, "free", n_rays=37, dtype=dtype)
    d = d * 2.5  # any non-zero length
    boxes = torch.cat([_boxes("free", gen), _boxes("one", gen)]).to(device, dtype)
    out = ray_aabb_intersect(o, d, boxes, near, far, miss, backend=TRITON)
    for other in _others():
        _equal(out, ray_aabb_intersect(o.cpu(), d.cpu(), boxes.cpu(), near, far, miss, backend=other), other)


@pytest.mark.parametrize("n_rays", [0, 1])
def test_ray_aabb_intersect_tiny(device, n_rays):
    o = torch.tensor([[0.0, 0.0, -2.0]], device=device)[:n_rays]
    d = torch.tensor([[0.0, 0.0, 1.0]], device=device)[:n_rays]
    t0, t1, hit = ray_aabb_intersect(o, d, torch.tensor([[-1.0, -1, -1, 1, 1, 1]], device=device), backend=TRITON)
    assert t0.shape == t1.shape == hit.shape == (n_rays, 1)
    if n_rays:
        assert t0.item() == 1.0 and t1.item() == 3.0 and hit.item()


# ---------------------------------------------------------------------------- traverse_grids
CASES = [  # (boxes, resolution, cone_angle, max_step_size, jitter)
    ("one", (16, 8, 12), 0.0, None, False),
    ("one", (16, 8, 12), 0.0, None, True),
    ("nested", (16, 8, 12), 0.0, None, False),
    ("free", (16, 8, 12), 0.0, None, True),
    ("one", (8, 8, 8), 0.1, None, False),
    ("nested", (16, 8, 12), 0.1, None, True),
    ("nested", (16, 8, 12), 0.1, math.inf, False),
    ("free", (6, 10, 4), 0.05, math.inf, True),
]


@pytest.mark.parametrize(("kind", "res", "cone", "max_step", "jitter"), CASES)
def test_traverse_matches_reference(device, gen, kind, res, cone, max_step, jitter):
    o, d, grid, boxes = _scene(gen, device, kind, res)
    j = torch.rand(o.shape[0], generator=gen).to(device, o.dtype) * 0.999 if jitter else None
    step = 0.05 if cone == 0.0 else 0.02
    out = _check_traverse(o, d, grid, boxes, step_size=step, cone_angle=cone, max_step_size=max_step, jitter=j)
    assert out[0].numel() > 0, "the scene should produce samples"


@pytest.mark.parametrize("cone", [0.0, 0.1])
def test_traverse_float64(device, gen, cone):
    o, d, grid, boxes = _scene(gen, device, "nested", dtype=torch.float64)
    j = torch.rand(o.shape[0], generator=gen, dtype=torch.float64).to(device)
    _check_traverse(o, d, grid, boxes, Ks=(5,), step_size=0.08, cone_angle=cone, jitter=j)


@pytest.mark.parametrize("cone", [0.0, 0.1])
def test_traverse_batched(device, gen, cone):
    o, d, grid, boxes = _scene(gen, device, "nested", n_rays=20)
    counts = _check_traverse(o, d, grid, boxes, Ks=(1, 4, 64), step_size=0.08, cone_angle=cone)[3][:, 1]
    assert int(counts.max()) > 4, "K = 4 should cut some rays short"


def test_traverse_fill_stays_in_the_reserved_segments(device, gen):
    """traverse_fill writes each ray's first samples into [start, start + count) and never past it,
    whatever packed_info says (here: one sample fewer than the ray has)."""
    o, d, grid, boxes = _scene(gen, device, "one", n_rays=12)
    near, far = torch.zeros(12, device=device), torch.full((12,), math.inf, device=device)
    args = (o, d, grid, boxes, near, far, None, 0.1, 0.0, 0.25)
    ref = traverse_grids(o.cpu(), d.cpu(), grid.cpu(), boxes.cpu(), step_size=0.1, backend="reference")
    counts = (ref[3][:, 1] - 1).clamp(min=0)
    info = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
    t0, t1, ids = torch.ops.fastgen.traverse_fill(*args, info.to(device), int(counts.sum()), TRITON)
    keep = torch.arange(ref[0].numel()) - ref[3][ref[2], 0] < counts[ref[2]]  # each ray's first count samples
    _equal((t0, t1, ids), (ref[0][keep], ref[1][keep], ref[2][keep]), "fill with short segments")


def test_traverse_packed_per_ray_planes(device, gen):
    o, d, grid, boxes = _scene(gen, device, "nested", n_rays=20)
    near = (torch.rand(20, generator=gen) * 1.5).to(device)
    far = near + (torch.rand(20, generator=gen) * 2).to(device)
    _check_traverse(o, d, grid, boxes, Ks=(3,), near_planes=near, far_planes=far, step_size=0.05)


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_traverse_empty_and_full_grid(device, gen, density):
    o, d, grid, boxes = _scene(gen, device, "nested", density=density, n_rays=20)
    out = _check_traverse(o, d, grid, boxes, Ks=(6,), step_size=0.1)
    assert (out[0].numel() == 0) == (density == 0.0)


@pytest.mark.parametrize("n_rays", [0, 1])
def test_traverse_no_rays_and_one_ray(device, n_rays):
    grid = torch.zeros(1, 4, 4, 4, dtype=torch.bool, device=device)
    grid[0, 1, 2, 3] = True
    boxes = torch.tensor([[0.0, 0, 0, 1, 1, 1]], device=device)
    o = torch.tensor([[0.3, 0.6, -1.0]], device=device)[:n_rays]
    d = torch.tensor([[0.0, 0.0, 1.0]], device=device)[:n_rays]
    out = _check_traverse(o, d, grid, boxes, Ks=(1, 3), step_size=0.1)
    if n_rays:  # the cell z in [0.75, 1]: the candidates whose midpoints lie there, on the lattice 1 + 0.1 k
        assert out[0].tolist() == pytest.approx([1.7, 1.8, 1.9])


def test_traverse_all_rays_miss(device, gen):
    o, d, grid, boxes = _scene(gen, device, "one", n_rays=10)
    out = _check_traverse(o + 10.0, d, grid, boxes, Ks=(2,), step_size=0.1)
    assert out[0].numel() == 0 and out[3].shape == (10, 2)


# ---------------------------------------------------------------------------- occupancy update
def test_occ_update_duplicates_and_invisible(device, gen):
    from fastgen.ops.march import triton as kernels

    n_cells = 100
    occs = torch.rand(n_cells, generator=gen)
    occs[torch.randperm(n_cells, generator=gen)[:20]] = -1.0  # invisible cells stay so
    cell_ids = torch.randint(0, n_cells, (300,), generator=gen)  # many duplicates, some cells untouched
    values = torch.randn(300, generator=gen)
    expected = reference.occ_update(occs, cell_ids, values, 0.95)
    got = occs.to(device)
    kernels.occ_update_(got, cell_ids.to(device), values.to(device), 0.95)
    _equal((got,), (expected,), "occs")
    kernels.occ_update_(got, cell_ids[:0].to(device), values[:0].to(device), 0.95)  # no samples: unchanged
    _equal((got,), (expected,), "occs after an empty update")

"""March-family cases: Instant-NGP occupancy-grid sampling of a 1024 x 1024 view of a Blender-like
scene, and the occupancy-grid update.

* Scene: a 128^3 grid over the cube [-1, 1]^3 with about 5 % of the cells occupied in blobs
  (thresholded smooth noise), 1 or 4 cascaded levels (level l covers [-2^l, 2^l]^3, each with its
  own ~5 % blobs); one pinhole camera (40 degree field of view) on the sphere of radius 4 looking
  at the origin; ``render_step_size = sqrt(3) / 1024``; with ``cone_angle`` 0 or 1/256. Records
  carry rays/s.
* ``sampling`` cases time ``OccGridEstimator.sampling`` without ``sigma_fn`` (the marching
  itself): packed (two passes, one sync) and the sync-free batched form (``max_samples_per_ray``).
* ``update`` times ``update_every_n_steps`` after warm-up (a quarter of the cells uniformly plus a
  quarter of the occupied ones, jittered) with an MLP-free density (a sum of Gaussian blobs),
  from the same starting grid and generator seed every call.

The reference is the brute-force definition (every candidate's cell looked up), as eager
PyTorch (not compiled: see ``NO_COMPILE``). Outputs checked across backends are per-ray sample
counts and sums of t, which a sample flipping at a cell face (float32 vs the float64 check)
moves by far less than the tolerance.
Sizes: ``full`` 2^20 rays (1024^2), ``quick`` 2^10 (32^2; the brute-force reference is slow),
``smoke`` 16 rays on a 16^3 grid.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from benchmarks.harness import Baseline, Case, Inputs, Outputs
from fastgen.nerf import OccGridEstimator

SEED = 0
STEP = math.sqrt(3) / 1024
CONE = 1.0 / 256
BATCH_K = 192
NO_COMPILE = ("the reference has data-dependent shapes (brute-force candidates, packed outputs): torch.compile "
              "breaks its graph at every one, so it is not timed")


def _side(size: str) -> int:
    return {"full": 1024, "quick": 32, "smoke": 4}[size]


def _blobs(gen, res, fraction=0.05):
    """About ``fraction`` of ``res``^3 cells occupied, in smooth blobs."""
    coarse = torch.rand(1, 1, 12, 12, 12, generator=gen)
    fine = torch.nn.functional.interpolate(coarse, size=(res, res, res), mode="trilinear", align_corners=True)[0, 0]
    return fine > torch.quantile(fine.flatten()[:: max(1, res**3 // 200000)], 1 - fraction)


def _camera_rays(side: int, device):
    eye = torch.tensor([4.0 * math.sin(0.6) * math.cos(0.3), 4.0 * math.sin(0.6) * math.sin(0.3), 4.0 * math.cos(0.6)])
    forward = -eye / eye.norm()
    right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0]))
    right = right / right.norm()
    up = torch.linalg.cross(right, forward)
    half = math.tan(math.radians(20.0))
    s = (torch.arange(side) + 0.5) / side * 2 - 1
    v, u = torch.meshgrid(s, s, indexing="ij")
    d = forward + u.reshape(-1, 1) * half * right - v.reshape(-1, 1) * half * up
    d = d / d.norm(dim=-1, keepdim=True)
    return eye.expand_as(d).contiguous().to(device), d.contiguous().to(device)


@lru_cache(maxsize=4)
def _estimator(levels: int, res: int, device_str: str) -> OccGridEstimator:
    gen = torch.Generator().manual_seed(SEED + levels)
    est = OccGridEstimator([-1.0, -1, -1, 1, 1, 1], resolution=res, levels=levels)
    est.binaries.copy_(torch.stack([_blobs(gen, res) for _ in range(levels)]))
    est.occs.copy_(est.binaries.flatten().float())
    return est.to(device_str)


def _res(size: str) -> int:
    return 16 if size == "smoke" else 128


def _sampling_inputs(levels: int, cone: float, batched: bool):
    def make(device: torch.device, size: str) -> Inputs:
        o, d = _camera_rays(_side(size), device)
        est = _estimator(levels, _res(size), str(device))
        return {"rays_o": o, "rays_d": d, "est": est, "cone": cone, "levels": levels, "batched": batched}
    return make


def _sampling_shape(x: Inputs) -> dict:
    res = int(x["est"].resolution[0])
    shape = {"n_rays": x["rays_o"].shape[0], "grid": f"{x['levels']}x{res}^3", "cone_angle": x["cone"]}
    if x["batched"]:
        shape["max_samples_per_ray"] = BATCH_K
    return shape


def _sampling_bytes(x: Inputs, direction: str) -> int:
    """Rays in, the grid once, and the samples out (measured once; the output size depends on data)."""
    n_samples = _sample_count(x)
    rays = x["rays_o"].shape[0] * 6 * 4
    grid = x["est"].binaries.numel()
    out = x["rays_o"].shape[0] * BATCH_K * 8 if x["batched"] else n_samples * (4 + 4 + 8)
    return rays + grid + out


def _sample_count(x: Inputs) -> int:
    key = id(x["rays_o"])
    if key not in _COUNTS:
        _COUNTS[key] = int(_run(x, "auto")[0].sum())
    return _COUNTS[key]


_COUNTS: dict = {}


def _run(x: Inputs, backend: str) -> Outputs:
    est, o, d = x["est"], x["rays_o"], x["rays_d"]
    n = o.shape[0]
    if x["batched"]:
        t0, t1, mask = est.sampling(o, d, render_step_size=STEP, cone_angle=x["cone"],
                                    max_samples_per_ray=BATCH_K, backend=backend)
        return mask.sum(1).to(o.dtype), torch.where(mask, t0, torch.zeros_like(t0)).sum(1)
    ids, t0, t1 = est.sampling(o, d, render_step_size=STEP, cone_angle=x["cone"], backend=backend)
    counts = torch.zeros(n, dtype=o.dtype, device=o.device).index_add_(0, ids, torch.ones_like(t0))
    return counts, torch.zeros(n, dtype=o.dtype, device=o.device).index_add_(0, ids, t0)


def _sampling_fastgen(x: Inputs, backend: str) -> Outputs:
    return _run(x, backend)


def _sampling_reference(x: Inputs) -> Outputs:
    return _run(x, "reference")


def _sampling_nerfacc(x: Inputs) -> Outputs:
    import nerfacc

    key = ("nerfacc", x["levels"], str(x["rays_o"].device), int(x["est"].resolution[0]))
    if key not in _NERFACC:
        est = x["est"]
        ne = nerfacc.OccGridEstimator(roi_aabb=[-1.0, -1, -1, 1, 1, 1], resolution=int(est.resolution[0]),
                                      levels=x["levels"]).to(x["rays_o"].device)
        ne.binaries.copy_(est.binaries)
        ne.occs.copy_(est.occs)
        _NERFACC[key] = ne
    ne, o = _NERFACC[key], x["rays_o"]
    ids, t0, t1 = ne.sampling(o, x["rays_d"], render_step_size=STEP, cone_angle=x["cone"])
    n = o.shape[0]
    counts = torch.zeros(n, dtype=o.dtype, device=o.device).index_add_(0, ids, torch.ones_like(t0))
    return counts, torch.zeros(n, dtype=o.dtype, device=o.device).index_add_(0, ids, t0)


_NERFACC: dict = {}


def _sampling_case(name: str, levels: int, cone: float, batched: bool = False) -> Case:
    # nerfacc marches the same grid with the same step but places its samples by its own traversal
    # rule, not fastgen's fixed lattice, so per-ray counts and sums of t may differ by a few percent:
    # the same work, not the same samples. A wrong grid or step would still be far off.
    baselines = {} if batched else {"nerfacc": Baseline("nerfacc", _sampling_nerfacc, rtol=0.25)}
    return Case(name=name, op="sampling", make_inputs=_sampling_inputs(levels, cone, batched), shape=_sampling_shape,
                bytes_moved=_sampling_bytes, fastgen=_sampling_fastgen, reference=_sampling_reference,
                baselines=baselines, no_compile=NO_COMPILE, items=lambda x: ("rays", x["rays_o"].shape[0]))


# ---------------------------------------------------------------------------- update
def _density(x):
    centres = torch.tensor([[0.3, -0.2, 0.1], [-0.4, 0.4, -0.3], [0.0, 0.5, 0.5]], device=x.device)
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return (20.0 * torch.exp(-d2 / 0.02)).sum(-1)


def _update_inputs(device: torch.device, size: str) -> Inputs:
    est = OccGridEstimator([-1.0, -1, -1, 1, 1, 1], resolution=_res(size), levels=1).to(device)
    est.update_every_n_steps(0, _density)  # warm-up: every cell
    return {"est": est, "occs0": est.occs.clone(), "bins0": est.binaries.clone()}


def _update_shape(x: Inputs) -> dict:
    return {"grid": f"1x{int(x['est'].resolution[0])}^3", "cells_evaluated": "1/4 uniform + 1/4 occupied"}


def _update_bytes(x: Inputs, direction: str) -> int:
    cells = x["occs0"].numel()
    evaluated = cells // 2
    return evaluated * (8 + 12 + 4) + cells * (4 + 4 + 1)  # ids, points, values; occs read/write, binaries


def _update_run(x: Inputs, backend: str) -> Outputs:
    est = x["est"]
    est.occs.copy_(x["occs0"])
    est.binaries.copy_(x["bins0"])
    gen = torch.Generator(device=est.occs.device).manual_seed(SEED)
    est.update_every_n_steps(1024, _density, generator=gen, backend=backend)
    return est.occs.clone(), est.binaries.float()


CASES = [
    _sampling_case("occgrid_sampling-L1", 1, 0.0),
    _sampling_case("occgrid_sampling-L1-cone", 1, CONE),
    _sampling_case("occgrid_sampling-L4", 4, 0.0),
    _sampling_case("occgrid_sampling-L4-cone", 4, CONE),
    _sampling_case("occgrid_sampling-L1-syncfree", 1, 0.0, batched=True),
    _sampling_case("occgrid_sampling-L4-cone-syncfree", 4, CONE, batched=True),
    Case(name="occgrid_update", op="update_every_n_steps", make_inputs=_update_inputs, shape=_update_shape,
         bytes_moved=_update_bytes, fastgen=_update_run, reference=lambda x: _update_run(x, "reference"),
         no_compile=NO_COMPILE),
]

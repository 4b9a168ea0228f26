"""Bad input raises a clear error naming the op and what is wrong, before any kernel runs."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import OccGridEstimator, ray_aabb_intersect, traverse_grids
from fastgen.ops.march import _library, reference
from tests.conftest import forbid_kernels

O = torch.tensor([[0.0, 0.0, -3.0]])
D = torch.tensor([[0.0, 0.0, 1.0]])
BOX = torch.tensor([[-1.0, -1, -1, 1, 1, 1]])
BINS = torch.ones(1, 4, 4, 4, dtype=torch.bool)


def T(**kw):
    args = dict(rays_o=O, rays_d=D, binaries=BINS, aabbs=BOX)
    args.update(kw)
    return lambda: traverse_grids(**args)


@pytest.mark.parametrize(("call", "match"), [
    (T(rays_d=torch.tensor([[0.0, 0.0, 2.0]])), "rays_d must be unit vectors"),
    (T(rays_d=torch.tensor([[0.0, 0.0, 0.0]])), "zero-length directions"),
    (T(rays_o=torch.tensor([[math.nan, 0.0, 0.0]])), "rays_o has NaN or infinite"),
    (T(rays_o=torch.tensor([[math.inf, 0.0, 0.0]])), "rays_o has NaN or infinite"),
    (T(rays_d=torch.tensor([[math.nan, 0.0, 1.0]])), "rays_d has NaN or infinite"),
    (T(rays_o=O[:, :2]), r"shape \(n_rays, 3\)"),
    (T(rays_o=O.double()), "dtype"),
    (T(rays_o=O.half(), rays_d=D.half()), "dtype"),
    (T(rays_o=O.long()), "dtype"),
    (T(aabbs=torch.tensor([[1.0, -1, -1, -1, 1, 1]])), "min < max"),
    (T(aabbs=torch.tensor([[0.0, 0, 0, 0, 1, 1]])), "min < max"),
    (T(aabbs=torch.tensor([[-1.0, -1, -1, 1, 1, math.nan]])), "NaN or infinite"),
    (T(aabbs=torch.zeros(1, 5)), r"shape \(n_boxes, 6\)"),
    (T(aabbs=torch.cat([BOX, BOX * 2])), "2 boxes but binaries has 1 grids"),
    (T(binaries=BINS.float()), "dtype"),
    (T(binaries=BINS[0]), "4 dimension"),
    (T(binaries=torch.ones(1, 0, 4, 4, dtype=torch.bool)), "every size >= 1"),
    (T(step_size=0.0), "step_size must be a finite number > 0"),
    (T(step_size=math.nan), "step_size"),
    (T(cone_angle=-0.1), "cone_angle must be a finite number >= 0"),
    (T(max_step_size=1e-5), "max_step_size must be a number >= step_size"),
    (T(near_planes=torch.zeros(2)), r"near_planes must have shape \(n_rays,\)"),
    (T(far_planes=torch.tensor([math.nan])), "far_planes has NaN"),
    (T(jitter=torch.tensor([1.0])), r"jitter must lie in \[0, 1\)"),
    (T(max_samples_per_ray=0), "max_samples_per_ray must be an int >= 1"),
    (T(backend="nope"), "unknown backend"),
    (T(rays_d=D.to("meta")), "must be on one device"),
    (T(binaries=BINS.to("meta")), "must be on one device"),
    (T(aabbs=BOX.to("meta")), "must be on one device"),
    (T(near_planes=torch.zeros(1, device="meta")), "must be on one device"),
    (lambda: ray_aabb_intersect(O, torch.zeros(1, 3), BOX), "zero-length directions"),
    (lambda: ray_aabb_intersect(O, D, BOX, near_plane=math.nan), "near_plane must be a number"),
    (lambda: OccGridEstimator([0, 0, 0, 1, 1, 1], resolution=0), "resolution must be an int >= 1"),
    (lambda: OccGridEstimator([0, 0, 0, 1, 1, 1], resolution=(4, 4)), "resolution"),
    (lambda: OccGridEstimator([0, 0, 0, 1, 1, 1], levels=0), "levels must be an int >= 1"),
    (lambda: OccGridEstimator([0, 0, 0, 0, 1, 1]), "min < max"),
    (lambda: OccGridEstimator([0, 0, 0, 1, 1]), "6 finite floats"),
])
def test_bad_input(monkeypatch, call, match):
    forbid_kernels(monkeypatch, _library, reference, ["traverse_grids", "traverse_grids_batched",
                                                      "ray_aabb_intersect"])
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert info.match(match)


def test_update_needs_training_mode():
    est = OccGridEstimator([0, 0, 0, 1, 1, 1], resolution=4).eval()
    with pytest.raises(RuntimeError, match="training mode"):
        est.update_every_n_steps(0, lambda x: x[:, 0])


def test_occ_eval_fn_must_return_one_value_per_point():
    est = OccGridEstimator([0, 0, 0, 1, 1, 1], resolution=4)
    with pytest.raises(ValueError, match="occ_eval_fn returned"):
        est.update_every_n_steps(0, lambda x: x)


def test_mark_invisible_cells_shapes():
    est = OccGridEstimator([0, 0, 0, 1, 1, 1], resolution=4)
    with pytest.raises(ValueError, match="c2w must have shape"):
        est.mark_invisible_cells(torch.eye(3), torch.zeros(2, 2, 4), 8, 8)
    with pytest.raises(ValueError, match="K must have shape"):
        est.mark_invisible_cells(torch.zeros(3, 3, 3), torch.zeros(2, 3, 4), 8, 8)

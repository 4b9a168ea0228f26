"""fastgen.compat.nerfacc's march names: nerfacc's signatures and return types."""
from __future__ import annotations

import torch

from fastgen.compat import nerfacc
from fastgen.nerf import traverse_grids
from tests.march._helpers import grid, nested_aabbs, rays


def test_traverse_grids_returns_nerfacc_data_classes(gen):
    o, d = rays(gen, 40, extent=2.0)
    bins, boxes = grid(gen, 2), nested_aabbs(2).float()
    intervals, samples, planes = nerfacc.traverse_grids(o, d, bins, boxes, step_size=0.05, cone_angle=0.02)
    t0, t1, ids, info = traverse_grids(o, d, bins, boxes, step_size=0.05, cone_angle=0.02, max_step_size=float("inf"))
    assert torch.equal(intervals.vals[intervals.is_left], t0) and torch.equal(intervals.vals[intervals.is_right], t1)
    assert torch.equal(samples.vals, (t0 + t1) * 0.5) and torch.equal(samples.ray_indices, ids)
    assert torch.equal(samples.packed_info, info) and torch.equal(intervals.packed_info, info * 2)
    assert planes.shape == (40,)


def test_estimator_uncapped_cone_steps(gen):
    est = nerfacc.OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=4, levels=2)
    est.binaries.fill_(True)
    o, d = rays(gen, 16, extent=2.0)
    ids, t0, t1 = est.sampling(o, d, render_step_size=0.01, cone_angle=0.5)
    assert float((t1 - t0).max()) > est.default_max_step  # nerfacc does not cap cone steps
    assert set(est.state_dict()) == {"resolution", "aabbs", "occs", "binaries"}

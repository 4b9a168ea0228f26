"""fastgen.compat.nerfacc's march names: nerfacc's signatures and return types."""
from __future__ import annotations

import pytest
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


def test_traverse_steps_limit_chunks_continue_where_they_stopped(gen):
    """nerfacc's chunked test-time marching: K samples per call, restarting from the termination
    planes, gives the unlimited traversal's samples (cone_angle 0: the lattice is fixed by the
    start, so restart at a sample's end continues the same lattice; float64 keeps the restarted
    lattice's rounding away from the boxes' edges)."""
    o, d = rays(gen, 24, extent=2.0, dtype=torch.float64)
    bins, boxes = grid(gen, 2), nested_aabbs(2)
    full, _, _ = nerfacc.traverse_grids(o, d, bins, boxes, step_size=0.1)
    near = torch.zeros(24, dtype=torch.float64)
    mask = torch.ones(24, dtype=torch.bool)
    got = [[] for _ in range(24)]
    for _ in range(200):
        intervals, samples, planes = nerfacc.traverse_grids(o, d, bins, boxes, near, None, 0.1, 0.0, 3, True, mask)
        t0, t1 = intervals.vals[intervals.is_left], intervals.vals[intervals.is_right]
        ids = samples.ray_indices[samples.is_valid]
        assert torch.equal(samples.vals, (t0 + t1) / 2) and bool((samples.packed_info[:, 1] <= 3).all())
        assert bool((samples.packed_info[~mask, 1] == 0).all())  # masked rays get nothing
        for r, a in zip(ids.tolist(), t0.tolist()):
            got[r].append(a)
        mask = mask & (samples.packed_info[:, 1] == 3)
        near = planes
        if not mask.any():
            break
    starts = full.vals[full.is_left]
    rays_of = full.ray_indices[full.is_left]
    for r in range(24):
        want = starts[rays_of == r]
        assert len(got[r]) == want.shape[0], r
        assert torch.allclose(torch.tensor(got[r], dtype=torch.float64), want, atol=1e-9), r


def test_traverse_grids_argument_checks(gen):
    o, d = rays(gen, 4)
    with pytest.raises(ValueError, match="traverse_steps_limit must be set"):
        nerfacc.traverse_grids(o, d, grid(gen, 1), nested_aabbs(1).float(), over_allocate=True)


def test_pack_info_and_data_classes():
    ids = torch.tensor([0, 0, 2, 2, 2, 3])
    assert torch.equal(nerfacc.pack_info(ids), torch.tensor([[0, 2], [2, 0], [2, 3], [5, 1]]))
    assert torch.equal(nerfacc.pack_info(ids, n_rays=6)[4:], torch.tensor([[6, 0], [6, 0]]))
    with pytest.raises(ValueError, match="1D"):
        nerfacc.pack_info(ids[None])
    intervals = nerfacc.RayIntervals(vals=torch.tensor([[0.0, 1.0], [0.0, 2.0]]))
    new, samples = nerfacc.importance_sampling(intervals, torch.tensor([[0.0, 1.0], [0.0, 1.0]]), 2)
    assert type(new) is nerfacc.RayIntervals and type(samples) is nerfacc.RaySamples
    assert new.device.type == samples.device.type == "cpu"
    assert torch.allclose(samples.vals, torch.tensor([[0.25, 0.75], [0.5, 1.5]]))

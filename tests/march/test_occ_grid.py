"""OccGridEstimator: buffers and state_dict as nerfacc's, the Instant-NGP update schedule, EMA and
threshold, sampling (with and without sigma_fn, packed and sync-free batched), invisible cells."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import OccGridEstimator, traverse_grids
from fastgen.ops.march import native, reference
from tests.march._helpers import rays


def _ball(x):
    """Density 10 inside a ball of radius 0.5 about the origin, 0 outside."""
    return (x.norm(dim=-1) < 0.5).float() * 10.0


def test_buffers_and_state_dict():
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=(8, 4, 6), levels=3)
    assert set(est.state_dict()) == {"resolution", "occs", "binaries"}
    assert est.binaries.shape == (3, 8, 4, 6) and est.binaries.dtype == torch.bool
    assert est.occs.shape == (3 * 8 * 4 * 6,)
    assert torch.equal(est.aabbs[2], torch.tensor([-4.0, -4, -4, 4, 4, 4]))
    # flat cell index (i * Y + j) * Z + k
    assert est.grid_coords[(2 * 4 + 3) * 6 + 5].tolist() == [2, 3, 5]
    est.occs.uniform_()
    est.binaries.copy_(torch.rand(3, 8, 4, 6) < 0.5)
    other = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=(8, 4, 6), levels=3)
    other.load_state_dict(est.state_dict())
    assert torch.equal(other.occs, est.occs) and torch.equal(other.binaries, est.binaries)


def test_warmup_evaluates_every_cell_and_thresholds():
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8, levels=2)
    seen = []

    def occ_fn(x):
        seen.append(x.shape[0])
        return _ball(x)

    est.update_every_n_steps(0, occ_fn, occ_thre=0.01)
    assert seen == [8**3, 8**3]  # every cell of both levels
    occ = est.occs
    thre = min(float(occ[occ >= 0].mean()), 0.01)
    assert torch.equal(est.binaries.flatten(), occ > thre)
    assert bool(est.binaries[0, 3:5, 3:5, 3:5].all())  # the centre is inside the ball
    assert not bool(est.binaries[0, 0, 0, 0]) and not bool(est.binaries[1, 0:2].any())
    est.update_every_n_steps(1, occ_fn)  # not a multiple of n: nothing happens
    assert len(seen) == 2


def test_schedule_after_warmup_and_ema():
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8)
    est.update_every_n_steps(0, _ball)
    before = est.occs.clone()
    g = torch.Generator().manual_seed(3)
    picks = [len(idx) for _, idx in est._cells(300, 256, torch.Generator().manual_seed(3))]
    occupied = int(est.binaries.sum())
    assert picks == [8**3 // 4 + min(occupied, 8**3 // 4)]
    est.update_every_n_steps(304, lambda x: torch.zeros(x.shape[0]), ema_decay=0.5, warmup_steps=256, generator=g)
    # cells evaluated (at 0) decay by half, the others keep their value
    changed = est.occs != before
    assert torch.allclose(est.occs[changed], before[changed] * 0.5)
    assert int(changed.sum()) > 0


@pytest.mark.parametrize("step", [0, 512])
def test_update_same_cells_for_every_backend(backend, device, step):
    """A seeded generator picks the same cells, so every backend ends with the same grid (the
    reference runs on the backend's device, where the generator draws the same numbers)."""
    results = []
    for b in ("reference", backend):
        est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8, levels=2).to(device)
        est.update_every_n_steps(0, _ball, generator=torch.Generator(device).manual_seed(0), backend=b)
        est.update_every_n_steps(step, lambda x: _ball(x) * 0.7 + x[:, 0].abs(), ema_decay=0.9,
                                 generator=torch.Generator(device).manual_seed(1), backend=b)
        results.append((est.occs.clone(), est.binaries.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_occ_update_kernel_duplicates_and_invisible(gen):
    occs = torch.rand(50, generator=gen)
    occs[:5] = -1.0  # invisible cells stay invisible
    ids = torch.randint(0, 50, (200,), generator=gen)
    vals = torch.rand(200, generator=gen) * 2
    want = reference.occ_update(occs, ids, vals, 0.9)
    got = occs.clone()
    native.occ_update_(got, ids, vals, 0.9)
    assert torch.equal(got, want)
    assert bool((got[:5] == -1).all())
    c = int(ids[0])
    if occs[c] >= 0:
        assert math.isclose(float(got[c]), max(float(occs[c]) * 0.9, float(vals[ids == c].max())), rel_tol=1e-6)


def _trained(levels=1, res=16):
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=res, levels=levels)
    est.update_every_n_steps(0, _ball)
    return est


def test_sampling_without_sigma_is_traversal(backend, device, gen):
    est = _trained(2).to(device)
    o, d = (x.to(device) for x in rays(gen, 64, extent=2.0))
    ids, t0, t1 = est.sampling(o, d, render_step_size=0.02, near_plane=0.1, backend=backend)
    want = traverse_grids(o, d, est.binaries, est.aabbs, torch.full((64,), 0.1, device=device),
                          torch.full((64,), 1e10, device=device), step_size=0.02, backend=backend)
    assert torch.equal(ids, want[2]) and torch.equal(t0, want[0]) and torch.equal(t1, want[1])
    assert t0.numel() > 0


def test_sampling_drops_invisible_samples(backend, device):
    """Behind an opaque slab nothing survives early termination; alpha_thre drops thin samples."""
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8).to(device)
    est.binaries.fill_(True)
    est.occs.fill_(1.0)
    o = torch.tensor([[0.1, 0.1, -3.0], [0.3, -0.2, -3.0]], device=device)
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], device=device)

    def sigma_fn(t0, t1, ids):  # opaque for z in [0, 0.2]; thin everywhere else
        z = -3.0 + (t0 + t1) / 2
        return torch.where((z > 0) & (z < 0.2), torch.full_like(z, 1e4), torch.full_like(z, 0.01))

    ids, t0, t1 = est.sampling(o, d, sigma_fn=sigma_fn, render_step_size=0.05, backend=backend)
    z = -3.0 + (t0 + t1) / 2
    assert t0.numel() > 0 and float(z.max()) < 0.25  # nothing behind the slab
    ids2, t02, _ = est.sampling(o, d, sigma_fn=sigma_fn, render_step_size=0.05, alpha_thre=0.01, backend=backend)
    z2 = -3.0 + t02 + 0.025
    assert bool(((z2 > 0) & (z2 < 0.2)).all()) and t02.numel() > 0
    # batched, sync-free: the same samples
    b0, b1, mask = est.sampling(o, d, sigma_fn=sigma_fn, render_step_size=0.05, alpha_thre=0.01,
                                max_samples_per_ray=64, backend=backend)
    assert torch.equal(b0[mask], t02)


def test_sampling_batched_equals_packed(backend, device, gen):
    est = _trained(1).to(device)
    o, d = (x.to(device) for x in rays(gen, 48))
    ids, t0, t1 = est.sampling(o, d, render_step_size=0.03, backend=backend)
    b0, b1, mask = est.sampling(o, d, render_step_size=0.03, max_samples_per_ray=256, backend=backend)
    assert torch.equal(b0[mask], t0) and torch.equal(b1[mask], t1)
    assert torch.equal(torch.nonzero(mask)[:, 0], ids)


def test_stratified_is_seeded(gen):
    est = _trained(1)
    o, d = rays(gen, 32)
    a = est.sampling(o, d, stratified=True, generator=torch.Generator().manual_seed(5))
    b = est.sampling(o, d, stratified=True, generator=torch.Generator().manual_seed(5))
    c = est.sampling(o, d, stratified=False)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[1], c[1][:a[1].shape[0]]) if a[1].shape == c[1].shape else True


def test_mark_invisible_cells():
    """A camera on the -z axis looking at +z with a narrow view sees only the central column."""
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=4)
    est.occs.fill_(0.5)
    est.binaries.fill_(True)
    c2w = torch.eye(4)[None].clone()
    c2w[0, 2, 3] = -5.0  # at z = -5, looking along +z (OpenCV: +z forward)
    K = torch.tensor([[100.0, 0, 10], [0, 100.0, 10], [0, 0, 1]])  # 20 x 20 pixels, narrow field of view
    est.mark_invisible_cells(K, c2w, 20, 20)
    occ = est.occs.view(4, 4, 4)
    assert bool((occ[1:3, 1:3, :] == 0.5).all())  # the central column is kept
    assert bool((occ[0] == -1).all()) and bool((occ[:, 3] == -1).all())
    assert torch.equal(est.binaries, est.occs.view(1, 4, 4, 4) >= 0)
    est.update_every_n_steps(0, lambda x: torch.ones(x.shape[0]))
    assert bool((est.occs.view(4, 4, 4)[0] == -1).all())  # invisible cells are never updated


def test_schedule_draws_are_the_documented_ones():
    """After warm-up, per level: cells // 4 uniform draws, then cells // 4 draws among the occupied
    cells (in flat order), both from the generator in that order."""
    est = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8, levels=2)
    est.binaries.copy_(torch.rand(2, 8, 8, 8, generator=torch.Generator().manual_seed(7)) < 0.6)
    got = est._cells(1000, 256, torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    n = 8**3 // 4
    for lvl, idx in got:
        uniform = torch.randint(8**3, (n,), generator=g)
        occupied = torch.nonzero(est.binaries[lvl].flatten())[:, 0]
        assert occupied.numel() > n
        picked = occupied[torch.randint(occupied.numel(), (n,), generator=g)]
        assert torch.equal(idx, torch.cat([uniform, picked])), lvl
    few = OccGridEstimator([-1, -1, -1, 1, 1, 1], resolution=8)
    few.binaries[0, 1, 2, 3] = True  # fewer occupied cells than cells // 4: all of them, once
    idx = few._cells(1000, 256, torch.Generator().manual_seed(0))[0][1]
    assert idx.numel() == n + 1 and int(idx[-1]) == (1 * 8 + 2) * 8 + 3

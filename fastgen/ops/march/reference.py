"""Plain-PyTorch definitions of the march family (the definition of correct).

``traverse_grids`` here is brute force: it lists every candidate interval of every ray and looks
the cell of each candidate's midpoint up, where the kernels skip empty cells with a DDA. Both use
the same float operations in the same order (see csrc/march/march.h), so on the CPU they agree
bit for bit. Rays are processed in chunks to bound memory.
"""
from __future__ import annotations

import math

import torch

# Candidates materialised at once (about 60 bytes each): bounded memory, few kernel launches.
_CHUNK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 26}


def slab(rays_o, rays_d, boxes):
    """(t0, t1) (R, M): the parameter interval of each ray inside each box; an axis with d = 0 is
    the whole line when lo <= o <= hi, else empty (t0 = +inf, t1 = -inf). Never NaN."""
    o, d = rays_o[:, None, :], rays_d[:, None, :]
    lo, hi = boxes[None, :, :3], boxes[None, :, 3:]
    zero = d == 0
    safe_d = torch.where(zero, torch.ones_like(d), d)
    ta, tb = (lo - o) / safe_d, (hi - o) / safe_d
    inside = (o >= lo) & (o <= hi)
    inf = torch.full_like(ta, math.inf)
    near = torch.where(zero, torch.where(inside, -inf, inf), torch.minimum(ta, tb))
    far = torch.where(zero, torch.where(inside, inf, -inf), torch.maximum(ta, tb))
    return near.amax(-1), far.amin(-1)


def ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value):
    t0, t1 = slab(rays_o, rays_d, aabbs)
    hits = (t1 > t0) & (t1 > 0)
    t_mins = t0.clamp(min=near_plane).clamp(max=far_plane)
    t_maxs = t1.clamp(min=near_plane).clamp(max=far_plane)
    miss = torch.full_like(t_mins, miss_value)
    return torch.where(hits, t_mins, miss), torch.where(hits, t_maxs, miss), hits


def ray_ranges(rays_o, rays_d, aabbs, near_planes, far_planes):
    """[t_lo, t_hi] per ray: the span of the boxes the ray crosses, inside [near, far]."""
    t0, t1 = slab(rays_o, rays_d, aabbs)
    crossed = t1 > t0
    inf = torch.full_like(t0, math.inf)
    t_lo = torch.where(crossed, t0, inf).amin(-1)
    t_hi = torch.where(crossed, t1, -inf).amax(-1)
    return torch.maximum(t_lo, near_planes), torch.minimum(t_hi, far_planes)


def _step_at(t, step, cone, max_step):
    if cone == 0.0:
        return torch.full_like(t, float(step))
    c, lo, hi = (torch.tensor(v, dtype=t.dtype, device=t.device) for v in (cone, step, max_step))
    return torch.minimum(torch.maximum(t * c, lo), hi)


def _candidates(t_first, t_hi, step, cone, max_step):
    """(t_starts, dts, alive) (R, K) of every candidate interval, K the longest ray's count."""
    R, dtype, device = t_first.shape[0], t_first.dtype, t_first.device
    if cone == 0.0:
        step_t = torch.tensor(step, dtype=dtype, device=device)
        span = torch.where(t_first < t_hi, t_hi - t_first, torch.zeros_like(t_hi))
        K = int(math.floor(float(span.max()) / step)) + 2 if R else 0
        k = torch.arange(K, dtype=dtype, device=device)
        t = t_first[:, None] + k[None, :] * step_t
        dt = torch.full_like(t, step)
        t_end = t + dt
        ok = (t_end <= t_hi[:, None]) & (t_end > t)
    else:
        ts, dts, oks = [], [], []
        t = t_first.clone()
        dt = _step_at(t, step, cone, max_step)
        alive = torch.ones(R, dtype=torch.bool, device=device)
        while bool(alive.any()):
            t_end = t + dt
            alive = alive & (t_end <= t_hi) & (t_end > t)
            ts.append(t), dts.append(dt), oks.append(alive)
            t = torch.where(alive, t_end, t)
            dt = _step_at(t, step, cone, max_step)
        t = torch.stack(ts, 1) if ts else t_first.new_zeros((R, 0))
        dt = torch.stack(dts, 1) if dts else t.clone()
        ok = torch.stack(oks, 1) if oks else torch.zeros((R, 0), dtype=torch.bool, device=device)
    alive = torch.cumprod(ok.to(torch.uint8), 1).bool()  # a ray ends at its first failure
    return t, dt, alive


def occupied_at(rays_o, rays_d, t, binaries, aabbs):
    """Whether the point o + t d (t: (R, K)) is in an occupied cell of the first grid whose closed
    box contains it (False when in none)."""
    L, rx, ry, rz = binaries.shape
    p = rays_o[:, None, :] + t[..., None] * rays_d[:, None, :]
    occ = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    taken = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    res = torch.tensor([rx, ry, rz], dtype=t.dtype, device=t.device)
    res_i = torch.tensor([rx, ry, rz], device=t.device)
    for level in range(L):
        lo, hi = aabbs[level, :3], aabbs[level, 3:]
        inside = ((p >= lo) & (p <= hi)).all(-1) & ~taken
        idx = torch.floor((p - lo) / (hi - lo) * res).long()
        idx = torch.minimum(idx.clamp(min=0), res_i - 1)
        cell = binaries[level][idx[..., 0], idx[..., 1], idx[..., 2]]
        occ = occ | (inside & cell)
        taken = taken | inside
    return occ


def _march(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step):
    """(t_starts, t_ends, keep) (R, K) of a chunk of rays."""
    t_lo, t_hi = ray_ranges(rays_o, rays_d, aabbs, near_planes, far_planes)
    valid = t_lo < t_hi
    t_lo = torch.where(valid, t_lo, torch.zeros_like(t_lo))
    t_hi = torch.where(valid, t_hi, torch.full_like(t_hi, -1.0))
    t_first = t_lo if jitter is None else t_lo + jitter * _step_at(t_lo, step, cone, max_step)
    t, dt, alive = _candidates(t_first, t_hi, step, cone, max_step)
    mid = t + dt * 0.5
    keep = alive & occupied_at(rays_o, rays_d, mid, binaries, aabbs)
    return t, t + dt, keep


def _longest(t_lo, t_hi, step, cone, max_step) -> int:
    """An upper bound of the candidates of any ray: those of a ray spanning [min t_lo, max t_hi]
    (steps grow with t, so no ray inside that span has more)."""
    valid = t_lo < t_hi
    if not bool(valid.any()):
        return 1
    lo, hi = float(t_lo[valid].min()), float(t_hi[valid].max())
    if cone == 0.0:
        return int((hi - lo) / step) + 2
    t, n = lo, 1
    while t < hi:
        t += min(max(t * cone, step), max_step)
        n += 1
    return n + 1


def _chunks(n_rays, rays_o, rays_d, aabbs, near_planes, far_planes, step, cone, max_step):
    """Ray ranges [a, b) small enough that their candidates fit in the chunk budget."""
    if n_rays == 0:
        return []
    t_lo, t_hi = ray_ranges(rays_o, rays_d, aabbs, near_planes, far_planes)
    budget = _CHUNK_ELEMENTS.get(rays_o.device.type, _CHUNK_ELEMENTS["cpu"])
    size = max(1, budget // _longest(t_lo, t_hi, step, cone, max_step))
    return [(a, min(a + size, n_rays)) for a in range(0, n_rays, size)]


def traverse_grids(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone,
                   max_step):
    """Packed (t_starts, t_ends, ray_indices, packed_info) of the kept intervals."""
    device = rays_o.device
    n_rays = rays_o.shape[0]
    starts, ends, ids, counts = [], [], [], []
    for a, b in _chunks(n_rays, rays_o, rays_d, aabbs, near_planes, far_planes, step, cone, max_step):
        j = None if jitter is None else jitter[a:b]
        t0, t1, keep = _march(rays_o[a:b], rays_d[a:b], binaries, aabbs, near_planes[a:b],
                              far_planes[a:b], j, step, cone, max_step)
        starts.append(t0[keep]), ends.append(t1[keep])
        ids.append(torch.nonzero(keep)[:, 0] + a)
        counts.append(keep.sum(1))
    dtype = rays_o.dtype
    t_starts = torch.cat(starts) if starts else torch.zeros(0, dtype=dtype, device=device)
    t_ends = torch.cat(ends) if ends else torch.zeros(0, dtype=dtype, device=device)
    ray_indices = torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long, device=device)
    count = torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long, device=device)
    packed_info = torch.stack([torch.cumsum(count, 0) - count, count], 1)
    return t_starts, t_ends, ray_indices, packed_info


def traverse_grids_batched(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step,
                           cone, max_step, max_samples):
    """The first ``max_samples`` kept intervals of each ray, (R, K), and their counts (R,);
    padding repeats the last end (0 for an empty ray)."""
    t_starts, t_ends, ray_indices, packed_info = traverse_grids(
        rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step)
    n_rays, K = rays_o.shape[0], max_samples
    counts = packed_info[:, 1].clamp(max=K)
    rank = torch.arange(t_starts.shape[0], device=t_starts.device) - packed_info[ray_indices, 0]
    sel = rank < K
    out0 = rays_o.new_zeros((n_rays, K))
    out1 = rays_o.new_zeros((n_rays, K))
    out0[ray_indices[sel], rank[sel]] = t_starts[sel]
    out1[ray_indices[sel], rank[sel]] = t_ends[sel]
    last = out1.gather(1, (counts - 1).clamp(min=0)[:, None])
    last = torch.where(counts[:, None] > 0, last, torch.zeros_like(last))
    pad = torch.arange(K, device=rays_o.device)[None, :] >= counts[:, None]
    out0 = torch.where(pad, last, out0)
    out1 = torch.where(pad, last, out1)
    return out0, out1, counts


def occ_update(occs, cell_ids, values, decay):
    """EMA max update: each sampled cell with occs >= 0 gets max(occs * decay, max of its values)."""
    best = torch.full_like(occs, -math.inf).scatter_reduce(0, cell_ids, values, "amax")
    touched = (best > -math.inf) & (occs >= 0)
    return torch.where(touched, torch.maximum(occs * decay, best), occs)

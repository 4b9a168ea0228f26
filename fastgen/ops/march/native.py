"""March-family primitives on the compiled extension (backends "cpu" and "cuda").

Inputs arrive validated and contiguous (float32/float64 rays and boxes, bool grids, int64
packing); these functions allocate the outputs with torch and hand ``fastgen._C`` raw pointers
and sizes (see ``fastgen.ops._native.launch``). The math is csrc/march/march.h.
"""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch
from fastgen.ops.march._passes import passes

def ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value):
    n_rays, n_aabbs = rays_o.shape[0], aabbs.shape[0]
    t_mins = rays_o.new_empty((n_rays, n_aabbs))
    t_maxs = rays_o.new_empty((n_rays, n_aabbs))
    hits = torch.empty((n_rays, n_aabbs), dtype=torch.bool, device=rays_o.device)
    if n_rays and n_aabbs:
        launch("ray_aabb_intersect", rays_o.device, rays_o.data_ptr(), rays_d.data_ptr(),
               aabbs.data_ptr(), t_mins.data_ptr(), t_maxs.data_ptr(), hits.data_ptr(), n_rays,
               n_aabbs, float(near_plane), float(far_plane), float(miss_value),
               dtype_code(rays_o.dtype))
    return t_mins, t_maxs, hits


def _traverse(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
              mode, counts=None, packed_info=None, t_starts=None, t_ends=None, ray_indices=None, n_out=0):
    L, rx, ry, rz = binaries.shape
    ptr = lambda t: t.data_ptr() if t is not None else 0  # noqa: E731
    launch("traverse", rays_o.device, rays_o.data_ptr(), rays_d.data_ptr(), binaries.data_ptr(),
           aabbs.data_ptr(), near_planes.data_ptr(), far_planes.data_ptr(), ptr(jitter),
           rays_o.shape[0], L, rx, ry, rz, float(step), float(cone), float(max_step),
           dtype_code(rays_o.dtype), mode, ptr(counts), ptr(packed_info), ptr(t_starts), ptr(t_ends),
           ptr(ray_indices), n_out)


traverse_count, traverse_fill, traverse_batched = passes(_traverse)


def occ_update_(occs, cell_ids, values, decay):
    """In place on occs (see reference.occ_update)."""
    best = torch.full_like(occs, float("-inf"))
    args = (occs.data_ptr(), best.data_ptr(), cell_ids.data_ptr(), values.data_ptr(), occs.shape[0],
            cell_ids.shape[0], float(decay))
    if cell_ids.shape[0]:
        launch("occ_scatter_max", occs.device, *args)
        launch("occ_ema", occs.device, *args)

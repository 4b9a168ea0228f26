"""The three traversal passes, allocating their outputs, shared by the kernel modules.

``native.py`` and ``triton.py`` each provide one launcher ``traverse(rays_o, rays_d, binaries,
aabbs, near_planes, far_planes, jitter, step, cone, max_step, mode, counts=None,
packed_info=None, t_starts=None, t_ends=None, ray_indices=None, n_out=0)`` running march.h's
``traverse_ray`` in one of the modes below; :func:`passes` wraps it into the count, packed-fill
and batched functions that ``_library.py`` calls.
"""
from __future__ import annotations

import torch

COUNT, PACKED, BATCHED = 0, 1, 2  # march.h TraverseMode


def passes(traverse):
    """(traverse_count, traverse_fill, traverse_batched) running on the launcher ``traverse``."""

    def traverse_count(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step):
        counts = torch.zeros(rays_o.shape[0], dtype=torch.long, device=rays_o.device)
        if rays_o.shape[0]:
            traverse(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
                     COUNT, counts=counts)
        return counts

    def traverse_fill(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
                      packed_info, n_total):
        t_starts = rays_o.new_empty((n_total,))
        t_ends = rays_o.new_empty((n_total,))
        ray_indices = torch.empty(n_total, dtype=torch.long, device=rays_o.device)
        if n_total:
            traverse(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
                     PACKED, packed_info=packed_info, t_starts=t_starts, t_ends=t_ends, ray_indices=ray_indices,
                     n_out=n_total)
        return t_starts, t_ends, ray_indices

    def traverse_batched(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
                         max_samples):
        n_rays = rays_o.shape[0]
        t_starts = rays_o.new_empty((n_rays, max_samples))
        t_ends = rays_o.new_empty((n_rays, max_samples))
        counts = torch.zeros(n_rays, dtype=torch.long, device=rays_o.device)
        if n_rays and max_samples:
            traverse(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step,
                     BATCHED, counts=counts, t_starts=t_starts, t_ends=t_ends, n_out=max_samples)
        return t_starts, t_ends, counts

    return traverse_count, traverse_fill, traverse_batched

"""``nerfacc.grid``: :func:`ray_aabb_intersect` and :func:`traverse_grids` on fastgen's marching
kernels (:mod:`fastgen.ops.march`)."""
from __future__ import annotations

import math

import torch

from fastgen.ops import march as _march
from fastgen.compat.nerfacc.data_specs import RayIntervals, RaySamples


@torch.no_grad()
def ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane=-float("inf"), far_plane=float("inf"),
                       miss_value=float("inf")):
    return _march.ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value)


ray_aabb_intersect.__doc__ = _march.ray_aabb_intersect.__doc__


def _per_ray(planes, default, rays_o):
    if planes is None:
        return torch.full_like(rays_o[:, 0], default)
    return torch.as_tensor(planes, dtype=rays_o.dtype, device=rays_o.device).expand(rays_o.shape[0])


@torch.no_grad()
def traverse_grids(rays_o, rays_d, binaries, aabbs, near_planes=None, far_planes=None, step_size=1e-3,
                   cone_angle=0.0, traverse_steps_limit=None, over_allocate=False, rays_mask=None,
                   t_sorted=None, t_indices=None, hits=None):
    """nerfacc's ray traversal of multiple grids: ``(intervals, samples, termination_planes)``.

    The samples are those of :func:`fastgen.nerf.traverse_grids` with nerfacc's uncapped cone
    steps. ``intervals`` (:class:`RayIntervals`) holds each interval as its own pair of edges
    (``is_left`` / ``is_right`` alternate), ``samples`` (:class:`RaySamples`) the midpoints, with
    ``packed_info``, ``ray_indices`` and an all-True ``is_valid``.

    * ``traverse_steps_limit=K``: at most the first K samples of each ray; a ray that reaches K
      terminates at the end of its K-th sample, so a next call from ``termination_planes``
      continues where this one stopped (nerfacc's chunked test-time rendering); with
      ``cone_angle=0`` the chunks give the unlimited traversal's samples, up to rounding of the
      restarted lattice (in float32, a sample can appear or vanish at a box's edge).
    * ``over_allocate`` only sizes nerfacc's buffers; the result here is always the compact one
      (every entry valid), which nerfacc's callers read through ``is_left`` / ``is_valid`` alike.
    * ``rays_mask``: rays where it is False get no samples and terminate at their near plane.
    * ``t_sorted``, ``t_indices``, ``hits``: accepted; the kernels intersect the boxes themselves.

    ``termination_planes`` (n_rays,): the far plane of each ray, except as said above.
    """
    if over_allocate and not (traverse_steps_limit and traverse_steps_limit > 0):
        raise ValueError("traverse_grids: traverse_steps_limit must be set if over_allocate is True")
    near = _per_ray(near_planes, 0.0, rays_o)
    far = _per_ray(far_planes, math.inf, rays_o)
    if rays_mask is not None:
        far = torch.where(rays_mask.to(torch.bool), far, near)
    limit = traverse_steps_limit if traverse_steps_limit is not None and traverse_steps_limit > 0 else None
    out = _march.traverse_grids(rays_o, rays_d, binaries, aabbs, near, far, step_size, cone_angle, math.inf,
                                max_samples_per_ray=limit)
    if limit is None:
        t0, t1, ray_indices, packed_info = out
        termination = far
    else:
        t_starts, t_ends, mask = out  # mask is a prefix of each row: row-major order stays sorted by ray
        counts = mask.sum(1)
        t0, t1 = t_starts[mask], t_ends[mask]
        ray_indices = torch.arange(rays_o.shape[0], device=rays_o.device)[:, None].expand_as(mask)[mask]
        packed_info = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
        termination = torch.where(counts == limit, t_ends[:, -1], far)
    n = t0.shape[0]
    is_left = torch.zeros(2 * n, dtype=torch.bool, device=t0.device)
    is_left[0::2] = True
    intervals = RayIntervals(vals=torch.stack([t0, t1], 1).reshape(-1), packed_info=packed_info * 2,
                             ray_indices=ray_indices.repeat_interleave(2), is_left=is_left, is_right=~is_left)
    samples = RaySamples(vals=(t0 + t1) * 0.5, packed_info=packed_info, ray_indices=ray_indices,
                         is_valid=torch.ones(n, dtype=torch.bool, device=t0.device))
    return intervals, samples, termination


__all__ = ["ray_aabb_intersect", "traverse_grids"]

"""Drop-in replacement for nerfacc's volume-rendering API (nerfacc 0.5 names and signatures).

Swap ``import nerfacc`` for ``from fastgen.compat import nerfacc``: the functions below take the
same positional and keyword arguments as nerfacc's and return the same shapes. They run on
fastgen's backends (``backend="auto"`` by default; pass ``backend=`` to choose). Functions of
nerfacc that fastgen does not implement yet are absent rather than stubbed.

Differences from nerfacc, all deliberate:

* ``rendering`` divides depth by ``max(opacity, float32 eps)`` for every dtype (nerfacc uses the
  eps of the input dtype), so float64 and float32 results agree on nearly transparent rays.
* index checks raise ``ValueError`` instead of failing in CUDA (see :mod:`fastgen.ops.render`).
* ``OccGridEstimator`` and ``traverse_grids`` decide samples by the cell of each candidate's
  midpoint on a fixed lattice (see :func:`fastgen.nerf.traverse_grids`); cone steps are not
  capped (nerfacc's behaviour; fastgen's own estimator caps them at the coarsest cell size).
  ``traverse_grids`` returns each interval as its own pair of edges, and as termination planes
  the far planes (there is no ``traverse_steps_limit``).
* ``importance_sampling`` and ``searchsorted`` compute what nerfacc 0.5's kernels do; where
  nerfacc is undefined fastgen chooses (``n_intervals_per_ray = 1``: the ray's input range as the
  two edges; a ray without input edges: samples and edges 0). ``importance_sampling`` is
  differentiable w.r.t. the input edges (nerfacc's is not) and draws its stratified offsets with
  torch (``generator=``), so the random samples differ from nerfacc's for the same seed.
"""
import math

import torch

from fastgen.ops.march import OccGridEstimator as _OccGridEstimator
from fastgen.ops.march import ray_aabb_intersect
from fastgen.ops.march import traverse_grids as _traverse_grids
from fastgen.ops.render import (  # noqa: F401
    accumulate_along_rays, exclusive_prod, exclusive_sum, inclusive_prod, inclusive_sum,
    render_transmittance_from_alpha, render_transmittance_from_density, render_visibility_from_alpha,
    render_visibility_from_density, render_weight_from_alpha, render_weight_from_density, rendering,
)

from fastgen.ops.sample import (  # noqa: F401,E402
    PropNetEstimator, RayIntervals, RaySamples, importance_sampling, searchsorted)


class OccGridEstimator(_OccGridEstimator):
    """:class:`fastgen.nerf.OccGridEstimator` with nerfacc's uncapped cone steps."""

    def sampling(self, *args, max_step_size=math.inf, **kwargs):
        return super().sampling(*args, max_step_size=max_step_size, **kwargs)


def traverse_grids(rays_o, rays_d, binaries, aabbs, near_planes=None, far_planes=None, step_size=1e-3,
                   cone_angle=0.0, traverse_steps_limit=None, over_allocate=False, rays_mask=None,
                   t_sorted=None, t_indices=None, hits=None, backend="auto"):
    """nerfacc's ``traverse_grids``: ``(intervals, samples, termination_planes)`` as RayIntervals
    (two edges per interval), RaySamples (midpoints) and the far planes."""
    if traverse_steps_limit is not None or rays_mask is not None:
        raise NotImplementedError("traverse_grids: traverse_steps_limit and rays_mask are not supported by fastgen")
    n_rays = rays_o.shape[0]
    if far_planes is None:
        far_planes = torch.full((n_rays,), math.inf, dtype=rays_o.dtype, device=rays_o.device)
    t0, t1, ray_indices, packed_info = _traverse_grids(rays_o, rays_d, binaries, aabbs, near_planes, far_planes,
                                                       step_size, cone_angle, math.inf, backend=backend)
    n = t0.shape[0]
    edges = torch.stack([t0, t1], 1).reshape(-1)
    is_left = torch.zeros(2 * n, dtype=torch.bool, device=t0.device)
    is_left[0::2] = True
    intervals = RayIntervals(vals=edges, packed_info=packed_info * 2, ray_indices=ray_indices.repeat_interleave(2),
                             is_left=is_left, is_right=~is_left)
    samples = RaySamples(vals=(t0 + t1) * 0.5, packed_info=packed_info, ray_indices=ray_indices)
    return intervals, samples, far_planes


__all__ = [
    "OccGridEstimator", "PropNetEstimator", "RayIntervals", "RaySamples", "importance_sampling", "searchsorted",
    "ray_aabb_intersect", "traverse_grids",
    "accumulate_along_rays", "exclusive_prod", "exclusive_sum", "inclusive_prod", "inclusive_sum",
    "render_transmittance_from_alpha", "render_transmittance_from_density", "render_visibility_from_alpha",
    "render_visibility_from_density", "render_weight_from_alpha", "render_weight_from_density", "rendering",
]

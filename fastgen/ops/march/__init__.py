"""Ray marching (family ``march``): nerfacc's ``ray_aabb_intersect`` and ``traverse_grids``, and
the Instant-NGP occupancy-grid estimator :class:`OccGridEstimator`.

Common rules of every function here:

* ``backend``: ``"auto"`` (default), ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``.
* rays and boxes are float32 or float64 (one dtype; boxes are converted to the rays' dtype),
  occupancy grids are bool ``(levels, X, Y, Z)``.
* ``traverse_grids`` and the estimator's ``sampling`` need **unit** directions (``t`` is a
  distance, ``step_size`` a length): they raise on a direction whose norm is not 1 within 1e-4.
  ``ray_aabb_intersect`` takes any non-zero direction (``t`` is then in units of ``|d|``).
  Directions with a zero component (rays parallel to an axis) are handled exactly.
* data checks (finite origins and directions, norms, boxes with min < max) read the values: on
  CPU they always run, on CUDA only with ``FASTGEN_CHECKS=1`` (no hidden sync). Kernels bound
  every write by the sizes they were given and every grid read by the grid's shape, so
  unchecked bad input gives wrong samples, never an out-of-bounds access.
* nothing here is differentiable: marching decides *where* to sample.
"""
from __future__ import annotations

import math

import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.march import _library as L
from fastgen.ops.march import reference

__all__ = ["ray_aabb_intersect", "traverse_grids", "OccGridEstimator"]
for _name in ("ray_aabb_intersect", "traverse_grids", "sampling", "update_every_n_steps"):
    register_op(_name, "march")

_DTYPES = (torch.float32, torch.float64)
UNIT_TOL = 1e-4


def _rays(op, rays_o, rays_d, unit):
    V.tensor(op, "rays_o", rays_o, ndim=2, dtypes=_DTYPES)
    V.tensor(op, "rays_d", rays_d, ndim=2, dtypes=_DTYPES)
    if rays_o.shape[1] != 3 or rays_d.shape != rays_o.shape:
        raise ValueError(f"{op}: rays_o and rays_d must both have shape (n_rays, 3), got "
                         f"{tuple(rays_o.shape)} and {tuple(rays_d.shape)}")
    V.same_dtype(op, rays_o=rays_o, rays_d=rays_d)
    device = V.same_device(op, rays_o=rays_o, rays_d=rays_d)
    if V.data_checks_enabled(device) and rays_o.shape[0]:
        if not bool(torch.isfinite(rays_o).all()):
            raise ValueError(f"{op}: rays_o has NaN or infinite entries")
        if not bool(torch.isfinite(rays_d).all()):
            raise ValueError(f"{op}: rays_d has NaN or infinite entries")
        norm = torch.linalg.vector_norm(rays_d, dim=1)
        if bool((norm == 0).any()):
            raise ValueError(f"{op}: rays_d has zero-length directions (ray "
                             f"{int(torch.nonzero(norm == 0)[0, 0])})")
        if unit and bool(((norm - 1).abs() > UNIT_TOL).any()):
            bad = int(torch.nonzero((norm - 1).abs() > UNIT_TOL)[0, 0])
            raise ValueError(f"{op}: rays_d must be unit vectors (t is a distance); ray {bad} has norm "
                             f"{float(norm[bad]):.6g}. Normalise them: rays_d / rays_d.norm(dim=-1, keepdim=True)")
    return rays_o.contiguous(), rays_d.contiguous(), device


def _aabbs(op, aabbs, dtype, device, name="aabbs"):
    if not isinstance(aabbs, torch.Tensor):
        aabbs = torch.as_tensor(aabbs, dtype=dtype, device=device)
    V.floating(op, name, aabbs, ndim=(1, 2))
    if aabbs.dim() == 1:
        aabbs = aabbs[None]
    if aabbs.shape[1] != 6 or aabbs.shape[0] < 1:
        raise ValueError(f"{op}: {name} must have shape (n_boxes, 6) = (xmin, ymin, zmin, xmax, ymax, zmax), "
                         f"got {tuple(aabbs.shape)}")
    V.same_device(op, rays_o=torch.empty(0, device=device), **{name: aabbs})
    aabbs = aabbs.to(dtype).contiguous()
    if V.data_checks_enabled(device):
        if not bool(torch.isfinite(aabbs).all()):
            raise ValueError(f"{op}: {name} has NaN or infinite entries")
        if bool((aabbs[:, :3] >= aabbs[:, 3:]).any()):
            raise ValueError(f"{op}: every box in {name} needs min < max on each axis, got {aabbs.tolist()}")
    return aabbs


def _planes(op, name, planes, default, n_rays, dtype, device):
    if planes is None:
        return torch.full((n_rays,), default, dtype=dtype, device=device)
    if not isinstance(planes, torch.Tensor):
        return torch.full((n_rays,), float(planes), dtype=dtype, device=device)
    V.floating(op, name, planes, ndim=1)
    if planes.shape[0] != n_rays:
        raise ValueError(f"{op}: {name} must have shape (n_rays,) = ({n_rays},), got {tuple(planes.shape)}")
    V.same_device(op, rays_o=torch.empty(0, device=device), **{name: planes})
    if V.data_checks_enabled(device) and n_rays and bool(torch.isnan(planes).any()):
        raise ValueError(f"{op}: {name} has NaN entries")
    return planes.to(dtype).contiguous()


def _float_arg(op, name, value, minimum, strict):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        rel = ">" if strict else ">="
        raise ValueError(f"{op}: {name} must be a finite number {rel} {minimum}, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- ray_aabb_intersect
def ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane=-math.inf, far_plane=math.inf, miss_value=math.inf,
                       backend="auto"):
    r"""Intersect every ray with every axis-aligned box (nerfacc's definition).

    With the slab method, for ray :math:`o + t d` and box ``(lo, hi)``:
    ``t_min = max_a min(t_a^lo, t_a^hi)``, ``t_max = min_a max(t_a^lo, t_a^hi)`` where
    :math:`t_a^{lo} = (lo_a - o_a) / d_a`. An axis with ``d_a = 0`` is handled exactly (the slab
    is the whole line when ``lo_a <= o_a <= hi_a``, else empty), never through NaN.
    ``hit = t_max > t_min and t_max > 0``; then ``t_min`` and ``t_max`` are clamped to
    ``[near_plane, far_plane]``, and a miss gets ``miss_value`` in both.

    Args:
        rays_o, rays_d: float32/float64 ``(n_rays, 3)``; directions need not be unit (``t`` is
            in units of ``|d|``) but must be non-zero.
        aabbs: ``(n_aabbs, 6)`` boxes ``(xmin, ymin, zmin, xmax, ymax, zmax)``, min < max.
        near_plane, far_plane, miss_value: floats.
        backend: see :mod:`fastgen.backend`.

    Returns:
        ``(t_mins, t_maxs, hits)``, each ``(n_rays, n_aabbs)``: float (the rays' dtype), float, bool.

    Example::

        >>> o = torch.tensor([[0., 0., -2.]]); d = torch.tensor([[0., 0., 1.]])
        >>> fastgen.nerf.ray_aabb_intersect(o, d, torch.tensor([[-1., -1., -1., 1., 1., 1.]]))
        (tensor([[1.]]), tensor([[3.]]), tensor([[True]]))
    """
    op = "ray_aabb_intersect"
    rays_o, rays_d, device = _rays(op, rays_o, rays_d, unit=False)
    aabbs = _aabbs(op, aabbs, rays_o.dtype, device)
    for name, v in (("near_plane", near_plane), ("far_plane", far_plane), ("miss_value", miss_value)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
            raise ValueError(f"{op}: {name} must be a number (not NaN), got {v!r}")
    chosen = resolve(op, backend, device)
    if chosen == "reference":
        return reference.ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value)
    return L.ray_aabb_intersect(rays_o, rays_d, aabbs, float(near_plane), float(far_plane), float(miss_value),
                                chosen)


# ---------------------------------------------------------------------------- traverse_grids
@torch.compiler.assume_constant_result  # a property of the grids, fixed while a graph runs
def default_max_step(binaries, aabbs) -> float:
    """Instant-NGP's largest cone step: the longest edge of a cell of the coarsest grid."""
    res = torch.tensor(binaries.shape[1:], dtype=torch.float64)
    ext = (aabbs[:, 3:] - aabbs[:, :3]).double().cpu()
    return float((ext / res).max())


def traverse_grids(rays_o, rays_d, binaries, aabbs, near_planes=None, far_planes=None, step_size=1e-3,
                   cone_angle=0.0, max_step_size=None, jitter=None, max_samples_per_ray=None, backend="auto"):
    r"""March rays through one or more occupancy grids, skipping empty cells (a 3D DDA).

    Grid ``l`` is the bool array ``binaries[l]`` of ``X x Y x Z`` cells spanning the box
    ``aabbs[l]``; a point belongs to the first grid (in level order) whose closed box contains
    it, so nested Instant-NGP cascades (level ``l`` covers the ROI scaled by ``2^l``) use the finest
    grid available. Per ray:

    * ``[t_lo, t_hi]``: the span of the boxes the ray crosses, intersected with
      ``[near_planes, far_planes]``;
    * candidate intervals ``[t_k, t_k + dt_k]``: with ``cone_angle == 0`` the lattice
      ``t_k = t_0 + k * step_size``; otherwise ``t_{k+1} = t_k + dt_k`` with
      ``dt_k = clamp(t_k * cone_angle, step_size, max_step_size)`` (Instant-NGP's cone
      stepping). ``t_0 = t_lo + jitter * dt(t_lo)``; the last candidate ends at or before ``t_hi``;
    * a candidate is kept iff the cell containing its midpoint is occupied.

    The kernels look each crossed cell up once and step through empty ones without reading the
    grid; they produce exactly the samples the brute-force definition (the reference) does.

    **Synchronisation**: the packed form (default) runs two passes, one counting each ray's
    intervals and one writing them, with exactly one host-device sync in between, to size the
    output. ``max_samples_per_ray=K`` instead writes the first ``K`` intervals of each ray into
    ``(n_rays, K)`` tensors in one pass with **no sync** (CUDA graphs, ``torch.compile(fullgraph=True)``).

    Args:
        rays_o, rays_d: float32/float64 ``(n_rays, 3)``, **unit** directions.
        binaries: bool ``(levels, X, Y, Z)`` occupancy.
        aabbs: ``(levels, 6)`` boxes of the grids (converted to the rays' dtype).
        near_planes, far_planes: ``(n_rays,)`` tensors or floats; default 0 and +inf.
        step_size: > 0, the step (and the smallest cone step).
        cone_angle: >= 0; 0 gives constant steps.
        max_step_size: the largest cone step, >= step_size; default (None) the longest edge of a
            cell of the coarsest grid (Instant-NGP). Pass ``math.inf`` for nerfacc's behaviour.
        jitter: optional ``(n_rays,)`` in [0, 1): stratified start offsets, in steps.
        max_samples_per_ray: optional int >= 1: the sync-free batched form.
        backend: see :mod:`fastgen.backend`.

    Returns:
        packed: ``(t_starts, t_ends, ray_indices, packed_info)``: ``(n,)`` float, ``(n,)`` float,
        ``(n,)`` int64 sorted, ``(n_rays, 2)`` int64 (start, count).
        batched: ``(t_starts, t_ends, mask)``, each ``(n_rays, K)``; ``mask`` (bool) marks real
        intervals (a prefix of each row); padding entries are empty intervals at the last end.

    Example::

        >>> grid = torch.ones(1, 8, 8, 8, dtype=torch.bool); box = torch.tensor([[0., 0, 0, 1, 1, 1]])
        >>> o = torch.tensor([[0.5, 0.5, -1.]]); d = torch.tensor([[0., 0., 1.]])
        >>> t0, t1, ids, info = fastgen.nerf.traverse_grids(o, d, grid, box, step_size=0.25)
        >>> t0   # tensor([1.0000, 1.2500, 1.5000, 1.7500])
    """
    op = "traverse_grids"
    rays_o, rays_d, device = _rays(op, rays_o, rays_d, unit=True)
    n_rays, dtype = rays_o.shape[0], rays_o.dtype
    V.tensor(op, "binaries", binaries, ndim=4, dtypes=(torch.bool,))
    if min(binaries.shape) < 1:
        raise ValueError(f"{op}: binaries must have shape (levels, X, Y, Z) with every size >= 1, "
                         f"got {tuple(binaries.shape)}")
    V.same_device(op, rays_o=rays_o, binaries=binaries)
    aabbs = _aabbs(op, aabbs, dtype, device)
    if aabbs.shape[0] != binaries.shape[0]:
        raise ValueError(f"{op}: aabbs has {aabbs.shape[0]} boxes but binaries has {binaries.shape[0]} grids")
    near = _planes(op, "near_planes", near_planes, 0.0, n_rays, dtype, device)
    far = _planes(op, "far_planes", far_planes, math.inf, n_rays, dtype, device)
    step = _float_arg(op, "step_size", step_size, 0.0, strict=True)
    cone = _float_arg(op, "cone_angle", cone_angle, 0.0, strict=False)
    if max_step_size is None:
        max_step = max(default_max_step(binaries, aabbs), step)
    else:
        if not isinstance(max_step_size, (int, float)) or isinstance(max_step_size, bool) or not max_step_size >= step:
            raise ValueError(f"{op}: max_step_size must be a number >= step_size ({step}), got {max_step_size!r}")
        max_step = float(max_step_size)
    if jitter is not None:
        jitter = _planes(op, "jitter", jitter, 0.0, n_rays, dtype, device)
        if V.data_checks_enabled(device) and n_rays and bool(((jitter < 0) | (jitter >= 1)).any()):
            raise ValueError(f"{op}: jitter must lie in [0, 1)")
    if max_samples_per_ray is not None and (isinstance(max_samples_per_ray, bool)
                                            or not isinstance(max_samples_per_ray, int) or max_samples_per_ray < 1):
        raise ValueError(f"{op}: max_samples_per_ray must be an int >= 1 or None, got {max_samples_per_ray!r}")
    binaries = binaries.contiguous()
    args = (rays_o, rays_d, binaries, aabbs, near, far, jitter, step, cone, max_step)
    chosen = resolve(op, backend, device)
    if max_samples_per_ray is not None:
        K = max_samples_per_ray
        if chosen == "reference":
            t0, t1, counts = reference.traverse_grids_batched(*args, K)
        else:
            t0, t1, counts = L.traverse_batched(*args, K, chosen)
        mask = torch.arange(K, device=device)[None, :] < counts[:, None]
        return t0, t1, mask
    if chosen == "reference":
        return reference.traverse_grids(*args)
    counts = L.traverse_count(*args, chosen)
    starts = torch.cumsum(counts, 0) - counts
    packed_info = torch.stack([starts, counts], 1)
    n_total = int(counts.sum()) if n_rays else 0  # the one host-device sync: the output size
    t_starts, t_ends, ray_indices = L.traverse_fill(*args, packed_info, n_total, chosen)
    return t_starts, t_ends, ray_indices, packed_info


from fastgen.ops.march.occ_grid import OccGridEstimator  # noqa: E402  (uses the functions above)

"""Drop-in replacement for nerfacc 0.5.3: the same public names, submodules and signatures, on
fastgen's kernels (CPU tensors included; nothing to compile).

Two ways in::

    from fastgen.compat import nerfacc          # instead of: import nerfacc

    import fastgen.compat.nerfacc
    fastgen.compat.nerfacc.install()            # once, before the project imports nerfacc;
    import nerfacc                              # now fastgen, and so is every
    from nerfacc.estimators.occ_grid import OccGridEstimator   # nerfacc.* submodule

Submodules, as nerfacc lays them out: ``data_specs`` (RaySamples, RayIntervals), ``estimators``
(``base.AbstractEstimator``, ``occ_grid.OccGridEstimator``, ``prop_net.PropNetEstimator`` and
``get_proposal_requires_grad_fn``), ``grid`` (ray_aabb_intersect, traverse_grids), ``pack``
(pack_info), ``pdf`` (importance_sampling, searchsorted), ``scan`` (inclusive/exclusive
sum/prod), ``volrend`` (render_*, accumulate_along_rays[_], rendering) and ``version``. Every
callable takes exactly nerfacc's parameters; the backend is fastgen's ``"auto"`` choice, which
the ``FASTGEN_BACKEND`` environment variable overrides (``reference``, ``cpu``, ``cuda``,
``triton``). Absent: ``nerfacc.cameras`` (OpenCV lens undistortion: not a fastgen op) and
nerfacc's private helpers (``_``-prefixed).

Differences from nerfacc, all deliberate:

* ``rendering`` divides depth by ``max(opacity, float32 eps)`` for every dtype (nerfacc uses the
  eps of the input dtype), so float64 and float32 results agree on nearly transparent rays.
* index checks raise ``ValueError`` instead of failing in CUDA (see :mod:`fastgen.ops.render`);
  ``pack_info`` and the packed scans run on CPU tensors too (nerfacc's need CUDA).
* ``OccGridEstimator`` and ``traverse_grids`` decide samples by the cell of each candidate's
  midpoint on a fixed lattice (see :func:`fastgen.nerf.traverse_grids`); cone steps are not
  capped (as in nerfacc). ``traverse_grids`` returns each interval as its own pair of edges and
  always the compact result (see its docstring for ``traverse_steps_limit`` and ``rays_mask``).
  ``mark_invisible_cells`` projects cell centres (nerfacc projects cell corners).
* ``importance_sampling`` and ``searchsorted`` compute what nerfacc 0.5's kernels do; where
  nerfacc is undefined fastgen chooses (``n_intervals_per_ray = 1``: the ray's input range as the
  two edges; a ray without input edges: samples and edges 0). ``importance_sampling`` is
  differentiable w.r.t. the input edges (nerfacc's is not) and draws its stratified offsets with
  torch's generator, so the random samples differ from nerfacc's for the same seed.
"""
from __future__ import annotations

import importlib
import sys

from fastgen.compat.nerfacc.data_specs import RayIntervals, RaySamples
from fastgen.compat.nerfacc.estimators.occ_grid import OccGridEstimator
from fastgen.compat.nerfacc.estimators.prop_net import PropNetEstimator
from fastgen.compat.nerfacc.grid import ray_aabb_intersect, traverse_grids
from fastgen.compat.nerfacc.pack import pack_info
from fastgen.compat.nerfacc.pdf import importance_sampling, searchsorted
from fastgen.compat.nerfacc.scan import exclusive_prod, exclusive_sum, inclusive_prod, inclusive_sum
from fastgen.compat.nerfacc.version import __version__
from fastgen.compat.nerfacc.volrend import (
    accumulate_along_rays, render_transmittance_from_alpha, render_transmittance_from_density,
    render_visibility_from_alpha, render_visibility_from_density, render_weight_from_alpha,
    render_weight_from_density, rendering,
)

SUBMODULES = ("data_specs", "estimators", "estimators.base", "estimators.occ_grid", "estimators.prop_net", "grid",
              "pack", "pdf", "scan", "version", "volrend")


def install() -> None:
    """Make ``import nerfacc`` (and ``nerfacc.<submodule>``) resolve to this module, through
    ``sys.modules``. Call it before the project's first ``import nerfacc``; if nerfacc was
    imported already, modules holding the old objects keep them, so call it first. Entries of
    nerfacc submodules fastgen does not provide (``nerfacc.cameras``, ``nerfacc.cuda``) are
    dropped, so importing them fails instead of mixing the two packages. Idempotent."""
    for name in [m for m in sys.modules if m == "nerfacc" or m.startswith("nerfacc.")]:
        del sys.modules[name]
    sys.modules["nerfacc"] = sys.modules[__name__]
    for sub in SUBMODULES:
        sys.modules[f"nerfacc.{sub}"] = importlib.import_module(f"{__name__}.{sub}")


__all__ = [
    "__version__", "inclusive_prod", "exclusive_prod", "inclusive_sum", "exclusive_sum", "pack_info",
    "render_visibility_from_alpha", "render_visibility_from_density", "render_weight_from_alpha",
    "render_weight_from_density", "render_transmittance_from_alpha", "render_transmittance_from_density",
    "accumulate_along_rays", "rendering", "importance_sampling", "searchsorted", "RayIntervals", "RaySamples",
    "ray_aabb_intersect", "traverse_grids", "OccGridEstimator", "PropNetEstimator",
]

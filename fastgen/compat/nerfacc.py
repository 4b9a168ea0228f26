"""Drop-in replacement for nerfacc's volume-rendering API (nerfacc 0.5 names and signatures).

Swap ``import nerfacc`` for ``from fastgen.compat import nerfacc``: the functions below take the
same positional and keyword arguments as nerfacc's and return the same shapes. They run on
fastgen's backends (``backend="auto"`` by default; pass ``backend=`` to choose). Functions of
nerfacc that fastgen does not implement yet are absent rather than stubbed.

Differences from nerfacc, all deliberate:

* ``rendering`` divides depth by ``max(opacity, float32 eps)`` for every dtype (nerfacc uses the
  eps of the input dtype), so float64 and float32 results agree on nearly transparent rays.
* index checks raise ``ValueError`` instead of failing in CUDA (see :mod:`fastgen.ops.render`).
"""
from fastgen.ops.render import (  # noqa: F401
    accumulate_along_rays, exclusive_prod, exclusive_sum, inclusive_prod, inclusive_sum,
    render_transmittance_from_alpha, render_transmittance_from_density, render_visibility_from_alpha,
    render_visibility_from_density, render_weight_from_alpha, render_weight_from_density, rendering,
)

__all__ = [
    "accumulate_along_rays", "exclusive_prod", "exclusive_sum", "inclusive_prod", "inclusive_sum",
    "render_transmittance_from_alpha", "render_transmittance_from_density", "render_visibility_from_alpha",
    "render_visibility_from_density", "render_weight_from_alpha", "render_weight_from_density", "rendering",
]

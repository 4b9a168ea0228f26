"""The NeRF namespace: every NeRF op of fastgen in one place.

Volume rendering (:mod:`fastgen.ops.render`), ray marching through occupancy grids
(:mod:`fastgen.ops.march`), multiresolution hash-grid encoding (:mod:`fastgen.ops.hashgrid`), fully fused
small MLPs (:mod:`fastgen.ops.mlp`) and
hierarchical sampling (:mod:`fastgen.ops.sample`).
"""
from fastgen.ops.render import *  # noqa: F401,F403
from fastgen.ops.render import __all__  # noqa: F401
from fastgen.ops.hashgrid import HashGridEncoding, hash_grid_encode  # noqa: F401
from fastgen.ops.mlp import FusedMLP, fused_mlp  # noqa: F401
from fastgen.ops.march import OccGridEstimator, ray_aabb_intersect, traverse_grids  # noqa: F401
from fastgen.ops.march import __all__ as _march_all

from fastgen.ops.sample import (  # noqa: F401
    PropNetEstimator, RayIntervals, RaySamples, distortion, importance_sampling, merge_sorted, sample_pdf,
    searchsorted)
from fastgen.ops.sample import __all__ as _sample_all

__all__ = [*__all__, "hash_grid_encode", "HashGridEncoding", "fused_mlp", "FusedMLP", *_march_all, *_sample_all]

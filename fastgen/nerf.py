"""The NeRF namespace: every NeRF op of fastgen in one place.

Today: volume rendering (:mod:`fastgen.ops.render`) and multiresolution hash-grid encoding
(:mod:`fastgen.ops.hashgrid`). Ray marching and hierarchical sampling join here as their
families land.
"""
from fastgen.ops.render import *  # noqa: F401,F403
from fastgen.ops.render import __all__  # noqa: F401
from fastgen.ops.hashgrid import HashGridEncoding, hash_grid_encode  # noqa: F401

__all__ = [*__all__, "hash_grid_encode", "HashGridEncoding"]

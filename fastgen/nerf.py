"""The NeRF namespace: every NeRF op of fastgen in one place.

Today: volume rendering (:mod:`fastgen.ops.render`). Ray marching, hierarchical sampling and
hash-grid encoding join here as their families land.
"""
from fastgen.ops.render import *  # noqa: F401,F403
from fastgen.ops.render import __all__  # noqa: F401

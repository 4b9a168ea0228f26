"""``nerfacc.scan``: inclusive/exclusive sums and products, batched ``(..., S)`` along the last
dimension or packed ``(N,)`` with ``packed_info``; on fastgen's backends (see
:mod:`fastgen.ops.render`). Differentiable to ``inputs``."""
from __future__ import annotations

from fastgen.ops import render as _render


def inclusive_sum(inputs, packed_info=None):
    return _render.inclusive_sum(inputs, packed_info)


def exclusive_sum(inputs, packed_info=None):
    return _render.exclusive_sum(inputs, packed_info)


def inclusive_prod(inputs, packed_info=None):
    return _render.inclusive_prod(inputs, packed_info)


def exclusive_prod(inputs, packed_info=None):
    return _render.exclusive_prod(inputs, packed_info)


for _f in (inclusive_sum, exclusive_sum, inclusive_prod, exclusive_prod):
    _f.__doc__ = getattr(_render, _f.__name__).__doc__

__all__ = ["inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod"]

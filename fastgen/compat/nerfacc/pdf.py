"""``nerfacc.pdf``: :func:`searchsorted` and :func:`importance_sampling` on packed or batched
rays (:mod:`fastgen.ops.sample`)."""
from __future__ import annotations

from fastgen.ops import sample as _sample
from fastgen.compat.nerfacc.data_specs import as_compat


def searchsorted(sorted_sequence, values):
    return _sample.searchsorted(sorted_sequence, values)


def importance_sampling(intervals, cdfs, n_intervals_per_ray, stratified=False):
    new_intervals, samples = _sample.importance_sampling(intervals, cdfs, n_intervals_per_ray, stratified)
    return as_compat(new_intervals), as_compat(samples)


searchsorted.__doc__ = _sample.searchsorted.__doc__
importance_sampling.__doc__ = _sample.importance_sampling.__doc__

__all__ = ["searchsorted", "importance_sampling"]

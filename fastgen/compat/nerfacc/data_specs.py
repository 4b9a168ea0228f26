"""``nerfacc.data_specs``: :class:`RaySamples` and :class:`RayIntervals`.

fastgen's data classes (:mod:`fastgen.ops.sample.data`, same fields in the same order) with
nerfacc's ``device`` property. Every fastgen op accepts them (they are subclasses); the compat
functions return these classes.
"""
from __future__ import annotations

import dataclasses

import torch

from fastgen.ops.sample import data as _data


class RaySamples(_data.RaySamples):
    __doc__ = _data.RaySamples.__doc__

    @property
    def device(self) -> torch.device:
        return self.vals.device


class RayIntervals(_data.RayIntervals):
    __doc__ = _data.RayIntervals.__doc__

    @property
    def device(self) -> torch.device:
        return self.vals.device


def as_compat(obj):
    """A fastgen RaySamples / RayIntervals as this module's class (the same tensors, no copy)."""
    cls = RayIntervals if isinstance(obj, _data.RayIntervals) else RaySamples
    return cls(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


__all__ = ["RaySamples", "RayIntervals"]

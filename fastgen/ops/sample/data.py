"""nerfacc's data classes of sampled rays: :class:`RayIntervals` (interval edges) and
:class:`RaySamples` (sample points), batched ``(n_rays, S)`` or packed ``(N,)``."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RaySamples:
    """Samples along rays.

    Attributes:
        vals: ``(n_rays, S)`` batched or ``(N,)`` packed sample values (e.g. t).
        packed_info: packed only: int64 ``(n_rays, 2)`` = (start, count), rays in order.
        ray_indices: packed only: int64 ``(N,)`` ray of each sample.
        is_valid: optional bool mask of the valid samples.
    """

    vals: torch.Tensor
    packed_info: torch.Tensor | None = None
    ray_indices: torch.Tensor | None = None
    is_valid: torch.Tensor | None = None


@dataclass
class RayIntervals:
    """Interval edges along rays: ``S`` edges make ``S - 1`` intervals per ray.

    Attributes:
        vals: ``(n_rays, S)`` batched or ``(N,)`` packed edge values, sorted within each ray.
        packed_info: packed only: int64 ``(n_rays, 2)`` = (start, count) of the edges.
        ray_indices: packed only: int64 ``(N,)`` ray of each edge.
        is_left: packed only: bool ``(N,)``, the edge starts an interval (every edge but a ray's last).
        is_right: packed only: bool ``(N,)``, the edge ends an interval (every edge but a ray's first).
    """

    vals: torch.Tensor
    packed_info: torch.Tensor | None = None
    ray_indices: torch.Tensor | None = None
    is_left: torch.Tensor | None = None
    is_right: torch.Tensor | None = None

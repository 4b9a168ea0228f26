"""The march family's kernel primitives as ``torch.library`` custom ops (``fastgen::*``).

Each op takes the backend name ("cpu", "cuda" or "triton") as its last argument. None of them is
differentiable (marching decides where to sample; gradients flow through what is evaluated
there). Fake implementations let ``torch.compile(fullgraph=True)`` trace ``ray_aabb_intersect``
and the sync-free batched traversal; the packed traversal has a data-dependent size and syncs
once, between ``traverse_count`` and ``traverse_fill``.
"""
from __future__ import annotations

from typing import Optional

import torch

from fastgen.backend import kernels


def _k(backend: str):
    return kernels("march", backend)


@torch.library.custom_op("fastgen::ray_aabb_intersect", mutates_args=())
def ray_aabb_intersect(rays_o: torch.Tensor, rays_d: torch.Tensor, aabbs: torch.Tensor, near_plane: float,
                       far_plane: float, miss_value: float,
                       backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _k(backend).ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value)


@ray_aabb_intersect.register_fake
def _(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value, backend):
    shape = (rays_o.shape[0], aabbs.shape[0])
    return (rays_o.new_empty(shape), rays_o.new_empty(shape),
            torch.empty(shape, dtype=torch.bool, device=rays_o.device))


@torch.library.custom_op("fastgen::traverse_count", mutates_args=())
def traverse_count(rays_o: torch.Tensor, rays_d: torch.Tensor, binaries: torch.Tensor, aabbs: torch.Tensor,
                   near_planes: torch.Tensor, far_planes: torch.Tensor, jitter: Optional[torch.Tensor],
                   step: float, cone: float, max_step: float, backend: str) -> torch.Tensor:
    return _k(backend).traverse_count(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter,
                                      step, cone, max_step)


@traverse_count.register_fake
def _(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step, backend):
    return torch.empty(rays_o.shape[0], dtype=torch.long, device=rays_o.device)


@torch.library.custom_op("fastgen::traverse_fill", mutates_args=())
def traverse_fill(rays_o: torch.Tensor, rays_d: torch.Tensor, binaries: torch.Tensor, aabbs: torch.Tensor,
                  near_planes: torch.Tensor, far_planes: torch.Tensor, jitter: Optional[torch.Tensor],
                  step: float, cone: float, max_step: float, packed_info: torch.Tensor, n_total: int,
                  backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _k(backend).traverse_fill(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter,
                                     step, cone, max_step, packed_info, n_total)


@traverse_fill.register_fake
def _(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step, packed_info,
      n_total, backend):
    return (rays_o.new_empty((n_total,)), rays_o.new_empty((n_total,)),
            torch.empty(n_total, dtype=torch.long, device=rays_o.device))


@torch.library.custom_op("fastgen::traverse_batched", mutates_args=())
def traverse_batched(rays_o: torch.Tensor, rays_d: torch.Tensor, binaries: torch.Tensor, aabbs: torch.Tensor,
                     near_planes: torch.Tensor, far_planes: torch.Tensor, jitter: Optional[torch.Tensor],
                     step: float, cone: float, max_step: float, max_samples: int,
                     backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _k(backend).traverse_batched(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter,
                                        step, cone, max_step, max_samples)


@traverse_batched.register_fake
def _(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step, max_samples,
      backend):
    shape = (rays_o.shape[0], max_samples)
    return (rays_o.new_empty(shape), rays_o.new_empty(shape),
            torch.empty(rays_o.shape[0], dtype=torch.long, device=rays_o.device))

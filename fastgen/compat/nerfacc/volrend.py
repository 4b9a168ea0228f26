"""``nerfacc.volrend``: transmittance, weights, visibility, accumulation and ``rendering``.

nerfacc's signatures on fastgen's backends (``"auto"``, or the ``FASTGEN_BACKEND`` environment
variable): batched ``(n_rays, S)`` or packed ``(N,)`` samples with ``packed_info`` or
``ray_indices`` (+ ``n_rays``). The math and its docstrings live in :mod:`fastgen.ops.render`.
"""
from __future__ import annotations

import torch

from fastgen.ops import render as _render


def rendering(t_starts, t_ends, ray_indices=None, n_rays=None, rgb_sigma_fn=None, rgb_alpha_fn=None,
              render_bkgd=None):
    return _render.rendering(t_starts, t_ends, ray_indices, n_rays, rgb_sigma_fn, rgb_alpha_fn, render_bkgd)


def render_transmittance_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None):
    return _render.render_transmittance_from_alpha(alphas, packed_info, ray_indices, n_rays, prefix_trans)


def render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None,
                                      prefix_trans=None):
    return _render.render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info, ray_indices, n_rays,
                                                     prefix_trans)


def render_weight_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None):
    return _render.render_weight_from_alpha(alphas, packed_info, ray_indices, n_rays, prefix_trans)


def render_weight_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None,
                               prefix_trans=None):
    return _render.render_weight_from_density(t_starts, t_ends, sigmas, packed_info, ray_indices, n_rays,
                                              prefix_trans)


@torch.no_grad()
def render_visibility_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, early_stop_eps=1e-4,
                                 alpha_thre=0.0, prefix_trans=None):
    return _render.render_visibility_from_alpha(alphas, packed_info, ray_indices, n_rays, early_stop_eps,
                                                alpha_thre, prefix_trans)


@torch.no_grad()
def render_visibility_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None,
                                   early_stop_eps=1e-4, alpha_thre=0.0, prefix_trans=None):
    return _render.render_visibility_from_density(t_starts, t_ends, sigmas, packed_info, ray_indices, n_rays,
                                                  early_stop_eps, alpha_thre, prefix_trans)


def accumulate_along_rays(weights, values=None, ray_indices=None, n_rays=None):
    return _render.accumulate_along_rays(weights, values, ray_indices, n_rays)


def accumulate_along_rays_(weights, values=None, ray_indices=None, outputs=None):
    """In-place :func:`accumulate_along_rays`: adds the per-ray sums to ``outputs`` (n_rays, D)."""
    if outputs is None or outputs.dim() != 2:
        raise ValueError("accumulate_along_rays_: outputs must be a (n_rays, D) tensor")
    n_rays = outputs.shape[0] if ray_indices is not None else None
    outputs.add_(_render.accumulate_along_rays(weights, values, ray_indices, n_rays))


for _f in (rendering, render_transmittance_from_alpha, render_transmittance_from_density, render_weight_from_alpha,
           render_weight_from_density, render_visibility_from_alpha, render_visibility_from_density,
           accumulate_along_rays):
    _f.__doc__ = getattr(_render, _f.__name__).__doc__

__all__ = [
    "rendering", "render_transmittance_from_alpha", "render_transmittance_from_density", "render_weight_from_alpha",
    "render_weight_from_density", "render_visibility_from_alpha", "render_visibility_from_density",
    "accumulate_along_rays", "accumulate_along_rays_",
]

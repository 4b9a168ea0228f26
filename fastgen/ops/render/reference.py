"""Plain-PyTorch reference of the render family: the definition of correct.

Readable rather than fast: packed (ragged) rays are scattered into a dense padded
(n_segments, max_len) matrix, scanned with torch.cumsum / torch.cumprod and gathered back, and
accumulation uses ``index_add_``. Autograd provides every gradient (torch.cumprod's backward is
exact at zeros). Signatures match the public functions in :mod:`fastgen.ops.render` minus
``backend``; the public functions document the semantics.
"""
from __future__ import annotations

import sys

import torch

# Depth is sum(w * t_mid) / max(opacity, DEPTH_EPS); one constant for every dtype so that
# float64 references and float32 kernels agree on nearly transparent rays.
DEPTH_EPS = float(torch.finfo(torch.float32).eps)


def _packed_layout(n_samples: int, packed_info=None, indices=None, device=None):
    """(sample_idx, segment, position, n_segments) of every covered sample of a packed tensor."""
    if packed_info is not None:
        starts, counts = packed_info[:, 0].long(), packed_info[:, 1].long()
        n_seg = packed_info.shape[0]
        segment = torch.repeat_interleave(torch.arange(n_seg, device=device), counts)
        first = torch.cumsum(counts, 0) - counts  # offset of each segment in the concatenation
        position = torch.arange(segment.shape[0], device=device) - first[segment]
        sample_idx = starts[segment] + position
        return sample_idx, segment, position, n_seg
    _, segment = torch.unique_consecutive(indices, return_inverse=True)
    n_seg = int(segment.max()) + 1 if n_samples else 0
    first = torch.searchsorted(indices, indices, right=False)
    position = torch.arange(n_samples, device=device) - first
    return torch.arange(n_samples, device=device), segment, position, n_seg


def _scan(inputs, packed_info, indices, prod: bool, exclusive: bool):
    identity = 1.0 if prod else 0.0
    if packed_info is None and indices is None:  # batched (..., S): scan the last dimension
        cum = torch.cumprod(inputs, -1) if prod else torch.cumsum(inputs, -1)
        if not exclusive:
            return cum
        pad = torch.full_like(inputs[..., :1], identity)
        return torch.cat([pad, cum[..., :-1]], -1)
    if indices is not None:
        indices = indices.long().contiguous()
    if indices is not None and not prod and torch.compiler.is_compiling():
        # Under torch.compile (the benchmark's `compile` baseline): one global cumsum minus each
        # ray's offset, whose shapes do not depend on the data, so it traces without graph
        # breaks. Eager calls take the per-ray path below, where a NaN stays in its own ray.
        # The global sum runs in float64: in float32 its rounding grows with the sample count
        # (1e-2 relative at 2^17 rays) and would swamp the per-ray values.
        first = torch.searchsorted(indices, indices)  # index of each sample's first ray sample
        inclusive = torch.cumsum(inputs, 0, dtype=torch.float64)
        before = torch.cat([inclusive.new_zeros(1), inclusive[:-1]])
        return ((before if exclusive else inclusive) - before[first]).to(inputs.dtype)
    # Products (and packed_info layouts): scatter into a dense padded matrix, scan its rows.
    n = inputs.shape[0]
    sample_idx, segment, position, n_seg = _packed_layout(n, packed_info, indices, inputs.device)
    max_len = int(position.max()) + 1 if position.numel() else 0
    dense = inputs.new_full((n_seg, max_len), identity)
    dense = dense.index_put((segment, position), inputs[sample_idx])
    cum = torch.cumprod(dense, 1) if prod else torch.cumsum(dense, 1)
    if exclusive:
        cum = torch.cat([torch.full_like(cum[:, :1], identity), cum[:, :-1]], 1)
    return inputs.new_zeros(n).index_put((sample_idx,), cum[segment, position])


def inclusive_sum(inputs, packed_info=None, indices=None):
    return _scan(inputs, packed_info, indices, prod=False, exclusive=False)


def exclusive_sum(inputs, packed_info=None, indices=None):
    return _scan(inputs, packed_info, indices, prod=False, exclusive=True)


def inclusive_prod(inputs, packed_info=None, indices=None):
    return _scan(inputs, packed_info, indices, prod=True, exclusive=False)


def exclusive_prod(inputs, packed_info=None, indices=None):
    return _scan(inputs, packed_info, indices, prod=True, exclusive=True)


def render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None,
                                      n_rays=None, prefix_trans=None):
    sigmas_dt = sigmas * (t_ends - t_starts)
    alphas = -torch.expm1(-sigmas_dt)  # accurate for tiny sigma * dt
    trans = torch.exp(-exclusive_sum(sigmas_dt, packed_info, None if packed_info is not None else ray_indices))
    if prefix_trans is not None:
        trans = trans * prefix_trans
    return trans, alphas


def render_transmittance_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None,
                                    prefix_trans=None):
    trans = exclusive_prod(1.0 - alphas, packed_info, None if packed_info is not None else ray_indices)
    if prefix_trans is not None:
        trans = trans * prefix_trans
    return trans


def render_weight_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None,
                               n_rays=None, prefix_trans=None):
    trans, alphas = render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info,
                                                      ray_indices, n_rays, prefix_trans)
    return trans * alphas, trans, alphas


def render_weight_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None):
    trans = render_transmittance_from_alpha(alphas, packed_info, ray_indices, n_rays, prefix_trans)
    return trans * alphas, trans


def _visibility(trans, alphas, early_stop_eps, alpha_thre):
    vis = trans >= early_stop_eps
    if alpha_thre > 0:
        vis = vis & (alphas >= alpha_thre)
    return vis


@torch.no_grad()
def render_visibility_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None,
                                 early_stop_eps=1e-4, alpha_thre=0.0, prefix_trans=None):
    trans = render_transmittance_from_alpha(alphas, packed_info, ray_indices, n_rays, prefix_trans)
    return _visibility(trans, alphas, early_stop_eps, alpha_thre)


@torch.no_grad()
def render_visibility_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None,
                                   n_rays=None, early_stop_eps=1e-4, alpha_thre=0.0, prefix_trans=None):
    trans, alphas = render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info,
                                                      ray_indices, n_rays, prefix_trans)
    return _visibility(trans, alphas, early_stop_eps, alpha_thre)


def accumulate_along_rays(weights, values=None, ray_indices=None, n_rays=None):
    src = weights[..., None] if values is None else weights[..., None] * values
    if ray_indices is None:
        return src.sum(-2)
    out = src.new_zeros((n_rays, src.shape[-1]))
    return out.index_add(0, ray_indices.long(), src)


def packed_info_to_ray_indices(packed_info, n_samples):
    """(sample_idx, ray_indices) of the samples that ``packed_info`` covers."""
    sample_idx, segment, _, _ = _packed_layout(n_samples, packed_info, None, packed_info.device)
    return sample_idx, segment


def _accumulate_all(weights, rgbs, t_starts, t_ends, ray_indices, n_rays, render_bkgd, ops=None):
    accumulate = (ops or sys.modules[__name__]).accumulate_along_rays
    colors = accumulate(weights, rgbs, ray_indices, n_rays)
    opacities = accumulate(weights, None, ray_indices, n_rays)
    depths = accumulate(weights, ((t_starts + t_ends) / 2.0)[..., None], ray_indices, n_rays)
    depths = depths / opacities.clamp_min(DEPTH_EPS)
    if render_bkgd is not None:
        colors = colors + render_bkgd * (1.0 - opacities)
    return colors, opacities, depths


def rendering(t_starts, t_ends, ray_indices=None, n_rays=None, rgb_sigma_fn=None, rgb_alpha_fn=None,
              render_bkgd=None, ops=None):
    """nerfacc's rendering. ``ops`` (default: this module) supplies render_weight_from_density,
    render_weight_from_alpha and accumulate_along_rays, so the public kernel path reuses this
    definition with its own backend."""
    ops = ops or sys.modules[__name__]
    if rgb_sigma_fn is not None:
        rgbs, sigmas = rgb_sigma_fn(t_starts, t_ends, ray_indices)
        weights, trans, alphas = ops.render_weight_from_density(t_starts, t_ends, sigmas,
                                                            ray_indices=ray_indices, n_rays=n_rays)
        extras = {"weights": weights, "alphas": alphas, "trans": trans, "sigmas": sigmas, "rgbs": rgbs}
    else:
        rgbs, alphas = rgb_alpha_fn(t_starts, t_ends, ray_indices)
        weights, trans = ops.render_weight_from_alpha(alphas, ray_indices=ray_indices, n_rays=n_rays)
        extras = {"weights": weights, "trans": trans, "rgbs": rgbs, "alphas": alphas}
    colors, opacities, depths = _accumulate_all(weights, rgbs, t_starts, t_ends, ray_indices, n_rays,
                                                render_bkgd, ops)
    return colors, opacities, depths, extras


def composite(t_starts, t_ends, sigmas, rgbs, ray_indices=None, packed_info=None, n_rays=None,
              render_bkgd=None, early_stop_eps=0.0):
    if packed_info is not None:  # reduce to the ray_indices form over the covered samples
        n_rays = packed_info.shape[0]
        sample_idx, ray_indices = packed_info_to_ray_indices(packed_info, t_starts.shape[0])
        t_starts, t_ends, sigmas, rgbs = t_starts[sample_idx], t_ends[sample_idx], sigmas[sample_idx], rgbs[sample_idx]
    weights, trans, _ = render_weight_from_density(t_starts, t_ends, sigmas, ray_indices=ray_indices,
                                                   n_rays=n_rays)
    if early_stop_eps > 0:
        # The ray stops at its first sample with T < eps: a latch (T rising again after negative
        # densities does not revive it), and where, not products with the mask, so that a
        # stopped sample contributes nothing, even a NaN.
        keep = inclusive_sum((trans < early_stop_eps).to(trans.dtype), None, ray_indices) == 0
        weights = torch.where(keep, weights, 0.0)
        rgbs = torch.where(keep[..., None], rgbs, 0.0)
        t_starts, t_ends = torch.where(keep, t_starts, 0.0), torch.where(keep, t_ends, 0.0)
    return _accumulate_all(weights, rgbs, t_starts, t_ends, ray_indices, n_rays, render_bkgd)

"""Plain-PyTorch definitions of the sample family: the definition of correct.

Each function computes in the dtype of its inputs (tests run it in float64). Packed inputs use
int64 ``packed_info`` (n_rays, 2) = (start, count) listing the rays in order, contiguously.
"""
from __future__ import annotations

import torch

from fastgen._validate import tiles_samples


def sample_pdf(bins, weights, u, eps=1e-5):
    """NeRF's inverse-transform sampling at given (sorted) ``u`` (n_rays, n): see ``fastgen.sample_pdf``."""
    w = weights.detach() + eps
    pdf = w / w.sum(-1, keepdim=True)
    # cdf[S] is exactly 1 (rounding could leave it just below or above 1, and u = 1 would then
    # fall into the last bin's flat step instead of onto the last edge)
    inner = torch.cumsum(pdf[..., :-1], -1).clamp(max=1)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), inner, torch.ones_like(pdf[..., :1])], -1)
    n_bins = weights.shape[-1]
    inds = torch.searchsorted(cdf, u.contiguous(), right=True)
    below = (inds - 1).clamp(min=0)
    above = inds.clamp(max=n_bins)
    cdf_lo, cdf_hi = cdf.gather(-1, below), cdf.gather(-1, above)
    b_lo, b_hi = bins.gather(-1, below), bins.gather(-1, above)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    f = (u - cdf_lo) / denom
    return b_lo + f * (b_hi - b_lo)


def _rays_of(packed_info, n):
    """Ray id of each of ``n`` packed entries (rays listed in order, contiguously); entries after
    the last ray get n_rays. On CPU a packing that covers exactly the n entries in order takes a
    repeat_interleave (linear; the binary searches cost a millisecond at 10^5 entries)."""
    counts = packed_info[:, 1]
    if packed_info.device.type == "cpu" and packed_info.shape[0] and tiles_samples(packed_info, n):
        return torch.repeat_interleave(torch.arange(packed_info.shape[0]), counts, output_size=n)
    ends = packed_info[:, 0] + counts
    return torch.searchsorted(ends, torch.arange(n, device=packed_info.device), right=True)


def _upper_bounds(seq, seq_rays, values, value_rays):
    """Global index of the first entry of each value's ray segment in ``seq`` that is > the value:
    a stable sort of [seq, values] by (ray, value) puts a ray's sequence entries <= v before v, so
    the number of sequence entries before v is that index (rays in order, contiguous)."""
    n = seq.shape[0]
    cat = torch.cat([seq, values.to(seq.dtype)])
    rays = torch.cat([seq_rays, value_rays])
    is_seq = torch.cat([torch.ones_like(seq_rays), torch.zeros_like(value_rays)])
    order = torch.sort(cat, stable=True).indices
    order = order[torch.sort(rays[order], stable=True).indices]
    before = torch.cumsum(is_seq[order], 0) - is_seq[order]
    at = torch.empty_like(before)
    at[order] = before
    return at[n:]


def _upper_bounds_before_last(seq, seq_info, values, value_rays):
    """nerfacc's ``upper_bound(seq, s, e - 1, v)`` of each value in its ray's segment ``[s, e)``: the
    first index in ``[s, e - 1)`` (the ray's LAST entry excluded) whose entry is > v, else ``e - 1``;
    that is the upper bound over the whole segment capped at ``e - 1``. Returns ``(p, s, e)``; a
    value of no ray (or of an empty ray) gets an empty segment."""
    n_rays = seq_info.shape[0]
    ok = (value_rays >= 0) & (value_rays < n_rays)
    r = value_rays.clamp(0, max(n_rays - 1, 0))
    s = torch.where(ok, seq_info[r, 0], 0)
    e = torch.where(ok, seq_info[r, 0] + seq_info[r, 1], 0)
    ub = _upper_bounds(seq, _rays_of(seq_info, seq.shape[0]), values, torch.where(ok, value_rays, -1))
    return torch.minimum(ub, e - 1), s, e


def _clamp_to_segment(i, s, e):
    """nerfacc's ``max(min(i, e - 1), s)``: an index clamped into ``[s, e)`` (``s`` when empty)."""
    return torch.maximum(torch.minimum(i, e - 1), s)


def searchsorted(seq, seq_info, values, value_rays):
    """nerfacc's searchsorted on packed data: global (ids_left, ids_right), see ``fastgen.searchsorted``."""
    if seq_info.shape[0] == 0:
        z = torch.zeros_like(value_rays)
        return z, z
    p, s, e = _upper_bounds_before_last(seq, seq_info, values, value_rays)
    return _clamp_to_segment(p - 1, s, e), _clamp_to_segment(p, s, e)


def inverse_cdf(t, cdf, info, q, q_rays):
    """nerfacc's importance sampling of each ray's piecewise-linear CDF (cdfs at the edges t) at the
    fractions ``q`` of its range (see ``fastgen.importance_sampling``): u = cdf[s] + q (cdf[e-1] -
    cdf[s]), p = upper_bound(cdf, s, e - 1, u), lo/hi = p - 1 / p clamped into the segment, and
    t[lo] + f (t[hi] - t[lo]) with f = (u - cdf[lo]) / (cdf[hi] - cdf[lo]) clamped into [0, 1], or
    f = 1/2 (the midpoint) where that step is below 1e-10. A ray without edges gives 0."""
    n_rays, n_in = info.shape[0], t.shape[0]
    if n_rays == 0 or n_in == 0:
        return torch.zeros_like(q)
    r = q_rays.clamp(0, n_rays - 1)
    has = (info[r, 1] > 0) & (q_rays >= 0) & (q_rays < n_rays)
    at = lambda x, i: x[i.clamp(0, n_in - 1)]  # noqa: E731  (rays without edges: any entry, masked below)
    s, e = info[r, 0], info[r, 0] + info[r, 1]
    c0, c1 = at(cdf, s), at(cdf, e - 1)
    u = c0 + q * (c1 - c0)
    p, s, e = _upper_bounds_before_last(cdf, info, u, torch.where(has, q_rays, -1))
    lo, hi = _clamp_to_segment(p - 1, s, e), _clamp_to_segment(p, s, e)
    c_lo, dc = at(cdf, lo), at(cdf, hi) - at(cdf, lo)
    flat = dc < 1e-10
    f = torch.where(flat, 0.5, ((u - c_lo) / torch.where(flat, torch.ones_like(dc), dc)).clamp(0, 1))
    out = at(t, lo) + f * (at(t, hi) - at(t, lo))
    return torch.where(has, out, torch.zeros_like(out))


def merge_sorted(a, b):
    """Batched (n_rays, Sa) + (n_rays, Sb): stable sort of the concatenation (ties: a first)."""
    cat = torch.cat([a, b], -1)
    vals, perm = torch.sort(cat, dim=-1, stable=True)
    return vals, perm


def distortion_pairwise(weights, t_starts, t_ends):
    """The O(S^2) definition on batched (n_rays, S) samples:
    sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 (t1_i - t0_i)."""
    m = (t_starts + t_ends) / 2
    pair = (weights[..., :, None] * weights[..., None, :] * (m[..., :, None] - m[..., None, :]).abs())
    return pair.sum((-1, -2)) + (weights ** 2 * (t_ends - t_starts)).sum(-1) / 3


def distortion(weights, t_starts, t_ends):
    """The same loss in O(S) with exclusive prefix sums (samples sorted along each ray)."""
    m = (t_starts + t_ends) / 2
    W = torch.cumsum(weights, -1) - weights
    V = torch.cumsum(weights * m, -1) - weights * m
    return (2 * weights * (m * W - V) + weights ** 2 * (t_ends - t_starts) / 3).sum(-1)


def distortion_packed(weights, t_starts, t_ends, packed_info):
    """The O(S) prefix-sum loss on packed samples (rays listed in order, contiguously) -> (n_rays,)."""
    n_rays = packed_info.shape[0]
    rays = _rays_of(packed_info, weights.shape[0])
    keep = rays < n_rays
    rays = rays.clamp(max=max(n_rays - 1, 0))
    m = (t_starts + t_ends) / 2
    starts = packed_info[:, 0].clamp(max=max(weights.shape[0] - 1, 0))

    def exclusive_in_ray(x):
        c = torch.cumsum(x, 0) - x
        return c - c[starts][rays] if x.numel() else c

    W, V = exclusive_in_ray(weights), exclusive_in_ray(weights * m)
    terms = (2 * weights * (m * W - V) + weights ** 2 * (t_ends - t_starts) / 3) * keep
    return weights.new_zeros(n_rays).index_add_(0, rays, terms)


def merge_sorted_packed(a, b, a_info, b_info):
    """Packed merge as a stable sort by (ray, value) of the concatenation: (values, perm)."""
    cat = torch.cat([a, b])
    rays = torch.cat([_rays_of(a_info, a.shape[0]), _rays_of(b_info, b.shape[0])])
    _, by_value = torch.sort(cat, stable=True)
    _, by_ray = torch.sort(rays[by_value], stable=True)
    perm = by_value[by_ray]
    return cat[perm], perm

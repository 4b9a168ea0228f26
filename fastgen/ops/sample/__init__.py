"""Hierarchical sampling (family ``sample``): NeRF's inverse-CDF ``sample_pdf``, nerfacc's packed
``searchsorted`` and ``importance_sampling`` (with :class:`RayIntervals` / :class:`RaySamples`),
``merge_sorted`` of coarse and fine samples, the mip-NeRF 360 ``distortion`` loss and the
proposal-network estimator :class:`PropNetEstimator`.

Common rules of every function here:

* ``backend``: ``"auto"`` (default), ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``.
* dtypes: float32 and float64; float16/bfloat16 are computed in float32 by the kernel backends.
* packed inputs: ``packed_info`` (n_rays, 2) int = (start, count) must list the rays in order,
  contiguously (start = exclusive cumsum of count), as every fastgen/nerfacc sampler makes it.
* random modes draw their uniforms with torch (``generator=``) in Python and pass them to the
  kernels, so every backend gives the same samples for the same generator.
* data checks (bins increasing, weights >= 0 and not NaN, sortedness, packing) read the values:
  on CPU they always run, on CUDA only with ``FASTGEN_CHECKS=1`` (no hidden sync). Kernels clamp
  every ray to its segment, so unchecked bad input gives wrong numbers, never an out-of-bounds
  access; a lookup never reads outside its own ray's segment.
"""
from __future__ import annotations


import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.render import _batched_segments, _segments
from fastgen.ops.sample import _checks as C
from fastgen.ops.sample import _library as L
from fastgen.ops.sample import reference
from fastgen.ops.sample.data import RayIntervals, RaySamples

__all__ = ["sample_pdf", "searchsorted", "importance_sampling", "merge_sorted", "distortion",
           "RayIntervals", "RaySamples", "PropNetEstimator"]
for _name in ("sample_pdf", "searchsorted", "importance_sampling", "merge_sorted", "distortion"):
    register_op(_name, "sample")

_HALF = (torch.float16, torch.bfloat16)


def _compute(x):
    return (x.float() if x.dtype in _HALF else x).contiguous()


def _int_arg(op, name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_in_order(op, name, info, n, exact=False):
    """packed_info rows must be (exclusive cumsum of counts, count): rays in order, contiguous."""
    info = V.packed_info(op, info, n)
    if V.data_checks_enabled(info.device) and info.shape[0] > 0:
        counts = info[:, 1]
        if bool((info[:, 0] != torch.cumsum(counts, 0) - counts).any()):
            raise ValueError(f"{op}: {name} must list the rays in order and contiguously "
                             "(start = exclusive cumulative sum of count)")
        if exact and int(counts.sum()) != n:
            raise ValueError(f"{op}: {name} covers {int(counts.sum())} entries but there are {n}")
    return info


def _check_sorted(op, name, vals, rays=None):
    """Values must be non-decreasing along the last dim (batched) or within each ray (packed)."""
    if V.data_checks_enabled(vals.device) and C.unsorted(vals, rays):
        raise ValueError(f"{op}: {name} must be sorted (non-decreasing) within each ray")


# ---------------------------------------------------------------------------- sample_pdf
def sample_pdf(bins, weights, n_samples, det=False, eps=1e-5, generator=None, backend="auto"):
    r"""NeRF's hierarchical sampling: inverse transform sampling of a piecewise-constant PDF.

    Per ray, the PDF over bin ``j = [bins_j, bins_{j+1})`` is :math:`p_j = (w_j + \epsilon) /
    \sum_k (w_k + \epsilon)`, its CDF :math:`c = (0, p_0, p_0 + p_1, \dots, 1)` (clamped to 1, the
    last entry exactly 1). For each
    uniform :math:`u`: ``i = searchsorted(c, u, right=True)``, ``lo = max(i - 1, 0)``,
    ``hi = min(i, S)``, and

    .. math:: t = b_{lo} + \frac{u - c_{lo}}{c_{hi} - c_{lo}} (b_{hi} - b_{lo})

    with a CDF step below ``eps`` counted as 1 (as in NeRF). ``det=True`` uses
    ``u = linspace(0, 1, n_samples)``; otherwise ``u`` are ``n_samples`` uniforms per ray drawn
    with ``torch.rand(generator=generator)`` and sorted, so the samples are sorted either way.
    Rays whose weights are all zero sample their bins uniformly (the ``eps``).

    Args:
        bins: float ``(n_rays, S + 1)`` bin edges, non-decreasing along each ray.
        weights: float ``(n_rays, S)``, >= 0, not NaN (e.g. the coarse pass's weights).
        n_samples: int >= 1.
        det: evenly spaced ``u`` instead of random ones.
        eps: added to every weight; also the smallest CDF step interpolated.
        generator: optional ``torch.Generator`` for the random ``u`` (any device).
        backend: see :mod:`fastgen.backend`.

    Returns:
        ``(n_rays, n_samples)`` samples, sorted along each ray, dtype of ``bins``. Differentiable
        w.r.t. ``bins`` (the interpolation); **weights get no gradient**, as in NeRF.

    Example::

        >>> bins = torch.tensor([[0., 1., 2.]]); weights = torch.tensor([[0., 1.]])
        >>> fastgen.nerf.sample_pdf(bins, weights, 3, det=True)   # ~tensor([[0.0000, 1.5000, 2.0000]])
    """
    op = "sample_pdf"
    V.floating(op, "bins", bins, ndim=2)
    V.floating(op, "weights", weights, ndim=2)
    _int_arg(op, "n_samples", n_samples, 1)
    if weights.shape[1] < 1 or bins.shape != (weights.shape[0], weights.shape[1] + 1):
        raise ValueError(f"{op}: bins must have shape (n_rays, S + 1) for weights (n_rays, S) with S >= 1; "
                         f"got bins {tuple(bins.shape)} and weights {tuple(weights.shape)}")
    V.same_dtype(op, bins=bins, weights=weights)
    device = V.same_device(op, bins=bins, weights=weights)
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"{op}: eps must be a positive float, got {eps!r}")
    check = V.data_checks_enabled(device)
    n_rays = bins.shape[0]
    dtype = torch.float32 if bins.dtype in _HALF else bins.dtype
    if det:  # one row of u for every ray: the kernels read it with row stride 0
        u = torch.linspace(0, 1, n_samples, dtype=dtype, device=device)[None]
    else:
        gen_device = generator.device if generator is not None else device
        u = torch.rand((n_rays, n_samples), generator=generator, dtype=dtype, device=gen_device).to(device)
        u = torch.sort(u, -1).values
    be = resolve(op, backend, device)
    if be == "reference":
        if check:
            C.raise_pdf_error(C.pdf_error_bits(bins, weights))
        return reference.sample_pdf(bins, weights, u.expand(n_rays, n_samples).to(bins.dtype), eps)
    # the kernel backends check the data themselves (check=True), in the pass that reads it
    # with a gradient to come, the native kernels record each sample's bin for the backward
    with_index = bins.requires_grad and torch.is_grad_enabled()
    out = L.sample_pdf_forward(_compute(bins), _compute(weights).detach(), u.contiguous(), float(eps), check,
                               with_index, be)[0]
    return out.to(bins.dtype)


# ---------------------------------------------------------------------------- searchsorted
def _packing(op, name, x, n_rays=None):
    """(packed_info, per-entry ray ids, batched row length or None) of a RayIntervals/RaySamples."""
    if not isinstance(x, (RayIntervals, RaySamples)):
        raise TypeError(f"{op}: {name} must be a RayIntervals or RaySamples, got {type(x).__name__}")
    vals = V.floating(op, f"{name}.vals", x.vals, ndim=(1, 2))
    if vals.dim() == 2:
        info = _batched_segments(vals.shape, vals.device)
        rays = torch.arange(vals.shape[0], device=vals.device).repeat_interleave(vals.shape[1])
        return info, rays, vals.shape[1]
    if x.packed_info is not None:
        info = _check_in_order(op, f"{name}.packed_info", x.packed_info, vals.shape[0])
        rays = reference._rays_of(info, vals.shape[0])
        return info, rays, None
    if x.ray_indices is not None:
        rays = V.ray_indices(op, x.ray_indices, vals.shape[0], n_rays)
        if n_rays is None:
            raise ValueError(f"{op}: {name} has ray_indices but no packed_info; pass packed_info")
        return _segments(op, vals.shape[0], vals.device, None, rays, n_rays), rays, None
    raise ValueError(f"{op}: packed (1D) {name}.vals needs packed_info (or ray_indices)")


def searchsorted(sorted_sequence, values, backend="auto"):
    """nerfacc's searchsorted on batched or packed rays: for each value ``v``, the indices of the
    sequence entries around it within the value's own ray. Over the ray's segment ``[s, e)`` of
    the sequence, as nerfacc 0.5 defines it::

        p         = upper_bound(seq, s, e - 1, v)    # first index in [s, e - 1) with seq > v, else e - 1
        ids_left  = max(min(p - 1, e - 1), s)
        ids_right = max(min(p, e - 1), s)

    The ray's last entry is never searched, so ``seq[ids_left] <= v < seq[ids_right]`` inside the
    ray's range; a value at or above its second-to-last entry gets ``(e - 2, e - 1)``, one below
    its first entry ``(s, s)``, and every value of a one-entry ray ``(s, s)``, of an empty ray
    ``(s, s)`` as well. Never reads outside the value's ray.

    Args:
        sorted_sequence: :class:`RayIntervals` (or RaySamples), ``vals`` ``(n_rays, S)`` or
            packed ``(N,)`` with ``packed_info``; sorted within each ray.
        values: :class:`RaySamples` (or RayIntervals) in the same layout (same n_rays), packed
            with ``packed_info`` or ``ray_indices``.

    Returns:
        ``(ids_left, ids_right)`` int64 shaped like ``values.vals``: indices along the last dim
        (batched) or into the flat ``sorted_sequence.vals`` (packed).

    Example::

        >>> seq = RayIntervals(vals=torch.tensor([0., 1., 0., 1., 2.]),
        ...                    packed_info=torch.tensor([[0, 2], [2, 3]]))
        >>> vals = RaySamples(vals=torch.tensor([0.5, 1.5, 2.5]), packed_info=torch.tensor([[0, 1], [1, 2]]))
        >>> fastgen.nerf.searchsorted(seq, vals)   # (tensor([0, 3, 3]), tensor([1, 4, 4]))
        >>> below = RaySamples(vals=torch.tensor([-1.]), packed_info=torch.tensor([[0, 1], [1, 0]]))
        >>> fastgen.nerf.searchsorted(seq, below)  # (tensor([0]), tensor([0]))
    """
    op = "searchsorted"
    seq_info, seq_rays, seq_row = _packing(op, "sorted_sequence", sorted_sequence)
    val_info, val_rays, _ = _packing(op, "values", values, n_rays=seq_info.shape[0])
    seq, vals = sorted_sequence.vals, values.vals
    if (seq.dim() == 2) != (vals.dim() == 2) or (seq.dim() == 2 and seq.shape[0] != vals.shape[0]) \
            or seq_info.shape[0] != val_info.shape[0]:
        raise ValueError(f"{op}: sorted_sequence and values must both be batched with the same n_rays "
                         f"or both packed with the same n_rays; got {tuple(seq.shape)} "
                         f"({seq_info.shape[0]} rays) and {tuple(vals.shape)} ({val_info.shape[0]} rays)")
    V.same_dtype(op, sorted_sequence=seq, values=vals)
    device = V.same_device(op, sorted_sequence=seq, values=vals)
    _check_sorted(op, "sorted_sequence.vals", seq, None if seq.dim() == 2 else seq_rays)
    be = resolve(op, backend, device)
    seq_flat, vals_flat = seq.reshape(-1), vals.reshape(-1)
    if be == "reference":
        left, right = reference.searchsorted(seq_flat, seq_info, vals_flat, val_rays)
    else:
        left, right = L.searchsorted_packed(_compute(seq_flat), seq_info, _compute(vals_flat).to(
            _compute(seq_flat).dtype), val_rays.contiguous(), be)
    if seq_row is not None:  # batched: indices along the last dim
        base = (val_rays * seq_row).view(vals.shape)
        return left.view(vals.shape) - base, right.view(vals.shape) - base
    return left, right


# ---------------------------------------------------------------------------- importance_sampling
def _ray_ends(t, info):
    """(t[s], t[e-1]) of each ray's segment [s, e) of the flat edges t; (0, 0) for an empty ray."""
    if t.shape[0] == 0:
        z = t.new_zeros(info.shape[0])
        return z, z
    has = info[:, 1] > 0
    first = t[info[:, 0].clamp(0, t.shape[0] - 1)]
    last = t[(info[:, 0] + info[:, 1] - 1).clamp(0, t.shape[0] - 1)]
    return torch.where(has, first, torch.zeros_like(first)), torch.where(has, last, torch.zeros_like(last))


def _outer_edges(x0, x1, x_last, x_before, several, t_first, t_last):
    """nerfacc's outer edges of each ray: half a sample gap beyond its first (x0, then x1) and last
    (x_last, after x_before) samples, kept inside [t[s], t[e-1]]. A ray with one sample (not
    several) gets (t[s], t[e-1]): nerfacc reads outside the ray there, fastgen defines it."""
    first = torch.where(several, torch.maximum(x0 - (x1 - x0) / 2, t_first), t_first)
    last = torch.where(several, torch.minimum(x_last + (x_last - x_before) / 2, t_last), t_last)
    return first, last


def _batched_edges(x, t_first, t_last):
    """(n_rays, n + 1) edges around the samples x (n_rays, n): midpoints between consecutive
    samples, and the outer edges of :func:`_outer_edges`."""
    n = x.shape[1]
    first, last = _outer_edges(x[:, 0], x[:, min(1, n - 1)], x[:, -1], x[:, max(n - 2, 0)],
                               torch.tensor(n > 1, device=x.device), t_first, t_last)
    return torch.cat([first[:, None], (x[:, :-1] + x[:, 1:]) / 2, last[:, None]], 1)


def _packed_edges(x, s_start, n, edge_rays, j, t_first, t_last):
    """The same on packed samples x (n[r] of ray r from s_start[r]): edge j = 0..n[r] of each ray
    with n[r] > 0 (``edge_rays``, ``j`` give each output edge's ray and place in it)."""
    last_i = x.shape[0] - 1
    at = lambda i: x[i.clamp(0, last_i)]  # noqa: E731  (indices outside a ray are masked below)
    first, last = _outer_edges(at(s_start), at(s_start + 1), at(s_start + n - 1), at(s_start + n - 2), n > 1,
                               t_first, t_last)
    ss, nn = s_start[edge_rays], n[edge_rays]
    inner = (at(ss + j - 1) + at(ss + j)) / 2
    return torch.where(j == 0, first[edge_rays], torch.where(j == nn, last[edge_rays], inner))


def importance_sampling(intervals, cdfs, n_intervals_per_ray, stratified=False, generator=None,
                        backend="auto"):
    r"""nerfacc's importance sampling, as nerfacc 0.5 defines it: resample each ray into ``n`` new
    intervals by inverting the piecewise-linear CDF given at its interval edges.

    Per ray with edges ``t`` and cdfs ``c`` on its segment ``[s, e)`` (not normalised: the samples
    spread over ``[c[s], c[e-1]]``), sample ``k = 0..n-1`` is ``x_k``::

        u_k    = c[s] + (k + b) * (c[e-1] - c[s]) / n       # b = 1/2; stratified: one b ~ U(0, 1] per ray
        p      = upper_bound(c, s, e - 1, u_k)              # first index in [s, e - 1) with c > u_k, else e - 1
        lo, hi = max(min(p - 1, e - 1), s), max(min(p, e - 1), s)
        x_k    = t[lo] + f * (t[hi] - t[lo])                # f = (u_k - c[lo]) / (c[hi] - c[lo]) in [0, 1],
                                                            # or 1/2 (midpoint) if c[hi] - c[lo] < 1e-10

    and the ``n + 1`` new edges lie between consecutive samples, the outer two half a gap beyond
    the outer samples but inside the input range::

        e_0 = max(x_0 - (x_1 - x_0) / 2, t[s]),   e_k = (x_{k-1} + x_k) / 2 (k = 1..n-1),
        e_n = min(x_{n-1} + (x_{n-1} - x_{n-2}) / 2, t[e-1])

    So a flat CDF puts every sample at the midpoint of the ray's last input interval, and a ray
    with one edge gives ``t[s]``. Where nerfacc is undefined fastgen chooses: with ``n = 1`` the
    edges are ``(t[s], t[e-1])``; a ray without input edges gives samples and edges 0. The
    stratified ``b`` is ``1 - torch.rand(n_rays, generator=generator)``, shared by the ray's samples.

    Differentiable w.r.t. ``intervals.vals``: each sample interpolates two input edges with
    CDF-given weights, and the edges follow from the samples (with the clamps to ``t[s]``,
    ``t[e-1]``); the ``cdfs`` get no gradient (nerfacc's op is not differentiable at all).

    Args:
        intervals: :class:`RayIntervals`, ``vals`` ``(n_rays, S)`` or packed ``(N,)`` with
            ``packed_info``; sorted within each ray.
        cdfs: float, shaped like ``intervals.vals``, non-decreasing within each ray.
        n_intervals_per_ray: int >= 1 (same for every ray) or int tensor ``(n_rays,)`` >= 0.
        stratified: one random offset ``b`` per ray instead of 1/2.
        generator: optional ``torch.Generator`` for ``b`` (any device).

    Returns:
        ``(intervals, samples)``: with an int, batched :class:`RayIntervals` ``(n_rays, n + 1)``
        and :class:`RaySamples` ``(n_rays, n)``; with a tensor, packed ones with ``packed_info``,
        ``ray_indices`` (and ``is_left``/``is_right`` for the intervals); a ray with 0 intervals
        gets no edges. The packed output size depends on the data: one host sync.

    Example::

        >>> iv = RayIntervals(vals=torch.tensor([[0., 1., 2.]]))
        >>> new_iv, samples = fastgen.nerf.importance_sampling(iv, torch.tensor([[0., .9, 1.]]), 2)
        >>> samples.vals   # u = (0.25, 0.75) -> tensor([[0.2778, 0.8333]])
        >>> new_iv.vals    # tensor([[0.0000, 0.5556, 1.1111]])
    """
    op = "importance_sampling"
    info, rays, _ = _packing(op, "intervals", intervals)
    t = intervals.vals
    V.floating(op, "cdfs", cdfs)
    V.same_shape(op, "intervals.vals", t, cdfs=cdfs)
    V.same_dtype(op, intervals=t, cdfs=cdfs)
    device = V.same_device(op, intervals=t, cdfs=cdfs)
    packed_in = t.dim() == 1
    _check_sorted(op, "intervals.vals", t, rays if packed_in else None)
    if V.data_checks_enabled(device) and (bool(torch.isnan(cdfs).any())):
        raise ValueError(f"{op}: cdfs must not be NaN")
    _check_sorted(op, "cdfs", cdfs, rays if packed_in else None)
    n_rays = info.shape[0]
    dtype = torch.float32 if t.dtype in _HALF else t.dtype
    arange = torch.arange(n_rays, device=device)
    if isinstance(n_intervals_per_ray, torch.Tensor):
        n = V.tensor(op, "n_intervals_per_ray", n_intervals_per_ray, ndim=1, dtypes=V.INDEX_DTYPES).long()
        if n.shape[0] != n_rays:
            raise ValueError(f"{op}: n_intervals_per_ray must have one entry per ray ({n_rays}), got {n.shape[0]}")
        if V.data_checks_enabled(device) and bool((n < 0).any()):
            raise ValueError(f"{op}: n_intervals_per_ray must be >= 0")
        n = n.clamp(min=0)
        # the output sizes depend on the data: the one sync
        n_samples, n_sampled_rays = torch.stack([n.sum(), (n > 0).sum()]).tolist()
        s_start = torch.cumsum(n, 0) - n
        x_rays = torch.repeat_interleave(arange, n, output_size=n_samples)
        k = torch.arange(n_samples, device=device) - s_start[x_rays]
        n_of = n[x_rays]
    else:
        n_int = _int_arg(op, "n_intervals_per_ray", n_intervals_per_ray, 1)
        x_rays = arange.repeat_interleave(n_int)
        k = torch.arange(n_int, device=device).repeat(n_rays)
        n_of = torch.full_like(k, n_int)
    if stratified:
        gen_device = generator.device if generator is not None else device
        b = 1 - torch.rand(n_rays, generator=generator, dtype=dtype, device=gen_device).to(device)[x_rays]
    else:
        b = 0.5
    q = (k.to(dtype) + b) / n_of.to(dtype)  # the kernels take u_k as this fraction of [c[s], c[e-1]]
    be = resolve(op, backend, device)
    t_flat, c_flat = t.reshape(-1), cdfs.detach().reshape(-1)
    if be == "reference":
        tv = t_flat
        x = reference.inverse_cdf(tv, c_flat, info, q.to(t.dtype), x_rays)
    else:
        tv = _compute(t_flat)
        grad = t.requires_grad and torch.is_grad_enabled()
        x, lo, hi, frac = L.inverse_cdf(tv.detach(), _compute(c_flat), info, q.contiguous(), x_rays, grad, be)
        if grad:  # the same interpolation in torch: autograd scatters the gradient into t
            lo_c, hi_c = lo.clamp(min=0), hi.clamp(min=0)
            x = torch.where(lo >= 0, tv[lo_c] + frac * (tv[hi_c] - tv[lo_c]), x)
    t_first, t_last = _ray_ends(tv, info)
    if not isinstance(n_intervals_per_ray, torch.Tensor):
        x = x.view(n_rays, n_int)
        return RayIntervals(vals=_batched_edges(x, t_first, t_last).to(t.dtype)), RaySamples(vals=x.to(t.dtype))
    e_count = torch.where(n > 0, n + 1, 0)
    e_start = torch.cumsum(e_count, 0) - e_count
    e_rays = torch.repeat_interleave(arange, e_count, output_size=n_samples + n_sampled_rays)
    j = torch.arange(n_samples + n_sampled_rays, device=device) - e_start[e_rays]
    edges = _packed_edges(x, s_start, n, e_rays, j, t_first, t_last) if n_samples else x
    return (RayIntervals(vals=edges.to(t.dtype), packed_info=torch.stack([e_start, e_count], 1),
                         ray_indices=e_rays, is_left=j < n[e_rays], is_right=j > 0),
            RaySamples(vals=x.to(t.dtype), packed_info=torch.stack([s_start, n], 1), ray_indices=x_rays))


# ---------------------------------------------------------------------------- merge_sorted
def merge_sorted(a, b, a_packed_info=None, b_packed_info=None, backend="auto"):
    """Merge two sample sets that are sorted within each ray (e.g. NeRF's coarse and fine t) in one
    linear pass per ray: what ``torch.sort(torch.cat([a, b], -1), -1)`` computes, stable, ties
    taking ``a`` first.

    Args:
        a, b: float, batched ``(n_rays, Sa)`` and ``(n_rays, Sb)``, or packed ``(Na,)`` and
            ``(Nb,)`` with ``a_packed_info`` and ``b_packed_info`` (n_rays, 2), rays in order.

    Returns:
        ``(values, perm)``. Batched: ``(n_rays, Sa + Sb)`` each; ``perm`` indexes
        ``torch.cat([a, b], -1)`` along the last dim. Packed: ``(Na + Nb,)`` each, laid out with
        ``packed_info = a_packed_info + b_packed_info``; ``perm`` indexes ``torch.cat([a, b])``.
        ``values`` is differentiable w.r.t. ``a`` and ``b``.

    Example::

        >>> fastgen.nerf.merge_sorted(torch.tensor([[0., 2.]]), torch.tensor([[1., 2., 3.]]))
        (tensor([[0., 1., 2., 2., 3.]]), tensor([[0, 2, 1, 3, 4]]))
    """
    op = "merge_sorted"
    V.floating(op, "a", a, ndim=(1, 2))
    V.floating(op, "b", b, ndim=(1, 2))
    V.same_dtype(op, a=a, b=b)
    device = V.same_device(op, a=a, b=b)
    packed = a_packed_info is not None or b_packed_info is not None
    if packed:
        if a.dim() != 1 or b.dim() != 1 or a_packed_info is None or b_packed_info is None:
            raise ValueError(f"{op}: packed input needs flat a and b and both a_packed_info and b_packed_info")
        a_info = _check_in_order(op, "a_packed_info", a_packed_info, a.shape[0], exact=True)
        b_info = _check_in_order(op, "b_packed_info", b_packed_info, b.shape[0], exact=True)
        if a_info.shape[0] != b_info.shape[0]:
            raise ValueError(f"{op}: a_packed_info and b_packed_info must have the same n_rays, "
                             f"got {a_info.shape[0]} and {b_info.shape[0]}")
    else:
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
            raise ValueError(f"{op}: batched a and b must be (n_rays, Sa) and (n_rays, Sb), got "
                             f"{tuple(a.shape)} and {tuple(b.shape)} (pass packed_info for packed input)")
    check = V.data_checks_enabled(device)
    be = resolve(op, backend, device)
    if be == "reference":
        if check:
            rays = (reference._rays_of(a_info, a.shape[0]), reference._rays_of(b_info, b.shape[0])) if packed \
                else (None, None)
            C.raise_merge_error(C.merge_error_bits(a, b, *rays))
        return reference.merge_sorted_packed(a, b, a_info, b_info) if packed else reference.merge_sorted(a, b)
    # the kernel backends check sortedness themselves (check=True), in the pass that reads the data
    vals, perm = L.merge_sorted(_compute(a), _compute(b), a_info if packed else None, b_info if packed else None,
                                check, be)
    return vals.to(a.dtype), perm


# ---------------------------------------------------------------------------- distortion
def distortion(weights, t_starts, t_ends, ray_indices=None, n_rays=None, packed_info=None, backend="auto"):
    r"""The mip-NeRF 360 distortion loss of each ray, in O(S) time and memory with prefix sums.

    .. math::
        \mathcal{L} = \sum_{i,j} w_i w_j \left|m_i - m_j\right| + \frac{1}{3}\sum_i w_i^2 (t^{end}_i - t^{start}_i),
        \qquad m_i = (t^{start}_i + t^{end}_i) / 2

    computed as :math:`\sum_i 2 w_i (m_i W_i - V_i) + w_i^2 \delta_i / 3` with the exclusive prefix
    sums :math:`W_i = \sum_{j<i} w_j`, :math:`V_i = \sum_{j<i} w_j m_j`: **samples must be sorted
    along each ray** (as every sampler makes them; not checked).

    Args:
        weights, t_starts, t_ends: float, batched ``(..., S)`` or packed ``(N,)``.
        ray_indices: packed: int64 ``(N,)`` sorted ray of each sample, with ``n_rays``; or
        packed_info: packed: int ``(n_rays, 2)`` = (start, count).

    Returns:
        Loss per ray: ``(...)`` batched, ``(n_rays,)`` packed. Differentiable w.r.t. weights,
        t_starts and t_ends.

    Example::

        >>> w = torch.tensor([[0.5, 0.5]]); t0 = torch.tensor([[0., 1.]]); t1 = t0 + 1
        >>> fastgen.nerf.distortion(w, t0, t1)   # 2 * 0.25 * 1 + (0.25 + 0.25) / 3 = tensor([0.6667])
    """
    op = "distortion"
    named = dict(weights=weights, t_starts=t_starts, t_ends=t_ends)
    for k, x in named.items():
        V.floating(op, k, x)
    V.same_shape(op, "weights", weights, t_starts=t_starts, t_ends=t_ends)
    V.same_dtype(op, **named)
    device = V.same_device(op, **named, ray_indices=ray_indices, packed_info=packed_info)
    packed = ray_indices is not None or packed_info is not None
    if packed:
        if weights.dim() != 1:
            raise ValueError(f"{op}: with ray_indices or packed_info the samples must be flat (N,), "
                             f"got shape {tuple(weights.shape)}")
        if packed_info is None and n_rays is None:
            raise ValueError(f"{op}: packed samples with ray_indices need n_rays")
        if n_rays is not None:
            V.n_rays_arg(op, n_rays)
        info = _segments(op, weights.shape[0], device, packed_info, ray_indices, n_rays)
    else:
        if weights.dim() < 1:
            raise ValueError(f"{op}: samples must have at least one dimension, got a scalar")
        info = _batched_segments(weights.shape, device)
    be = resolve(op, backend, device)
    if be == "reference":
        if packed:
            return reference.distortion_packed(weights, t_starts, t_ends, info)
        return reference.distortion(weights, t_starts, t_ends)
    loss = L.distortion_forward(_compute(weights).reshape(-1), _compute(t_starts).reshape(-1),
                                _compute(t_ends).reshape(-1), info, not packed, be).to(weights.dtype)
    return loss if packed else loss.view(weights.shape[:-1])


from fastgen.ops.sample.prop_net import PropNetEstimator  # noqa: E402  (uses the ops above)

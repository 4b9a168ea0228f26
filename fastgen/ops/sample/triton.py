"""Triton kernels of the sample family (backend "triton").

The primitives of ``_library.py``; inputs arrive validated, contiguous, float32/float64. They run
on CUDA tensors, and on CPU tensors under ``TRITON_INTERPRET=1`` (how CI tests them).

* ``sample_pdf``: one program per ray holds the ray's whole CDF as a row (``BLOCK_B`` >= S + 1)
  and resolves ``BLOCK_N`` samples at a time by a [BLOCK_N, BLOCK_B] comparison with the CDF
  (count, the CDF values around u by max/min reductions): no gather, no data-dependent loop. The
  backward accumulates the bins' gradient in registers (deterministic, no atomics).
* ``searchsorted``, ``inverse_cdf`` and ``merge_sorted``: one lane per value, a branch-free binary
  search of ``NITER = bit_length(N)`` masked steps inside the value's own ray segment (never
  reading outside it). The merge ranks each element of one list in the other (ties: ``a``
  first), the parallel form of the two-pointer merge the C++/CUDA kernels run per ray.
* ``distortion``: one program per ray, chunks of ``BLOCK`` samples with in-chunk prefix sums
  (``tl.cumsum``) and scalar carries.
"""
import torch
import triton
import triton.language as tl

from fastgen.ops.sample import _checks as C

_BLOCK = 128
_BLOCK_N = 16
_DIST_BLOCK = 64


@triton.jit
def _segment(info_ptr, r, ok, n):
    """Clamped [s, e) of ray r (an empty range where ``ok`` is false)."""
    start = tl.load(info_ptr + 2 * r, mask=ok, other=0)
    count = tl.load(info_ptr + 2 * r + 1, mask=ok, other=0)
    s = tl.minimum(tl.maximum(start, 0), n)
    cnt = tl.minimum(tl.maximum(tl.minimum(start, 0) + tl.maximum(count, 0), 0), n - s)
    return s, s + cnt


@triton.jit
def _bound(ptr, s, e, v, STRICT: tl.constexpr, NITER: tl.constexpr):
    """First index in [s, e) whose entry is > v (>= v with STRICT); reads only inside [s, e)."""
    lo = s
    hi = e
    for _ in tl.static_range(NITER):
        active = lo < hi
        mid = lo + (hi - lo) // 2
        x = tl.load(ptr + mid, mask=active, other=0.0)
        if STRICT:
            go = x < v
        else:
            go = x <= v
        lo = tl.where(active & go, mid + 1, lo)
        hi = tl.where(active & (go == 0), mid, hi)
    return lo


def _niter(n: int) -> int:
    return max(int(n).bit_length(), 1)


# ---------------------------------------------------------------------------- sample_pdf
@triton.jit
def _sample_pdf_kernel(bins_ptr, w_ptr, u_ptr, out_ptr, grad_ptr, grad_bins_ptr, n_bins, n_samples, u_stride, eps,
                       BACKWARD: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    r = tl.program_id(0).to(tl.int64)
    jb = tl.arange(0, BLOCK_B)
    wmask = jb < n_bins
    w = tl.load(w_ptr + r * n_bins + jb, mask=wmask, other=0.0)
    p = tl.where(wmask, w + eps, 0.0)
    # cdf[j + 1], clamped to 1 and exactly 1 at the last edge (as the reference)
    cdf_next = tl.where(jb == n_bins - 1, 1.0, tl.minimum(tl.cumsum(p, 0) * (1.0 / tl.sum(p, 0)), 1.0))
    brow = bins_ptr + r * (n_bins + 1)
    gacc = tl.zeros([BLOCK_B], dtype=p.dtype)
    for k0 in range(0, n_samples, BLOCK_N):
        k = k0 + tl.arange(0, BLOCK_N)
        km = k < n_samples
        uk = tl.load(u_ptr + r * u_stride + k, mask=km, other=0.0)
        le = (cdf_next[None, :] <= uk[:, None]) & wmask[None, :]
        count = tl.sum(le.to(tl.int32), 1)
        c_lo = tl.max(tl.where(le, cdf_next[None, :], 0.0), 1)
        c_hi = tl.max(tl.where(jb[None, :] == count[:, None], cdf_next[None, :], 0.0), 1)
        c_hi = tl.where(count < n_bins, c_hi, c_lo)
        denom = c_hi - c_lo
        denom = tl.where(denom < eps, 1.0, denom)
        f = (uk - c_lo) / denom
        below = count
        above = tl.minimum(count + 1, n_bins)
        if BACKWARD:
            g = tl.load(grad_ptr + r * n_samples + k, mask=km, other=0.0)
            contrib = tl.where(jb[None, :] == below[:, None], (g * (1.0 - f))[:, None], 0.0) + \
                tl.where(jb[None, :] == above[:, None], (g * f)[:, None], 0.0)
            gacc += tl.sum(contrib, 0)
        else:
            b_lo = tl.load(brow + below, mask=km, other=0.0)
            b_hi = tl.load(brow + above, mask=km, other=0.0)
            tl.store(out_ptr + r * n_samples + k, b_lo + f * (b_hi - b_lo), mask=km)
    if BACKWARD:
        tl.store(grad_bins_ptr + r * (n_bins + 1) + jb, gacc, mask=jb <= n_bins)


def _sample_pdf_launch(bins, weights, u, grad, eps, backward):
    n_rays, n = bins.shape[0], u.shape[1]
    n_bins = weights.shape[1]
    out = torch.zeros_like(bins) if backward else u.new_empty((n_rays, n))
    if n_rays and n:
        _sample_pdf_kernel[(n_rays,)](
            bins, weights, u, u if backward else out, grad if backward else u, out if backward else u,
            n_bins, n, n if u.shape[0] > 1 else 0, float(eps), BACKWARD=backward,
            BLOCK_B=triton.next_power_of_2(n_bins + 1), BLOCK_N=_BLOCK_N)
    return out


def sample_pdf(bins, weights, u, eps: float, check: bool, with_index: bool):
    """(samples, below, frac): no record for the backward here (``with_index`` is ignored; the
    backward kernel walks the CDF again), so below and frac are empty."""
    if check:
        C.raise_pdf_error(C.pdf_error_bits(bins, weights))
    empty = torch.empty(0, dtype=torch.int32, device=u.device)
    return _sample_pdf_launch(bins, weights, u, None, eps, False), empty, u.new_empty((0,))


def sample_pdf_backward(bins, weights, u, grad, below, frac, eps: float):
    return _sample_pdf_launch(bins, weights, u, grad, eps, True)


# ---------------------------------------------------------------------------- searchsorted / inverse CDF
@triton.jit
def _clamp_to_segment(i, s, e):
    """max(min(i, e - 1), s): nerfacc's clamp of an index into [s, e) (s when it is empty)."""
    return tl.maximum(tl.minimum(i, e - 1), s)


@triton.jit
def _searchsorted_kernel(seq_ptr, info_ptr, v_ptr, rays_ptr, left_ptr, right_ptr, n_seq, n_values, n_rays,
                         NITER: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n_values
    r = tl.load(rays_ptr + i, mask=ok, other=-1)
    s, e = _segment(info_ptr, r, ok & (r >= 0) & (r < n_rays), n_seq)
    v = tl.load(v_ptr + i, mask=ok, other=0.0)
    p = _bound(seq_ptr, s, e - 1, v, False, NITER)  # nerfacc never searches the last entry
    tl.store(left_ptr + i, _clamp_to_segment(p - 1, s, e), mask=ok)
    tl.store(right_ptr + i, _clamp_to_segment(p, s, e), mask=ok)


def searchsorted(seq, seq_info, values, value_rays):
    left, right = torch.empty_like(value_rays), torch.empty_like(value_rays)
    n = values.shape[0]
    if n:
        _searchsorted_kernel[(triton.cdiv(n, _BLOCK),)](
            seq, seq_info, values, value_rays, left, right, seq.shape[0], n, seq_info.shape[0],
            NITER=_niter(seq.shape[0]), BLOCK=_BLOCK)
    return left, right


@triton.jit
def _inverse_cdf_kernel(t_ptr, cdf_ptr, info_ptr, u_ptr, rays_ptr, out_ptr, lo_ptr, hi_ptr, frac_ptr, n_in, n_out,
                        n_rays, WITH_INDEX: tl.constexpr, NITER: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n_out
    r = tl.load(rays_ptr + i, mask=ok, other=-1)
    s, e = _segment(info_ptr, r, ok & (r >= 0) & (r < n_rays), n_in)
    has = e > s
    u = tl.load(u_ptr + i, mask=ok, other=0.0)
    c0 = tl.load(cdf_ptr + s, mask=has, other=0.0)
    c1 = tl.load(cdf_ptr + e - 1, mask=has, other=0.0)
    c = c0 + u * (c1 - c0)  # u: the fraction of the ray's CDF range
    p = _bound(cdf_ptr, s, e - 1, c, False, NITER)  # the last entry excluded, as nerfacc
    lo = _clamp_to_segment(p - 1, s, e)
    hi = _clamp_to_segment(p, s, e)
    clo = tl.load(cdf_ptr + lo, mask=has, other=0.0)
    chi = tl.load(cdf_ptr + hi, mask=has, other=0.0)
    dc = chi - clo
    flat = dc < 1e-10  # a (nearly) flat step: its midpoint
    f = tl.where(flat, 0.5, (c - clo) / tl.where(flat, 1.0, dc))
    f = tl.minimum(tl.maximum(f, 0.0), 1.0)
    tlo = tl.load(t_ptr + lo, mask=has, other=0.0)
    thi = tl.load(t_ptr + hi, mask=has, other=0.0)
    tl.store(out_ptr + i, tl.where(has, tlo + f * (thi - tlo), 0.0), mask=ok)
    if WITH_INDEX:
        tl.store(lo_ptr + i, tl.where(has, lo, -1), mask=ok)
        tl.store(hi_ptr + i, tl.where(has, hi, -1), mask=ok)
        tl.store(frac_ptr + i, tl.where(has, f, 0.0), mask=ok)


def inverse_cdf(t, cdf, info, u, u_rays, with_index: bool):
    out = torch.empty_like(u)
    n = u.shape[0]
    m = n if with_index else 0
    lo, hi = (torch.empty(m, dtype=torch.long, device=u.device) for _ in range(2))
    frac = u.new_empty((m,))
    if n:
        _inverse_cdf_kernel[(triton.cdiv(n, _BLOCK),)](
            t, cdf, info, u, u_rays, out, lo if m else u_rays, hi if m else u_rays, frac if m else out,
            t.shape[0], n, info.shape[0], WITH_INDEX=with_index, NITER=_niter(t.shape[0]), BLOCK=_BLOCK)
    return out, lo, hi, frac


# ---------------------------------------------------------------------------- merge_sorted
@triton.jit
def _merge_rank_kernel(x_ptr, x_info, x_rays, y_ptr, y_info, out_ptr, perm_ptr, n_x, n_y, n_rays, perm_offset,
                       STRICT: tl.constexpr, LOCAL: tl.constexpr, NITER: tl.constexpr, BLOCK: tl.constexpr):
    """Scatter each element of x to its merged position: its rank in its own ray plus the count of
    y entries of the ray before it (y < x with STRICT, y <= x otherwise). x is ``a`` when STRICT
    (ties: a first); with LOCAL the permutation indexes the ray's row [a_r, b_r]."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n_x
    r = tl.load(x_rays + i, mask=ok, other=-1)
    rok = ok & (r >= 0) & (r < n_rays)
    xs, xe = _segment(x_info, r, rok, n_x)
    ys, ye = _segment(y_info, r, rok, n_y)
    v = tl.load(x_ptr + i, mask=ok, other=0.0)
    pos = xs + ys + (i - xs) + (_bound(y_ptr, ys, ye, v, STRICT, NITER) - ys)
    tl.store(out_ptr + pos, v, mask=rok)
    if LOCAL:
        if STRICT:
            p = i - xs
        else:
            p = (ye - ys) + (i - xs)
    else:
        p = i + perm_offset
    tl.store(perm_ptr + pos, p, mask=rok)


def merge_sorted(a, b, a_info, b_info, check: bool):
    from fastgen.ops.render import _batched_segments
    from fastgen.ops.sample.reference import _rays_of

    local = a_info is None  # batched rows: perm indexes each ray's own row [a_r, b_r]
    shape = (a.shape[0], a.shape[1] + b.shape[1]) if local else (a.shape[0] + b.shape[0],)
    if local:
        a_info, b_info = _batched_segments(a.shape, a.device), _batched_segments(b.shape, b.device)
        a, b = a.reshape(-1), b.reshape(-1)
    n_a, n_b = a.shape[0], b.shape[0]
    a_rays, b_rays = _rays_of(a_info, n_a), _rays_of(b_info, n_b)
    if check:
        C.raise_merge_error(C.merge_error_bits(a, b, a_rays, b_rays))
    out = a.new_empty((n_a + n_b,))
    perm = torch.empty(n_a + n_b, dtype=torch.long, device=a.device)
    n_rays = a_info.shape[0]
    niter = _niter(max(n_a, n_b))
    if n_a:
        _merge_rank_kernel[(triton.cdiv(n_a, _BLOCK),)](
            a, a_info, a_rays, b, b_info, out, perm, n_a, n_b, n_rays, 0,
            STRICT=True, LOCAL=local, NITER=niter, BLOCK=_BLOCK)
    if n_b:
        _merge_rank_kernel[(triton.cdiv(n_b, _BLOCK),)](
            b, b_info, b_rays, a, a_info, out, perm, n_b, n_a, n_rays, n_a,
            STRICT=False, LOCAL=local, NITER=niter, BLOCK=_BLOCK)
    return out.view(shape), perm.view(shape)


def merge_sorted_backward(perm, grad, a_info, b_info, size_a: int, size_b: int):
    """The inverse permutation as a torch scatter (one pass, no Triton kernel needed)."""
    if a_info is None:  # batched: scatter each row back into its [a_r, b_r]
        g = torch.empty_like(grad).scatter_(1, perm, grad)
        parts = g[:, :size_a], g[:, size_a:]
    else:
        g = grad.new_zeros(perm.shape[0]).index_put_((perm,), grad)
        parts = g[:size_a], g[size_a:]
    return tuple(x.clone(memory_format=torch.contiguous_format) for x in parts)  # outputs must not alias


# ---------------------------------------------------------------------------- distortion
@triton.jit
def _distortion_kernel(w_ptr, t0_ptr, t1_ptr, info_ptr, loss_ptr, gl_ptr, gw_ptr, g0_ptr, g1_ptr, n_samples,
                       BACKWARD: tl.constexpr, BLOCK: tl.constexpr):
    r = tl.program_id(0).to(tl.int64)
    s, e = _segment(info_ptr, r, r >= 0, n_samples)
    j = tl.arange(0, BLOCK)
    zero = tl.zeros([BLOCK], dtype=w_ptr.dtype.element_ty)
    w_tot = tl.sum(zero, 0)
    v_tot = tl.sum(zero, 0)
    if BACKWARD:  # the ray's totals first
        for c in range(s, e, BLOCK):
            idx = c + j
            m = idx < e
            w = tl.load(w_ptr + idx, mask=m, other=0.0)
            mid = (tl.load(t0_ptr + idx, mask=m, other=0.0) + tl.load(t1_ptr + idx, mask=m, other=0.0)) * 0.5
            w_tot += tl.sum(w, 0)
            v_tot += tl.sum(w * mid, 0)
        g = tl.load(gl_ptr + r)
    W = tl.sum(zero, 0)
    V = tl.sum(zero, 0)
    acc = zero
    for c in range(s, e, BLOCK):
        idx = c + j
        m = idx < e
        w = tl.load(w_ptr + idx, mask=m, other=0.0)
        a0 = tl.load(t0_ptr + idx, mask=m, other=0.0)
        a1 = tl.load(t1_ptr + idx, mask=m, other=0.0)
        mid = (a0 + a1) * 0.5
        wm = w * mid
        Wi = W + (tl.cumsum(w, 0) - w)  # exclusive prefix sums within the ray
        Vi = V + (tl.cumsum(wm, 0) - wm)
        if BACKWARD:
            gw = 2.0 * (mid * (2.0 * Wi - w_tot) - 2.0 * Vi + v_tot) + (2.0 / 3.0) * w * (a1 - a0)
            gm = 2.0 * w * (2.0 * Wi + w - w_tot)
            gd = w * w / 3.0
            tl.store(gw_ptr + idx, g * gw, mask=m)
            tl.store(g0_ptr + idx, g * (0.5 * gm - gd), mask=m)
            tl.store(g1_ptr + idx, g * (0.5 * gm + gd), mask=m)
        else:
            acc += tl.where(m, 2.0 * w * (mid * Wi - Vi) + w * w * (a1 - a0) / 3.0, 0.0)
        W += tl.sum(w, 0)
        V += tl.sum(wm, 0)
    if not BACKWARD:
        tl.store(loss_ptr + r, tl.sum(acc, 0))


def distortion_forward(weights, t_starts, t_ends, packed_info):
    n_rays = packed_info.shape[0]
    loss = weights.new_empty((n_rays,))
    if n_rays:
        _distortion_kernel[(n_rays,)](weights, t_starts, t_ends, packed_info, loss, loss, loss, loss, loss,
                                      weights.shape[0], BACKWARD=False, BLOCK=_DIST_BLOCK)
    return loss


def distortion_backward(weights, t_starts, t_ends, packed_info, grad_loss, dense: bool):
    new = torch.empty_like if dense else torch.zeros_like  # else samples no ray covers get 0
    gw, g0, g1 = new(weights), new(weights), new(weights)
    n_rays = packed_info.shape[0]
    if n_rays and weights.numel():
        _distortion_kernel[(n_rays,)](weights, t_starts, t_ends, packed_info, grad_loss, grad_loss, gw, g0, g1,
                                      weights.shape[0], BACKWARD=True, BLOCK=_DIST_BLOCK)
    return gw, g0, g1

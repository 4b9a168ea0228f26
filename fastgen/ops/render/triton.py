"""Triton kernels of the render family (backend "triton").

The primitives of the contract in ``spec/render_kernels.md``: ``segmented_scan``,
``prod_scan_backward``, ``segment_sum``, ``segment_broadcast``, ``weighted_segment_sum``,
``weighted_segment_broadcast``, ``composite_forward`` and ``composite_backward``. Inputs arrive
validated and contiguous (``fastgen.ops.render`` checks them); these functions only allocate
outputs and launch. They run on CUDA tensors, and on CPU tensors under ``TRITON_INTERPRET=1``
(how CI tests them).

Tiling, shared by every kernel: one program owns ``_RAYS`` consecutive rays of the packed batch
and walks them together in chunks of ``_BLOCK`` samples, as a ``[_RAYS, _BLOCK]`` tile whose row
``g`` holds samples ``s_g + t0 .. s_g + t0 + _BLOCK - 1`` of its ray. A row is contiguous memory,
so loads and stores are coalesced. Scans run along the rows (``tl.cumsum``, ``tl.cumprod``, an
affine scan) and a per-row carry links the chunks. With ``_BLOCK = 32`` Triton lays a row
across the 32 lanes of one warp, so every in-chunk scan and carry broadcast is a warp-local
shuffle (no shared memory, no barrier; checked in the sm_90 TTGIR: no layout conversion in the
chunk loops). With 4 warps each thread holds the samples of 2 rays per chunk, twice the bytes in
flight of one ray per warp. A group runs as many chunks as its longest live ray needs and masks
the lanes of shorter rays (no memory traffic, only idle lanes). Reverse scans read their chunk
mirrored (row position ``t`` holds sample ``e - 1 - t``) and scan forward, so every scan is a
forward one.

Every kernel clamps its ray to ``s = clamp(start, 0, N)``,
``e = clamp(start + max(count, 0), s, N)`` (computed so that garbage ``start + count`` cannot
overflow) and masks every access to ``[s, e)``. Offsets are int64. Per-sample outputs start as
zeros (samples no ray covers stay 0); per-ray outputs are written for every ray.

Idioms used inline in the kernels (under the interpreter each call of a jitted helper, including
``tl.sum``/``tl.cumsum``, costs about a millisecond, so the chunk loops keep them few):
  * exclusive scan = the inclusive one shifted right by one along the row with ``tl.gather`` at
    ``prev = max(j - 1, 0)`` and column 0 set to the identity. This is exact, whereas subtracting
    the element cancels catastrophically (an exclusive sum of 0.3 before a 1e10 comes out as 0 or
    -1e3 in float32);
  * carries are kept as tiles whose columns are all equal: ``carry + gather(inc, last)`` adds the
    chunk total (the inclusive scan's last column) to every column with one warp broadcast.
"""
import contextlib

import torch
import triton
import triton.language as tl

_RAYS = 8  # rays per program
_BLOCK = 32  # samples per ray per chunk: one warp-wide row
_NUM_WARPS = 4
# FMA contraction stays on for the scans (passing it explicitly also silences Triton 3.9's
# warning about the default changing) and is off for compositing (see _composite_chunk).
_LAUNCH = dict(num_warps=_NUM_WARPS, enable_fp_fusion=True)
_LAUNCH_COMPOSITE = dict(num_warps=_NUM_WARPS, enable_fp_fusion=False)

# Depth normalisation floor of the contract: float32 epsilon, the same constant for every dtype.
_EPS = tl.constexpr(1.1920928955078125e-07)


@triton.jit
def _ray_tile(packed_ptr, n_rays, n_samples, RAYS: tl.constexpr):
    """This program's rays: ids, valid-ray mask, clamped start s and clamped count, all [RAYS]."""
    ray = tl.program_id(0).to(tl.int64) * RAYS + tl.arange(0, RAYS)
    ray_ok = ray < n_rays
    start = tl.load(packed_ptr + 2 * ray, mask=ray_ok, other=0)
    count = tl.load(packed_ptr + 2 * ray + 1, mask=ray_ok, other=0)
    s = tl.minimum(tl.maximum(start, 0), n_samples)
    # e - s: min(start, 0) + max(count, 0) cannot overflow, and for start >= 0 the clamp to N - s
    # stands in for start + count.
    cnt = tl.minimum(tl.maximum(tl.minimum(start, 0) + tl.maximum(count, 0), 0), n_samples - s)
    return ray, ray_ok, s, cnt


@triton.jit
def _affine_scan(a, h, j, RAYS: tl.constexpr, BLOCK: tl.constexpr, LOG_BLOCK: tl.constexpr):
    """Inclusive scan along the rows of the affine maps f_t(v) = a_t v + h_t, composed in order t.

    Returns (A, H) with A_t v + H_t = f_t(...f_0(v)). Hillis-Steele doubling: after the step of
    offset d each position holds the composition of its last 2d maps. Written with tl.gather
    rather than tl.associative_scan: the interpreter runs a generic associative_scan as a Python
    loop over the tile's elements (~25 ms per chunk); here it is LOG_BLOCK vectorised steps, and
    on a GPU each gather along a warp-wide row is a shuffle, the same work as the native scan.
    """
    for k in tl.static_range(LOG_BLOCK):
        src = tl.broadcast_to(tl.maximum(j - (1 << k), 0), [RAYS, BLOCK])
        has_prev = j >= (1 << k)
        a_prev = tl.where(has_prev, tl.gather(a, src, 1), 1.0)
        h_prev = tl.where(has_prev, tl.gather(h, src, 1), 0.0)
        h = h_prev * a + h  # (earlier, then this) = (a_prev * a, h_prev * a + h)
        a = a_prev * a
    return a, h


# ----------------------------------------------------------------------------------------------
# Segmented scans
# ----------------------------------------------------------------------------------------------
@triton.jit
def _segmented_scan_kernel(x_ptr, out_ptr, packed_ptr, n_rays, n_samples,
                           IS_PROD: tl.constexpr, EXCLUSIVE: tl.constexpr, REVERSE: tl.constexpr,
                           RAYS: tl.constexpr, BLOCK: tl.constexpr):
    _, _, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    j = tl.arange(0, BLOCK)[None, :]
    prev = tl.broadcast_to(tl.maximum(j - 1, 0), [RAYS, BLOCK])
    last = tl.full([RAYS, BLOCK], BLOCK - 1, tl.int32)
    if REVERSE:
        first = (s + cnt - 1)[:, None]  # mirrored: position t holds sample first - t
    else:
        first = s[:, None]
    identity = 1.0 if IS_PROD else 0.0
    carry = tl.full([RAYS, BLOCK], identity, x_ptr.dtype.element_ty)
    for c in range(tl.cdiv(tl.max(cnt), BLOCK)):
        t = c * BLOCK + j
        m = t < cnt[:, None]
        pos = first - t if REVERSE else first + t
        x = tl.load(x_ptr + pos, mask=m, other=identity)
        inc = tl.cumprod(x, 1) if IS_PROD else tl.cumsum(x, 1)
        y = tl.where(j == 0, identity, tl.gather(inc, prev, 1)) if EXCLUSIVE else inc
        if IS_PROD:
            tl.store(out_ptr + pos, carry * y, mask=m)
            carry = carry * tl.gather(inc, last, 1)
        else:
            tl.store(out_ptr + pos, carry + y, mask=m)
            carry = carry + tl.gather(inc, last, 1)


@triton.jit
def _prod_scan_backward_kernel(x_ptr, g_ptr, out_ptr, packed_ptr, n_rays, n_samples,
                               EXCLUSIVE: tl.constexpr, RAYS: tl.constexpr, BLOCK: tl.constexpr,
                               LOG_BLOCK: tl.constexpr):
    # dx_j = E_j * V_j with E_j = prod_{s<=k<j} x_k and V the suffix recurrence
    #   V_j = h_j + x_{j+1} V_{j+1},  h_j = g_j (inclusive) or g_{j+1} (exclusive, h_{e-1} = 0).
    # Pass 1 (forward) stores E into out; pass 2 walks the ray mirrored from its end, where the
    # recurrence is a forward scan over affine maps v -> a v + h, and multiplies V into out.
    # No division anywhere, so zeros in x are exact.
    _, _, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    j = tl.arange(0, BLOCK)[None, :]
    prev = tl.broadcast_to(tl.maximum(j - 1, 0), [RAYS, BLOCK])
    last = tl.full([RAYS, BLOCK], BLOCK - 1, tl.int32)
    n_chunks = tl.cdiv(tl.max(cnt), BLOCK)

    carry = tl.full([RAYS, BLOCK], 1.0, x_ptr.dtype.element_ty)
    for c in range(n_chunks):
        t = c * BLOCK + j
        m = t < cnt[:, None]
        pos = s[:, None] + t
        inc = tl.cumprod(tl.load(x_ptr + pos, mask=m, other=1.0), 1)
        tl.store(out_ptr + pos, carry * tl.where(j == 0, 1.0, tl.gather(inc, prev, 1)), mask=m)
        carry = carry * tl.gather(inc, last, 1)

    first = (s + cnt - 1)[:, None]  # mirrored: position t holds sample first - t
    carry = tl.full([RAYS, BLOCK], 0.0, x_ptr.dtype.element_ty)  # V beyond the end of the ray
    for c in range(n_chunks):
        t = c * BLOCK + j
        m = t < cnt[:, None]
        pos = first - t
        has_next = m & (t > 0)  # sample pos + 1 is inside the ray
        a = tl.load(x_ptr + pos + 1, mask=has_next, other=1.0)
        if EXCLUSIVE:
            h = tl.load(g_ptr + pos + 1, mask=has_next, other=0.0)
        else:
            h = tl.load(g_ptr + pos, mask=m, other=0.0)
        a_scan, h_scan = _affine_scan(a, h, j, RAYS, BLOCK, LOG_BLOCK)
        v = a_scan * carry + h_scan
        e = tl.load(out_ptr + pos, mask=m, other=0.0)
        tl.store(out_ptr + pos, e * v, mask=m)
        carry = tl.gather(v, last, 1)


# ----------------------------------------------------------------------------------------------
# Segment reductions: [RAYS, BLOCK, CP] tiles, a row of a chunk is BLOCK * C contiguous values
# ----------------------------------------------------------------------------------------------
@triton.jit
def _segment_sum_kernel(v_ptr, out_ptr, packed_ptr, n_rays, n_samples,
                        C: tl.constexpr, CP: tl.constexpr, RAYS: tl.constexpr, BLOCK: tl.constexpr):
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    j = tl.arange(0, BLOCK)[None, :, None]
    ch = tl.arange(0, CP)[None, None, :]
    acc = tl.full([RAYS, BLOCK, CP], 0.0, v_ptr.dtype.element_ty)
    for c in range(tl.cdiv(tl.max(cnt), BLOCK)):
        t = c * BLOCK + j
        m = (t < cnt[:, None, None]) & (ch < C)
        acc += tl.load(v_ptr + (s[:, None, None] + t) * C + ch, mask=m, other=0.0)
    ch2 = tl.arange(0, CP)[None, :]
    tl.store(out_ptr + ray[:, None] * C + ch2, tl.sum(acc, 1), mask=ray_ok[:, None] & (ch2 < C))


@triton.jit
def _segment_broadcast_kernel(g_ptr, out_ptr, packed_ptr, n_rays, n_samples,
                              C: tl.constexpr, CP: tl.constexpr, RAYS: tl.constexpr,
                              BLOCK: tl.constexpr):
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    ch = tl.arange(0, CP)[None, :]
    g = tl.load(g_ptr + ray[:, None] * C + ch, mask=ray_ok[:, None] & (ch < C), other=0.0)
    val = tl.broadcast_to(g[:, None, :], [RAYS, BLOCK, CP])
    j = tl.arange(0, BLOCK)[None, :, None]
    ch3 = ch[:, None, :]
    for c in range(tl.cdiv(tl.max(cnt), BLOCK)):
        t = c * BLOCK + j
        m = (t < cnt[:, None, None]) & (ch3 < C)
        tl.store(out_ptr + (s[:, None, None] + t) * C + ch3, val, mask=m)


@triton.jit
def _weighted_segment_sum_kernel(w_ptr, v_ptr, out_ptr, packed_ptr, n_rays, n_samples,
                                 HAS_VALUES: tl.constexpr, C: tl.constexpr, CP: tl.constexpr,
                                 RAYS: tl.constexpr, BLOCK: tl.constexpr):
    # out is allocated in the compute dtype: float32 for float16/bfloat16, float64 for float64.
    cdt: tl.constexpr = out_ptr.dtype.element_ty
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    j = tl.arange(0, BLOCK)[None, :, None]
    ch = tl.arange(0, CP)[None, None, :]
    acc = tl.full([RAYS, BLOCK, CP], 0.0, cdt)
    for c in range(tl.cdiv(tl.max(cnt), BLOCK)):
        t = c * BLOCK + j
        pos = s[:, None, None] + t
        m = t < cnt[:, None, None]
        w = tl.load(w_ptr + pos, mask=m, other=0.0).to(cdt)
        if HAS_VALUES:
            acc += w * tl.load(v_ptr + pos * C + ch, mask=m & (ch < C), other=0.0).to(cdt)
        else:
            acc += w
    ch2 = tl.arange(0, CP)[None, :]
    tl.store(out_ptr + ray[:, None] * C + ch2, tl.sum(acc, 1), mask=ray_ok[:, None] & (ch2 < C))


@triton.jit
def _weighted_segment_broadcast_kernel(g_ptr, w_ptr, v_ptr, gw_ptr, gv_ptr, packed_ptr, n_rays,
                                       n_samples, HAS_VALUES: tl.constexpr,
                                       VALUES_GRAD: tl.constexpr, C: tl.constexpr,
                                       CP: tl.constexpr, RAYS: tl.constexpr, BLOCK: tl.constexpr):
    # grad is in the compute dtype (float32 for float16/bfloat16); the per-sample gradients are
    # stored converted to the dtype of the weights.
    cdt: tl.constexpr = g_ptr.dtype.element_ty
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    ch = tl.arange(0, CP)[None, :]
    g = tl.load(g_ptr + ray[:, None] * C + ch, mask=ray_ok[:, None] & (ch < C), other=0.0)
    g3 = g[:, None, :]
    j = tl.arange(0, BLOCK)[None, :]
    ch3 = ch[:, None, :]
    for c in range(tl.cdiv(tl.max(cnt), BLOCK)):
        t = c * BLOCK + j
        pos = s[:, None] + t
        m = t < cnt[:, None]
        if HAS_VALUES:
            m3 = m[:, :, None] & (ch3 < C)
            v = tl.load(v_ptr + pos[:, :, None] * C + ch3, mask=m3, other=0.0).to(cdt)
            tl.store(gw_ptr + pos, tl.sum(g3 * v, 2), mask=m)
            if VALUES_GRAD:
                w = tl.load(w_ptr + pos, mask=m, other=0.0).to(cdt)
                tl.store(gv_ptr + pos[:, :, None] * C + ch3, w[:, :, None] * g3, mask=m3)
        else:
            tl.store(gw_ptr + pos, tl.broadcast_to(g, [RAYS, BLOCK]), mask=m)


# ----------------------------------------------------------------------------------------------
# Compositing
# ----------------------------------------------------------------------------------------------
@triton.jit
def _composite_chunk(ts_ptr, te_ptr, sg_ptr, rgb_ptr, pos, m, j, prev, last, expo, live,
                     cdt: tl.constexpr, STOP_EPS: tl.constexpr):
    """One chunk of a ray tile: the transmittance arithmetic shared by forward and backward.

    Both kernels must cut the same sample on early stop, so they share this code and the tiling
    (and are compiled without FMA contraction). ``expo`` is the exponent sum_{k<chunk} tau_k
    carried from earlier chunks, ``live`` is False once a ray is done; both are [RAYS, BLOCK]
    tiles with equal columns. Returns the chunk's per-sample values and the updated carries.
    """
    m = m & live
    t_start = tl.load(ts_ptr + pos, mask=m, other=0.0).to(cdt)
    t_end = tl.load(te_ptr + pos, mask=m, other=0.0).to(cdt)
    sigma = tl.load(sg_ptr + pos, mask=m, other=0.0).to(cdt)
    r = tl.load(rgb_ptr + 3 * pos, mask=m, other=0.0).to(cdt)
    g = tl.load(rgb_ptr + 3 * pos + 1, mask=m, other=0.0).to(cdt)
    b = tl.load(rgb_ptr + 3 * pos + 2, mask=m, other=0.0).to(cdt)
    dt = t_end - t_start
    tau = sigma * dt  # 0 on masked lanes, so scans and carries ignore them
    inc = tl.cumsum(tau, 1)
    trans = tl.exp(-(expo + tl.where(j == 0, 0.0, tl.gather(inc, prev, 1))))  # T_i
    decay = tl.exp(-tau)  # 1 - alpha_i; T_{i+1} = T_i * decay_i
    expo = expo + tl.gather(inc, last, 1)
    if STOP_EPS > 0:
        # The first sample with T_i < eps and all after it are cut. A latch, so that transmittance
        # rising again after negative densities does not revive the ray.
        cut = tl.cumsum(((trans < STOP_EPS) & m).to(tl.int32), 1)
        m = m & (cut == 0)
        # T of the next chunk's first sample is exactly exp(-expo): stop now, not a chunk later.
        live = live & (tl.gather(cut, last, 1) == 0) & (tl.exp(-expo) >= STOP_EPS)
    w = tl.where(m, trans * (1.0 - decay), 0.0)
    # A cut sample was loaded but contributes nothing: zero its values too, or a NaN/inf among
    # them would leak into the sums through w * value = 0 * inf.
    mid = tl.where(m, (t_start + t_end) * 0.5, 0.0)
    r = tl.where(m, r, 0.0)
    g = tl.where(m, g, 0.0)
    b = tl.where(m, b, 0.0)
    return m, dt, trans, decay, w, mid, r, g, b, expo, live


@triton.jit
def _composite_forward_kernel(ts_ptr, te_ptr, sg_ptr, rgb_ptr, packed_ptr, bkgd_ptr,
                              out_rgb_ptr, out_opacity_ptr, out_depth_ptr, n_rays, n_samples,
                              HAS_BKGD: tl.constexpr, STOP_EPS: tl.constexpr,
                              RAYS: tl.constexpr, BLOCK: tl.constexpr):
    cdt: tl.constexpr = out_opacity_ptr.dtype.element_ty
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)
    j = tl.arange(0, BLOCK)[None, :]
    prev = tl.broadcast_to(tl.maximum(j - 1, 0), [RAYS, BLOCK])
    last = tl.full([RAYS, BLOCK], BLOCK - 1, tl.int32)
    pos = s[:, None] + j
    rest = tl.broadcast_to(cnt[:, None], [RAYS, BLOCK])  # samples left from this chunk on
    expo = tl.full([RAYS, BLOCK], 0.0, cdt)
    # Per-lane partial sums, reduced across the row once at the end.
    acc_o = tl.full([RAYS, BLOCK], 0.0, cdt)
    acc_r = tl.full([RAYS, BLOCK], 0.0, cdt)
    acc_g = tl.full([RAYS, BLOCK], 0.0, cdt)
    acc_b = tl.full([RAYS, BLOCK], 0.0, cdt)
    acc_d = tl.full([RAYS, BLOCK], 0.0, cdt)
    live = rest > 0
    # while, not for: the group stops as soon as all its rays are done or early-stopped.
    while tl.max(live.to(tl.int32)) > 0:
        m, _, _, _, w, mid, r, g, b, expo, live = _composite_chunk(
            ts_ptr, te_ptr, sg_ptr, rgb_ptr, pos, j < rest, j, prev, last, expo, live,
            cdt, STOP_EPS)
        acc_o += w
        acc_r += w * r
        acc_g += w * g
        acc_b += w * b
        acc_d += w * mid
        pos += BLOCK
        rest -= BLOCK
        live = live & (rest > 0)

    opacity = tl.sum(acc_o, 1)
    col_r = tl.sum(acc_r, 1)
    col_g = tl.sum(acc_g, 1)
    col_b = tl.sum(acc_b, 1)
    if HAS_BKGD:
        clear = 1.0 - opacity
        col_r += tl.load(bkgd_ptr + 3 * ray, mask=ray_ok, other=0.0) * clear
        col_g += tl.load(bkgd_ptr + 3 * ray + 1, mask=ray_ok, other=0.0) * clear
        col_b += tl.load(bkgd_ptr + 3 * ray + 2, mask=ray_ok, other=0.0) * clear
    tl.store(out_rgb_ptr + 3 * ray, col_r, mask=ray_ok)
    tl.store(out_rgb_ptr + 3 * ray + 1, col_g, mask=ray_ok)
    tl.store(out_rgb_ptr + 3 * ray + 2, col_b, mask=ray_ok)
    tl.store(out_opacity_ptr + ray, opacity, mask=ray_ok)
    # where(O < EPS, EPS, O), not maximum: a NaN opacity stays NaN (torch's clamp_min in the reference)
    tl.store(out_depth_ptr + ray, tl.sum(acc_d, 1) / tl.where(opacity < _EPS, _EPS, opacity), mask=ray_ok)


@triton.jit
def _composite_backward_kernel(ts_ptr, te_ptr, sg_ptr, rgb_ptr, packed_ptr, bkgd_ptr,
                               out_rgb_ptr, out_opacity_ptr, out_depth_ptr,
                               grad_rgb_ptr, grad_opacity_ptr, grad_depth_ptr,
                               grad_sigmas_ptr, grad_rgbs_ptr, n_rays, n_samples,
                               HAS_BKGD: tl.constexpr, STOP_EPS: tl.constexpr,
                               RAYS: tl.constexpr, BLOCK: tl.constexpr):
    cdt: tl.constexpr = out_opacity_ptr.dtype.element_ty
    gdt: tl.constexpr = grad_sigmas_ptr.dtype.element_ty
    ray, ray_ok, s, cnt = _ray_tile(packed_ptr, n_rays, n_samples, RAYS)

    # Per-ray terms from the saved outputs (the contract has the derivation).
    opacity = tl.load(out_opacity_ptr + ray, mask=ray_ok, other=0.0)
    o_clamped = tl.where(opacity < _EPS, _EPS, opacity)  # NaN stays NaN, as in the forward
    d_raw = tl.load(out_depth_ptr + ray, mask=ray_ok, other=0.0) * o_clamped
    c_r = tl.load(out_rgb_ptr + 3 * ray, mask=ray_ok, other=0.0)
    c_g = tl.load(out_rgb_ptr + 3 * ray + 1, mask=ray_ok, other=0.0)
    c_b = tl.load(out_rgb_ptr + 3 * ray + 2, mask=ray_ok, other=0.0)
    gc_r = tl.load(grad_rgb_ptr + 3 * ray, mask=ray_ok, other=0.0)
    gc_g = tl.load(grad_rgb_ptr + 3 * ray + 1, mask=ray_ok, other=0.0)
    gc_b = tl.load(grad_rgb_ptr + 3 * ray + 2, mask=ray_ok, other=0.0)
    g_depth = tl.load(grad_depth_ptr + ray, mask=ray_ok, other=0.0)
    g_draw = g_depth / o_clamped
    g_o = tl.load(grad_opacity_ptr + ray, mask=ray_ok, other=0.0)
    if HAS_BKGD:
        clear = 1.0 - opacity
        bk_r = tl.load(bkgd_ptr + 3 * ray, mask=ray_ok, other=0.0)
        bk_g = tl.load(bkgd_ptr + 3 * ray + 1, mask=ray_ok, other=0.0)
        bk_b = tl.load(bkgd_ptr + 3 * ray + 2, mask=ray_ok, other=0.0)
        c_r -= bk_r * clear
        c_g -= bk_g * clear
        c_b -= bk_b * clear
        g_o -= gc_r * bk_r + gc_g * bk_g + gc_b * bk_b
    # d depth / dO = -Draw / O^2 where O > EPS (there o_clamped == O; the clamp avoids 0 / 0).
    g_o -= tl.where(opacity > _EPS, g_depth * d_raw / (o_clamped * o_clamped), 0.0)
    total = gc_r * c_r + gc_g * c_g + gc_b * c_b + g_o * opacity + g_draw * d_raw  # S = sum q w
    gc_r = gc_r[:, None]
    gc_g = gc_g[:, None]
    gc_b = gc_b[:, None]
    g_o = g_o[:, None]
    g_draw = g_draw[:, None]
    total = total[:, None]

    j = tl.arange(0, BLOCK)[None, :]
    prev = tl.broadcast_to(tl.maximum(j - 1, 0), [RAYS, BLOCK])
    last = tl.full([RAYS, BLOCK], BLOCK - 1, tl.int32)
    pos = s[:, None] + j
    rest = tl.broadcast_to(cnt[:, None], [RAYS, BLOCK])  # samples left from this chunk on
    expo = tl.full([RAYS, BLOCK], 0.0, cdt)
    running = tl.full([RAYS, BLOCK], 0.0, cdt)  # P carried: sum of q_k w_k over earlier chunks
    live = rest > 0
    while tl.max(live.to(tl.int32)) > 0:
        m, dt, trans, decay, w, mid, r, g, b, expo, live = _composite_chunk(
            ts_ptr, te_ptr, sg_ptr, rgb_ptr, pos, j < rest, j, prev, last, expo, live,
            cdt, STOP_EPS)
        q = gc_r * r + gc_g * g + gc_b * b + g_o + g_draw * mid  # dL/dw_i
        inc = running + tl.cumsum(q * w, 1)  # P_i
        d_tau = q * (trans * decay) - (total - inc)
        running = tl.gather(inc, last, 1)
        tl.store(grad_sigmas_ptr + pos, (d_tau * dt).to(gdt), mask=m)
        tl.store(grad_rgbs_ptr + 3 * pos, (w * gc_r).to(gdt), mask=m)
        tl.store(grad_rgbs_ptr + 3 * pos + 1, (w * gc_g).to(gdt), mask=m)
        tl.store(grad_rgbs_ptr + 3 * pos + 2, (w * gc_b).to(gdt), mask=m)
        pos += BLOCK
        rest -= BLOCK
        live = live & (rest > 0)


# ----------------------------------------------------------------------------------------------
# Host wrappers (the contract's functions)
# ----------------------------------------------------------------------------------------------
def _on_device(t):
    # Triton launches on the current CUDA device; make it the tensors' one.
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _grid(n_rays):
    return (triton.cdiv(n_rays, _RAYS),)


def _channel_tiling(c):
    """(padded channel count, samples per chunk) for [_RAYS, block, cp] tiles of ~1024 elements."""
    cp = triton.next_power_of_2(c)
    return cp, max(4, min(4 * _BLOCK, 1024 // (_RAYS * cp)))


def segmented_scan(x, packed_info, op, exclusive, reverse):
    if op not in ("sum", "prod"):
        raise ValueError(f"segmented_scan: op must be 'sum' or 'prod', got {op!r}")
    out = torch.zeros_like(x)
    n_rays, n = packed_info.shape[0], x.numel()
    if n_rays == 0 or n == 0:
        return out
    with _on_device(x):
        _segmented_scan_kernel[_grid(n_rays)](
            x, out, packed_info, n_rays, n, IS_PROD=op == "prod", EXCLUSIVE=bool(exclusive),
            REVERSE=bool(reverse), RAYS=_RAYS, BLOCK=_BLOCK, **_LAUNCH)
    return out


def prod_scan_backward(x, grad_out, packed_info, exclusive):
    out = torch.zeros_like(x)
    n_rays, n = packed_info.shape[0], x.numel()
    if n_rays == 0 or n == 0:
        return out
    with _on_device(x):
        _prod_scan_backward_kernel[_grid(n_rays)](
            x, grad_out, out, packed_info, n_rays, n, EXCLUSIVE=bool(exclusive),
            RAYS=_RAYS, BLOCK=_BLOCK, LOG_BLOCK=_BLOCK.bit_length() - 1, **_LAUNCH)
    return out


def segment_sum(values, packed_info, n_rays):
    n, c = values.shape
    if n_rays == 0 or n == 0:
        return values.new_zeros((n_rays, c))
    out = values.new_empty((n_rays, c))  # every ray's row is written
    cp, block = _channel_tiling(c)
    with _on_device(values):
        _segment_sum_kernel[_grid(n_rays)](
            values, out, packed_info, n_rays, n, C=c, CP=cp, RAYS=_RAYS, BLOCK=block,
            **_LAUNCH)
    return out


def segment_broadcast(grad, packed_info, n_samples):
    n_rays, c = grad.shape
    out = grad.new_zeros((n_samples, c))
    if n_rays == 0 or n_samples == 0:
        return out
    cp, block = _channel_tiling(c)
    with _on_device(grad):
        _segment_broadcast_kernel[_grid(n_rays)](
            grad, out, packed_info, n_rays, n_samples, C=c, CP=cp, RAYS=_RAYS, BLOCK=block,
            **_LAUNCH)
    return out


def _compute_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def weighted_segment_sum(weights, values, packed_info, n_rays):
    n = weights.shape[0]
    c = 1 if values is None else values.shape[1]
    if n_rays == 0 or n == 0:
        return weights.new_zeros((n_rays, c))
    out = weights.new_empty((n_rays, c), dtype=_compute_dtype(weights.dtype))  # every row written
    cp, block = _channel_tiling(c)
    with _on_device(weights):
        _weighted_segment_sum_kernel[_grid(n_rays)](
            weights, weights if values is None else values, out, packed_info, n_rays, n,
            HAS_VALUES=values is not None, C=c, CP=cp, RAYS=_RAYS, BLOCK=block, **_LAUNCH)
    return out.to(weights.dtype)


def weighted_segment_broadcast(grad, weights, values, packed_info, values_grad):
    want_v = values is not None and values_grad
    grad_w = torch.zeros_like(weights)  # samples no ray covers keep 0
    grad_v = torch.zeros_like(values) if want_v else weights.new_empty(0)
    (n_rays, c), n = grad.shape, weights.shape[0]
    if n_rays == 0 or n == 0:
        return grad_w, grad_v
    cp, block = _channel_tiling(c)
    with _on_device(weights):
        _weighted_segment_broadcast_kernel[_grid(n_rays)](
            grad.to(_compute_dtype(weights.dtype)), weights, weights if values is None else values,
            grad_w, grad_v if want_v else grad_w, packed_info, n_rays, n,
            HAS_VALUES=values is not None, VALUES_GRAD=want_v, C=c, CP=cp, RAYS=_RAYS, BLOCK=block,
            **_LAUNCH)
    return grad_w, grad_v


def _stop_eps(early_stop_eps):
    # A compile-time constant: 0 compiles the early stop out, and the comparison happens in the
    # compute dtype (a runtime float argument would be float32 even for float64 inputs). The
    # price is one compilation per distinct eps value.
    return float(early_stop_eps) if early_stop_eps > 0 else 0.0


def composite_forward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps):
    n_rays, n = packed_info.shape[0], sigmas.numel()
    cdt = torch.float64 if sigmas.dtype == torch.float64 else torch.float32
    if n_rays == 0 or n == 0:
        # No samples: O = 0, so rgb = bkgd (or 0) and depth = 0.
        rgb = bkgd.clone() if bkgd is not None else sigmas.new_zeros((n_rays, 3), dtype=cdt)
        return rgb, sigmas.new_zeros((n_rays,), dtype=cdt), sigmas.new_zeros((n_rays,), dtype=cdt)
    # Per-ray outputs are written for every ray: no need to zero them.
    rgb = sigmas.new_empty((n_rays, 3), dtype=cdt)
    opacity = sigmas.new_empty((n_rays,), dtype=cdt)
    depth = sigmas.new_empty((n_rays,), dtype=cdt)
    with _on_device(sigmas):
        _composite_forward_kernel[_grid(n_rays)](
            t_starts, t_ends, sigmas, rgbs, packed_info, bkgd if bkgd is not None else rgb,
            rgb, opacity, depth, n_rays, n, HAS_BKGD=bkgd is not None,
            STOP_EPS=_stop_eps(early_stop_eps), RAYS=_RAYS, BLOCK=_BLOCK, **_LAUNCH_COMPOSITE)
    return rgb, opacity, depth


def composite_backward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps,
                       rgb, opacity, depth, grad_rgb, grad_opacity, grad_depth):
    grad_sigmas = torch.zeros_like(sigmas)
    grad_rgbs = torch.zeros_like(rgbs)
    n_rays, n = packed_info.shape[0], sigmas.numel()
    if n_rays == 0 or n == 0:
        return grad_sigmas, grad_rgbs
    with _on_device(sigmas):
        _composite_backward_kernel[_grid(n_rays)](
            t_starts, t_ends, sigmas, rgbs, packed_info, bkgd if bkgd is not None else rgb,
            rgb, opacity, depth, grad_rgb, grad_opacity, grad_depth, grad_sigmas, grad_rgbs,
            n_rays, n, HAS_BKGD=bkgd is not None, STOP_EPS=_stop_eps(early_stop_eps),
            RAYS=_RAYS, BLOCK=_BLOCK, **_LAUNCH_COMPOSITE)
    return grad_sigmas, grad_rgbs

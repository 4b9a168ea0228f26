"""Triton kernels of the march family (backend "triton").

The same primitives, signatures and return values as ``native.py`` (``ray_aabb_intersect``,
``traverse_count``, ``traverse_fill``, ``traverse_batched``, ``occ_update_``). Inputs arrive
validated and contiguous; these functions allocate outputs and launch. They run on CUDA tensors,
and on CPU tensors under ``TRITON_INTERPRET=1`` (how CI tests them).

The kernels follow csrc/march/march.h operation by operation, in the rays' dtype (float32 or
float64), so they produce the reference's samples exactly:

* every product and sum is a separate operation in the header's order, and the kernels are
  compiled with ``enable_fp_fusion=False`` (the header's ``mul_rn``: no FMA contraction);
* ``fg_min(a, b) = b < a ? b : a`` and ``fg_max`` are written as ``tl.where`` with the header's
  comparison, not ``tl.minimum``/``tl.maximum`` (whose NaN and signed-zero rules differ);
* float32 divisions go through ``div_rn`` (Triton's float32 ``/`` is the GPU's approximate
  division); the sm_90 PTX has only ``add.rn``/``mul.rn``/``div.rn``, no ``fma``. The one ``ftz``
  instruction, float32 floor, differs only on denormals, whose floor is clamped to the same cell
  or lattice index either way;
* the constants the header casts to ``T`` (step, cone angle, max step, the margin, the lattice
  jump bound, near/far/miss) are rounded to the rays' dtype by torch, as ``static_cast<T>``
  rounds them, and passed as their bit patterns (a Python float argument is always float32; a
  device tensor would cost a host-to-device copy, which CUDA graph capture forbids).

Traversal: one program marches ``_BLOCK`` rays, one ray per lane, each with its own state
(``t, dt, k, n, safe, occupied``) in one ``while`` loop that runs while any lane is active. An
iteration handles one candidate per lane: a lane whose midpoint left its cell region looks the
cell up (the level search, the cell index, the occupancy byte and the conservative exit
``safe``; skipped by the whole program when no lane needs it), then the lane emits the candidate
or skips: on the lattice (``cone_angle == 0``) straight to the first candidate that may lie past
``safe``, with cone steps to the next candidate (march.h's inner stepping loop, flattened: one
empty candidate per iteration, the same sequence of ``t`` and ``dt``). Finished lanes idle.
Per-ray writes: counts; packed samples at ``start + n`` inside the reserved segment; batched
samples at ``r * K + n``, then the padding (the last end, or 0 for an empty ray) in
``[_BLOCK, _PAD]`` tiles. Offsets are int64.

``occ_update_``: a scatter max with ``tl.atomic_max`` (float32; order independent, hence
deterministic) into a ``-inf``-filled buffer, then the EMA pass over the cells, in place.
"""
import torch
import triton
import triton.language as tl

from fastgen.ops.march._passes import passes

_BLOCK = 64  # rays (or (ray, box) pairs, samples, cells) per program
_PAD = 32  # batched padding columns per tile
_NUM_WARPS = 2
_LAUNCH = dict(num_warps=_NUM_WARPS, enable_fp_fusion=False)

_MARGIN = 1e-5  # march.h kMargin
_JUMP_BOUND = 9.0e18  # march.h: a lattice jump beyond this is not converted to int64


def _bits(x: float, dtype: torch.dtype) -> int:
    """The bit pattern of ``x`` rounded to ``dtype`` (as ``static_cast<T>`` rounds it) as an int.
    Triton passes a Python float as float32, so the kernels' float constants travel as bits."""
    t = torch.tensor(x, dtype=torch.float64).to(dtype)
    return int(t.view(torch.int64 if dtype == torch.float64 else torch.int32).item())


@triton.jit
def _load_ray(o_ptr, d_ptr, r, ok):
    """Origin and direction of rays r (masked lanes: origin 0, direction (1, 1, 1))."""
    ox = tl.load(o_ptr + 3 * r, mask=ok, other=0.0)
    oy = tl.load(o_ptr + 3 * r + 1, mask=ok, other=0.0)
    oz = tl.load(o_ptr + 3 * r + 2, mask=ok, other=0.0)
    dx = tl.load(d_ptr + 3 * r, mask=ok, other=1.0)
    dy = tl.load(d_ptr + 3 * r + 1, mask=ok, other=1.0)
    dz = tl.load(d_ptr + 3 * r + 2, mask=ok, other=1.0)
    return ox, oy, oz, dx, dy, dz


@triton.jit
def _from_bits(bits, dtype: tl.constexpr):
    """The float of ``dtype`` whose bit pattern is the integer argument ``bits`` (see _bits)."""
    if dtype == tl.float64:
        return tl.cast(bits, tl.int64).to(tl.float64, bitcast=True)
    else:
        return tl.cast(bits, tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def _min(a, b):
    """march.h fg_min: b < a ? b : a."""
    return tl.where(b < a, b, a)


@triton.jit
def _max(a, b):
    """march.h fg_max: b > a ? b : a."""
    return tl.where(b > a, b, a)


@triton.jit
def _div(a, b):
    """a / b correctly rounded, as in C++: Triton compiles a float32 ``/`` to the GPU's approximate
    division (div.full.f32, up to 2 ulp off), so float32 goes through div_rn (float64 is exact)."""
    if a.dtype == tl.float32:
        return tl.math.div_rn(a, b)
    else:
        return a / b


# In the marching loop fg_min / fg_max are written inline: under the interpreter every call of a
# jitted helper costs a fraction of a millisecond, and the loop runs once per sample or cell.
@triton.jit
def _slab_axis(t0, t1, o, d, lo, hi):
    """One axis of march.h slab(): an axis with d = 0 keeps [t0, t1] when lo <= o <= hi and
    empties it (+inf, -inf) otherwise; emptiness then persists through fg_max / fg_min."""
    zero = d == 0
    out = zero & ((o < lo) | (o > hi))
    dd = tl.where(zero, 1.0, d)
    ta = _div(lo - o, dd)
    tb = _div(hi - o, dd)
    lo_t = tl.where(tb < ta, tb, ta)
    hi_t = tl.where(tb > ta, tb, ta)
    n0 = tl.where(lo_t > t0, lo_t, t0)
    n1 = tl.where(hi_t < t1, hi_t, t1)
    t0 = tl.where(zero, tl.where(out, float("inf"), t0), n0)
    t1 = tl.where(zero, tl.where(out, float("-inf"), t1), n1)
    return t0, t1


@triton.jit
def _slab(ox, oy, oz, dx, dy, dz, b0, b1, b2, b3, b4, b5, grow, ref):
    """march.h slab() of the box (b0..b5) grown by ``grow``: (t0, t1) shaped like ``ref``."""
    t0 = tl.full(ref.shape, float("-inf"), ref.dtype)
    t1 = tl.full(ref.shape, float("inf"), ref.dtype)
    t0, t1 = _slab_axis(t0, t1, ox, dx, b0 - grow, b3 + grow)
    t0, t1 = _slab_axis(t0, t1, oy, dy, b1 - grow, b4 + grow)
    t0, t1 = _slab_axis(t0, t1, oz, dz, b2 - grow, b5 + grow)
    return t0, t1


# ---------------------------------------------------------------------------- ray_aabb_intersect
@triton.jit
def _ray_aabb_kernel(o_ptr, d_ptr, box_ptr, near_bits, far_bits, miss_bits, tmin_ptr, tmax_ptr, hit_ptr, n_aabbs, n_pairs,
                     BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n_pairs
    r = i // n_aabbs
    m = i - r * n_aabbs
    ox, oy, oz, dx, dy, dz = _load_ray(o_ptr, d_ptr, r, ok)
    b = box_ptr + 6 * m
    t0, t1 = _slab(ox, oy, oz, dx, dy, dz, tl.load(b, mask=ok, other=0.0), tl.load(b + 1, mask=ok, other=0.0),
                   tl.load(b + 2, mask=ok, other=0.0), tl.load(b + 3, mask=ok, other=1.0),
                   tl.load(b + 4, mask=ok, other=1.0), tl.load(b + 5, mask=ok, other=1.0), 0.0, ox)
    hit = (t1 > t0) & (t1 > 0)
    near = _from_bits(near_bits, ox.dtype)
    far = _from_bits(far_bits, ox.dtype)
    miss = _from_bits(miss_bits, ox.dtype)
    tl.store(tmin_ptr + i, tl.where(hit, _min(_max(t0, near), far), miss), mask=ok)
    tl.store(tmax_ptr + i, tl.where(hit, _min(_max(t1, near), far), miss), mask=ok)
    tl.store(hit_ptr + i, hit.to(tl.uint8), mask=ok)


def ray_aabb_intersect(rays_o, rays_d, aabbs, near_plane, far_plane, miss_value):
    n_rays, n_aabbs = rays_o.shape[0], aabbs.shape[0]
    t_mins = rays_o.new_empty((n_rays, n_aabbs))
    t_maxs = rays_o.new_empty((n_rays, n_aabbs))
    hits = torch.empty((n_rays, n_aabbs), dtype=torch.bool, device=rays_o.device)
    n_pairs = n_rays * n_aabbs
    if n_pairs:
        dtype = rays_o.dtype
        _ray_aabb_kernel[(triton.cdiv(n_pairs, _BLOCK),)](
            rays_o, rays_d, aabbs, _bits(near_plane, dtype), _bits(far_plane, dtype), _bits(miss_value, dtype), t_mins, t_maxs, hits.view(torch.uint8), n_aabbs, n_pairs,
            BLOCK=_BLOCK, **_LAUNCH)
    return t_mins, t_maxs, hits


# ---------------------------------------------------------------------------- traverse
@triton.jit
def _step_at(t, step, cone, max_step, LATTICE: tl.constexpr):
    """march.h step_at: step, or clamp(t * cone, step, max_step) for cone stepping."""
    if LATTICE:
        return tl.full(t.shape, 0.0, t.dtype) + step
    else:
        tc = t * cone
        tc = tl.where(step > tc, step, tc)
        return tl.where(max_step < tc, max_step, tc)


@triton.jit
def _lookup(box_ptr, bin_ptr, ox, oy, oz, dx, dy, dz, t, margin, n_levels, res_x, res_y, res_z, need):
    """march.h lookup() at parameter t for the lanes in ``need``: (occupied, safe)."""
    px = ox + t * dx
    py = oy + t * dy
    pz = oz + t * dz
    scale = tl.abs(ox) + tl.abs(oy) + tl.abs(oz)
    safe = tl.full(t.shape, float("inf"), t.dtype)
    level = tl.full(t.shape, -1, tl.int64)
    for l in range(n_levels):
        b = box_ptr + 6 * l
        b0 = tl.load(b)
        b1 = tl.load(b + 1)
        b2 = tl.load(b + 2)
        b3 = tl.load(b + 3)
        b4 = tl.load(b + 4)
        b5 = tl.load(b + 5)
        inside = (b0 <= px) & (px <= b3) & (b1 <= py) & (py <= b4) & (b2 <= pz) & (pz <= b5)
        level = tl.where((level < 0) & inside, l, level)
        # A grid that takes precedence (one before the point's grid, or every one when the point
        # is in no box) may be entered later: stop at its entry, on the box grown by the margin.
        ahead = need & (level < 0)
        if tl.max(ahead.to(tl.int32), 0) > 0:
            grow = margin * (scale + tl.abs(b0) + tl.abs(b3) + tl.abs(b1) + tl.abs(b4) + tl.abs(b2) + tl.abs(b5))
            t0, t1 = _slab(ox, oy, oz, dx, dy, dz, b0, b1, b2, b3, b4, b5, grow, t)
            safe = tl.where(ahead & (t1 >= t0) & (t1 > t) & (t0 < safe), t0, safe)
    found = need & (level >= 0)
    # The cell of the chosen level (lanes without one read a harmless unit box and are masked).
    b = box_ptr + 6 * tl.where(found, level, 0)
    ix, safe = _cell_axis(b, px, ox, dx, res_x, scale, margin, safe, found)
    iy, safe = _cell_axis(b + 1, py, oy, dy, res_y, scale, margin, safe, found)
    iz, safe = _cell_axis(b + 2, pz, oz, dz, res_z, scale, margin, safe, found)
    cell = ((level * res_x + ix) * res_y + iy) * res_z + iz
    occupied = tl.load(bin_ptr + cell, mask=found, other=0) != 0
    return occupied, safe


@triton.jit
def _cell_axis(b, p, o, d, res, scale, margin, safe, found):
    """One axis of the cell search: the clamped cell index and safe reduced to the exit face
    (moved inwards by the margin), as in march.h lookup()."""
    lo = tl.load(b, mask=found, other=0.0)
    hi = tl.load(b + 3, mask=found, other=1.0)
    ext = hi - lo
    res_f = res.to(p.dtype)
    u = _div(tl.where(found, p, lo) - lo, ext) * res_f
    i = tl.floor(u).to(tl.int64)
    i = tl.where(i < 0, 0, tl.where(i >= res, res - 1, i))
    delta = margin * (scale + tl.abs(lo) + tl.abs(hi))
    up = lo + ext * _div((i + 1).to(p.dtype), res_f) - delta
    down = lo + ext * _div(i.to(p.dtype), res_f) + delta
    face = tl.where(d > 0, up, down)
    moving = found & (d != 0)
    t_face = _div(face - o, tl.where(moving, d, 1.0))
    safe = tl.where(moving & (t_face < safe), t_face, safe)
    return i, safe


@triton.jit
def _traverse_kernel(o_ptr, d_ptr, bin_ptr, box_ptr, near_ptr, far_ptr, jit_ptr, counts_ptr, info_ptr, t0_ptr, t1_ptr,
                     ids_ptr, n_rays, n_levels, res_x, res_y, res_z, n_out, step_bits, cone_bits, max_step_bits,
                     margin_bits, jump_bound_bits, LATTICE: tl.constexpr, HAS_JITTER: tl.constexpr, MODE: tl.constexpr,
                     BLOCK: tl.constexpr, PAD: tl.constexpr):
    r = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ray_ok = r < n_rays
    ox, oy, oz, dx, dy, dz = _load_ray(o_ptr, d_ptr, r, ray_ok)
    step = _from_bits(step_bits, ox.dtype)
    cone = _from_bits(cone_bits, ox.dtype)
    max_step = _from_bits(max_step_bits, ox.dtype)
    margin = _from_bits(margin_bits, ox.dtype)
    jump_bound = _from_bits(jump_bound_bits, ox.dtype)

    # [t_lo, t_hi]: the span of the crossed boxes inside [near, far].
    t_lo = tl.full(ox.shape, float("inf"), ox.dtype)
    t_hi = tl.full(ox.shape, float("-inf"), ox.dtype)
    for l in range(n_levels):
        b = box_ptr + 6 * l
        t0, t1 = _slab(ox, oy, oz, dx, dy, dz, tl.load(b), tl.load(b + 1), tl.load(b + 2), tl.load(b + 3),
                       tl.load(b + 4), tl.load(b + 5), 0.0, ox)
        crossed = t1 > t0
        t_lo = tl.where(crossed, _min(t_lo, t0), t_lo)
        t_hi = tl.where(crossed, _max(t_hi, t1), t_hi)
    t_lo = _max(t_lo, tl.load(near_ptr + r, mask=ray_ok, other=0.0))
    t_hi = _min(t_hi, tl.load(far_ptr + r, mask=ray_ok, other=0.0))
    active = ray_ok & (t_lo < t_hi)
    t_lo = tl.where(active, t_lo, 0.0)  # idle lanes compute on finite values
    if HAS_JITTER:
        jit = tl.load(jit_ptr + r, mask=active, other=0.0)
        t_first = t_lo + jit * _step_at(t_lo, step, cone, max_step, LATTICE)
    else:
        t_first = t_lo

    if MODE == 1:  # packed: the segment reserved by the count pass, clamped as segment_bounds does
        start = tl.load(info_ptr + 2 * r, mask=ray_ok, other=0)
        count = tl.load(info_ptr + 2 * r + 1, mask=ray_ok, other=0)
        seg_s = tl.minimum(tl.maximum(start, 0), n_out)
        seg_e = seg_s + tl.minimum(tl.maximum(tl.minimum(start, 0) + tl.maximum(count, 0), 0), n_out - seg_s)
    if MODE == 2:
        row = r * n_out

    t = t_first
    dt = _step_at(t_first, step, cone, max_step, LATTICE)
    k = tl.zeros(ox.shape, tl.int64)
    n = tl.zeros(ox.shape, tl.int64)
    last = tl.zeros(ox.shape, ox.dtype)  # the end of the last emitted interval
    safe = tl.full(ox.shape, float("-inf"), ox.dtype)  # the cell region holds midpoints < safe
    occupied = tl.zeros(ox.shape, tl.int1)
    go = tl.max(active.to(tl.int32), 0) > 0
    while go:
        t_end = t + dt
        active = active & (t_end <= t_hi) & (t_end > t)  # past the end, or a step lost to rounding
        mid = t + dt * 0.5
        need = active & (~(mid < safe))
        if tl.max(need.to(tl.int32), 0) > 0:
            occ_new, safe_new = _lookup(box_ptr, bin_ptr, ox, oy, oz, dx, dy, dz, tl.where(need, mid, 0.0), margin,
                                        n_levels, res_x, res_y, res_z, need)
            occupied = tl.where(need, occ_new, occupied)
            safe = tl.where(need, safe_new, safe)
        emit = active & occupied
        if MODE == 1:
            fits = emit & (seg_s + n < seg_e)
            tl.store(t0_ptr + seg_s + n, t, mask=fits)
            tl.store(t1_ptr + seg_s + n, t_end, mask=fits)
            tl.store(ids_ptr + seg_s + n, r, mask=fits)
            active = active & ~(emit & ~fits)  # never past the segment the count pass reserved
        if MODE == 2:
            tl.store(t0_ptr + row + n, t, mask=emit)
            tl.store(t1_ptr + row + n, t_end, mask=emit)
            last = tl.where(emit, t_end, last)
            active = active & ~(emit & (n + 1 >= n_out))  # the K-th interval is the last
        n = tl.where(emit, n + 1, n)
        k = tl.where(emit, k + 1, k)
        skip = active & ~occupied
        active = active & ~(skip & ~(safe < t_hi))  # an empty region reaching past t_hi: done
        skip = skip & active
        if LATTICE:
            # Skip to the first lattice point whose midpoint may lie at or past safe (one early at
            # worst), never backwards; q is converted only where march.h converts it.
            q = _div(safe - t_first, step) - 0.5
            small = q < jump_bound
            q_int = tl.floor(tl.where(small & (q > -1.0), q, -1.0)).to(tl.int64)
            jump = tl.where(small, q_int, k + 1)
            k = tl.where(skip, tl.where(jump > k + 1, jump, k + 1), k)
            t = t_first + k.to(ox.dtype) * step
        else:
            # Cone steps: the next candidate (an empty one is stepped over without a lookup).
            t = tl.where(active, t_end, t)
            dt = _step_at(t, step, cone, max_step, LATTICE)
        go = tl.max(active.to(tl.int32), 0) > 0

    if MODE == 0:
        tl.store(counts_ptr + r, n, mask=ray_ok)
    if MODE == 2:
        n = tl.minimum(n, n_out)
        tl.store(counts_ptr + r, n, mask=ray_ok)
        # Padding: empty intervals at the last end (0 for an empty ray), from the first column
        # any lane of the block pads.
        col = tl.arange(0, PAD)
        first = tl.min(tl.where(ray_ok, n, n_out), 0) // PAD * PAD
        for j in range(first, n_out, PAD):
            c = j + col
            pad = ray_ok[:, None] & (c[None, :] >= n[:, None]) & (c[None, :] < n_out)
            value = tl.broadcast_to(last[:, None], [BLOCK, PAD])
            tl.store(t0_ptr + row[:, None] + c[None, :], value, mask=pad)
            tl.store(t1_ptr + row[:, None] + c[None, :], value, mask=pad)


def _traverse(rays_o, rays_d, binaries, aabbs, near_planes, far_planes, jitter, step, cone, max_step, mode,
              counts=None, packed_info=None, t_starts=None, t_ends=None, ray_indices=None, n_out=0):
    n_rays = rays_o.shape[0]
    L, rx, ry, rz = binaries.shape
    dtype = rays_o.dtype
    index = torch.empty(2, dtype=torch.long, device=rays_o.device)
    # Unused pointers get a tensor of the right type (never accessed in that mode).
    _traverse_kernel[(triton.cdiv(n_rays, _BLOCK),)](
        rays_o, rays_d, binaries.view(torch.uint8), aabbs, near_planes, far_planes,
        jitter if jitter is not None else near_planes, counts if counts is not None else index,
        packed_info if packed_info is not None else index, t_starts if t_starts is not None else rays_o,
        t_ends if t_ends is not None else rays_o, ray_indices if ray_indices is not None else index,
        n_rays, L, rx, ry, rz, n_out, _bits(step, dtype), _bits(cone, dtype), _bits(max_step, dtype),
        _bits(_MARGIN, dtype), _bits(_JUMP_BOUND, dtype), LATTICE=cone == 0.0, HAS_JITTER=jitter is not None, MODE=mode,
        BLOCK=_BLOCK, PAD=_PAD, **_LAUNCH)


traverse_count, traverse_fill, traverse_batched = passes(_traverse)


# ---------------------------------------------------------------------------- occupancy update
@triton.jit
def _occ_scatter_max_kernel(best_ptr, ids_ptr, val_ptr, n_cells, n_samples, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n_samples
    c = tl.load(ids_ptr + i, mask=ok, other=0)
    v = tl.load(val_ptr + i, mask=ok, other=0.0)
    ok = ok & (c >= 0) & (c < n_cells)
    tl.atomic_max(best_ptr + tl.where(ok, c, 0), v, mask=ok)


@triton.jit
def _occ_ema_kernel(occ_ptr, best_ptr, n_cells, decay, BLOCK: tl.constexpr):
    c = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = c < n_cells
    b = tl.load(best_ptr + c, mask=ok, other=float("-inf"))
    o = tl.load(occ_ptr + c, mask=ok, other=-1.0)
    upd = ok & (b > float("-inf")) & (o >= 0.0)
    tl.store(occ_ptr + c, _max(o * decay, b), mask=upd)


def occ_update_(occs, cell_ids, values, decay):
    """In place on occs (see reference.occ_update); occs and values float32."""
    n_cells, n_samples = occs.shape[0], cell_ids.shape[0]
    if n_samples and n_cells:
        best = torch.full_like(occs, float("-inf"))
        _occ_scatter_max_kernel[(triton.cdiv(n_samples, _BLOCK),)](
            best, cell_ids, values, n_cells, n_samples, BLOCK=_BLOCK, **_LAUNCH)
        _occ_ema_kernel[(triton.cdiv(n_cells, _BLOCK),)](occs, best, n_cells, float(decay), BLOCK=_BLOCK, **_LAUNCH)

"""Triton kernels of the hashgrid family (backend "triton").

The primitives of :mod:`fastgen.ops.hashgrid._library`: ``forward`` and ``backward``, with the
convention of ``csrc/hashgrid/hashgrid.h`` (cell, frac, dense rows, uint32 spatial hash). Inputs
arrive validated and contiguous; these functions allocate outputs and launch. They run on CUDA
tensors, and on CPU tensors under ``TRITON_INTERPRET=1`` (how CI tests them).

Tiling: the forward and the table gradient run a 2D grid (point blocks, levels), one program
per ``_BLOCK`` points of one level, as tiny-cuda-nn does; programs are scheduled with the point
axis fastest, so the programs resident at a time gather from one level's slice of the table,
which stays in L2. Tiles are ``[_BLOCK, F]``: a corner's F features are one contiguous row. The
table gradient scatters with ``tl.atomic_add`` into a float32 (float64) buffer: the order of the
additions varies on a GPU, so it is reproducible only up to rounding. The input gradient runs
one program per point block and loops over the levels in order (deterministic); it multiplies
the output gradient in elementwise and reduces over features once at the end (under the
interpreter every ``tl.sum`` costs about a millisecond).
"""
import contextlib

import torch
import triton
import triton.language as tl

_BLOCK = 128
_LAUNCH = dict(num_warps=4, enable_fp_fusion=True)  # explicit: silences Triton 3.9's default warning
_PRIME1 = tl.constexpr(2654435761)
_PRIME2 = tl.constexpr(805459861)


@triton.jit
def _locate(x_ptr, n, n_ok, res, d: tl.constexpr, D: tl.constexpr):
    """(cell, frac) along dimension d of points n at a level of resolution res (int64 scalar)."""
    v = tl.load(x_ptr + n * D + d, mask=n_ok, other=0.0)
    xc = tl.where(v >= 0.0, tl.where(v <= 1.0, v, 1.0), 0.0)  # clamp, NaN -> 0
    pos = xc * res.to(v.dtype)
    cell = tl.minimum(tl.floor(pos).to(tl.int64), res - 1)
    return cell, pos - cell.to(v.dtype), (v >= 0.0) & (v <= 1.0)


@triton.jit
def _locate_point(x_ptr, n, n_ok, res, D: tl.constexpr):
    """_locate along every dimension: (cell, frac, inside) for d = 0, 1, 2 (d = 2 repeats d = 0,
    unused, when D == 2)."""
    c0, f0, in0 = _locate(x_ptr, n, n_ok, res, 0, D)
    c1, f1, in1 = _locate(x_ptr, n, n_ok, res, 1, D)
    if D == 3:
        c2, f2, in2 = _locate(x_ptr, n, n_ok, res, 2, D)
    else:
        c2, f2, in2 = c0, f0, in0
    return c0, f0, in0, c1, f1, in1, c2, f2, in2


@triton.jit
def _row(c0, c1, c2, stride, mask, D: tl.constexpr):
    """Row of corner (c0, c1, c2) in a level's slice: dense when stride > 0, else hashed."""
    dense = c0 + c1 * stride
    h = c0.to(tl.uint32) ^ (c1.to(tl.uint32) * tl.full(c1.shape, _PRIME1, tl.uint32))
    if D == 3:
        dense += c2 * stride * stride
        h = h ^ (c2.to(tl.uint32) * tl.full(c2.shape, _PRIME2, tl.uint32))
    return tl.where(stride > 0, dense, (h & mask).to(tl.int64))


@triton.jit
def _corner(c0, c1, c2, f0, f1, f2, corner: tl.constexpr, stride, mask, D: tl.constexpr):
    """(d-linear weight, table row) of corner ``corner`` (bit k = upper vertex along dimension k)."""
    b0: tl.constexpr = corner & 1
    b1: tl.constexpr = (corner >> 1) & 1
    b2: tl.constexpr = (corner >> 2) & 1
    w = (f0 if b0 else 1.0 - f0) * (f1 if b1 else 1.0 - f1)
    if D == 3:
        w = w * (f2 if b2 else 1.0 - f2)
    return w, _row(c0 + b0, c1 + b1, c2 + b2, stride, mask, D)


@triton.jit
def _forward_kernel(x_ptr, table_ptr, out_ptr, info_ptr, n_points, n_levels, table_size,
                    D: tl.constexpr, F: tl.constexpr, BLOCK: tl.constexpr):
    level = tl.program_id(1).to(tl.int64)
    n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    n_ok = n < n_points
    res = tl.load(info_ptr + 2 * level)
    stride = tl.load(info_ptr + 2 * level + 1)
    c0, f0, _, c1, f1, _, c2, f2, _ = _locate_point(x_ptr, n, n_ok, res, D)
    feat = tl.arange(0, F)[None, :]
    base = table_ptr + level * table_size * F + feat
    mask = (table_size - 1).to(tl.uint32)
    acc = tl.zeros([BLOCK, F], f0.dtype)
    for corner in tl.static_range(1 << D):
        w, row = _corner(c0, c1, c2, f0, f1, f2, corner, stride, mask, D)
        v = tl.load(base + row[:, None] * F, mask=n_ok[:, None], other=0.0)
        acc += w[:, None] * v.to(acc.dtype)
    tl.store(out_ptr + (n[:, None] * n_levels + level) * F + feat,
             acc.to(out_ptr.dtype.element_ty), mask=n_ok[:, None])


@triton.jit
def _backward_table_kernel(x_ptr, grad_out_ptr, grad_table_ptr, info_ptr, n_points, n_levels,
                           table_size, D: tl.constexpr, F: tl.constexpr, BLOCK: tl.constexpr):
    level = tl.program_id(1).to(tl.int64)
    n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    n_ok = n < n_points
    res = tl.load(info_ptr + 2 * level)
    stride = tl.load(info_ptr + 2 * level + 1)
    feat = tl.arange(0, F)[None, :]
    g = tl.load(grad_out_ptr + (n[:, None] * n_levels + level) * F + feat, mask=n_ok[:, None],
                other=0.0)
    live = n_ok[:, None] & (g != 0.0)  # a zero gradient adds nothing: skip its atomics
    c0, f0, _, c1, f1, _, c2, f2, _ = _locate_point(x_ptr, n, n_ok, res, D)
    base = grad_table_ptr + level * table_size * F + feat
    mask = (table_size - 1).to(tl.uint32)
    for corner in tl.static_range(1 << D):
        w, row = _corner(c0, c1, c2, f0, f1, f2, corner, stride, mask, D)
        tl.atomic_add(base + row[:, None] * F, w[:, None] * g, mask=live, sem="relaxed")


@triton.jit
def _backward_x_kernel(x_ptr, table_ptr, grad_out_ptr, grad_x_ptr, info_ptr, n_points, n_levels,
                       table_size, D: tl.constexpr, F: tl.constexpr, BLOCK: tl.constexpr):
    # grad_x_d = sum_l res_l * sum_f g[l, f] * sum_c (d w_c / d frac_d) * table[l, row(c), f]:
    # the [BLOCK, F] products are accumulated over levels and corners, reduced over f at the end.
    n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    n_ok = n < n_points
    feat = tl.arange(0, F)[None, :]
    mask = (table_size - 1).to(tl.uint32)
    cdt = x_ptr.dtype.element_ty  # the compute type
    g0 = tl.zeros([BLOCK, F], cdt)
    g1 = tl.zeros([BLOCK, F], cdt)
    g2 = tl.zeros([BLOCK, F], cdt)
    for lvl in range(n_levels):
        level = tl.cast(lvl, tl.int64)  # level * table_size * F may pass 2^31
        res = tl.load(info_ptr + 2 * level)
        stride = tl.load(info_ptr + 2 * level + 1)
        c0, f0, in0, c1, f1, in1, c2, f2, in2 = _locate_point(x_ptr, n, n_ok, res, D)
        g = tl.load(grad_out_ptr + (n[:, None] * n_levels + level) * F + feat, mask=n_ok[:, None],
                    other=0.0) * res.to(cdt)
        base = table_ptr + level * table_size * F + feat
        for corner in tl.static_range(1 << D):
            b0 = corner & 1
            b1 = (corner >> 1) & 1
            b2 = (corner >> 2) & 1
            w0 = f0 if b0 else 1.0 - f0
            w1 = f1 if b1 else 1.0 - f1
            s0 = 1.0 if b0 else -1.0
            s1 = 1.0 if b1 else -1.0
            row = _row(c0 + b0, c1 + b1, c2 + b2, stride, mask, D)
            v = tl.load(base + row[:, None] * F, mask=n_ok[:, None], other=0.0).to(cdt) * g
            if D == 3:
                w2 = f2 if b2 else 1.0 - f2
                s2 = 1.0 if b2 else -1.0
                g0 += (s0 * w1 * w2)[:, None] * v
                g1 += (w0 * s1 * w2)[:, None] * v
                g2 += (w0 * w1 * s2)[:, None] * v
            else:
                g0 += (s0 * w1)[:, None] * v
                g1 += (w0 * s1)[:, None] * v
    for d in tl.static_range(D):
        xd = tl.load(x_ptr + n * D + d, mask=n_ok, other=0.0)
        gd = tl.sum(g0 if d == 0 else (g1 if d == 1 else g2), 1)
        tl.store(grad_x_ptr + n * D + d, tl.where((xd >= 0.0) & (xd <= 1.0), gd, 0.0), mask=n_ok)


# ----------------------------------------------------------------------------------------------
# Host wrappers (the primitives of _library)
# ----------------------------------------------------------------------------------------------
def _on_device(t):
    # Triton launches on the current CUDA device; make it the tensors' one.
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _compute_dtype(table):
    return torch.float64 if table.dtype == torch.float64 else torch.float32


def forward(x, table, level_info):
    n, d = x.shape
    n_levels, table_size, f = table.shape
    out = table.new_empty((n, n_levels * f))
    if n == 0 or n_levels == 0:
        return out
    with _on_device(x):
        _forward_kernel[(triton.cdiv(n, _BLOCK), n_levels)](
            x, table, out, level_info, n, n_levels, table_size, D=d, F=f, BLOCK=_BLOCK, **_LAUNCH)
    return out


def backward(grad_out, x, table, level_info, table_grad: bool, x_grad: bool):
    n, d = x.shape
    n_levels, table_size, f = table.shape
    compute = _compute_dtype(table)
    grad_out = grad_out.to(compute).contiguous()
    grad_table = torch.zeros(table.shape if table_grad else (0, table_size, f), dtype=compute,
                             device=table.device)
    grad_x = x.new_empty((n, d) if x_grad else (0, d))
    if n == 0 or n_levels == 0:
        return grad_x.zero_(), grad_table.to(table.dtype)
    with _on_device(x):
        if table_grad:
            _backward_table_kernel[(triton.cdiv(n, _BLOCK), n_levels)](
                x, grad_out, grad_table, level_info, n, n_levels, table_size, D=d, F=f,
                BLOCK=_BLOCK, **_LAUNCH)
        if x_grad:
            _backward_x_kernel[(triton.cdiv(n, _BLOCK),)](
                x, table, grad_out, grad_x, level_info, n, n_levels, table_size, D=d, F=f,
                BLOCK=_BLOCK, **_LAUNCH)
    return grad_x, grad_table.to(table.dtype)

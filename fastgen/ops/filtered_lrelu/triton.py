"""Triton kernels of filtered_lrelu (backend "triton"): one program per (plane, tile of outputs),
the pass of ``_library`` (stage 1, activation or mask, stage 2) with nothing but the tile's own
part of the upsampled image ever held, in registers.

* ``_tiled_kernel``: FIR filtering as matrix products on the tensor cores. Along an axis,
  zero insertion + padding + correlation is a banded matrix (entry (s, m) = the tap that input
  pixel s gives mid pixel m, or 0), so for a separable kernel the tile's mid window is
  ``Ay^T @ X @ Ax`` and its outputs ``By^T @ M @ Bx``; a 2D kernel is the sum of its rows (or
  columns) as separable rank-1 terms (``R`` products instead of 1), exact in any precision. The
  band matrices are gathered from the taps in registers (never stored). float32 products use
  ``tf32x3`` (three tf32 products: float32-level rounding), float64 ones are exact IEEE.
* ``_direct_kernel``: the fallback where a tile's windows would not fit the products' operands
  (float64 with down = 4 or long filters, see ``tiled_config``): per output, every tap of stage 2
  recomputes its mid pixel from the input (slow, never wrong).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

_BLOCK = 16      # outputs per tile side in the tiled kernel (tl.dot needs >= 16)
_MAX_WINDOW = 128  # the tiled kernel's largest operand side
_BH, _BW = 8, 32  # the direct kernel's tile


@triton.jit
def _floor_div(a, b: tl.constexpr):
    r = a % b
    r = tl.where(r < 0, r + b, r)
    return (a - r) // b


@triton.jit
def _activate(s, gmy, gmx, inside, mask_ptr, plane, mid_h, mid_w, gain, slope, clamp,
              MODE: tl.constexpr, WRITE_MASK: tl.constexpr, HAS_CLAMP: tl.constexpr):
    """act(s) at mid pixels (gmy, gmx) (broadcast to s's shape), 0 where not ``inside``: mode 0
    clamp(lrelu(s) * gain) (writing the mask codes 0 negative / 1 positive / 2 clamped), mode 1
    s times the mask's factor."""
    moff = plane * mid_h * mid_w + gmy.to(tl.int64) * mid_w + gmx
    if MODE == 0:
        pos = s > 0
        v = tl.where(pos, s, s * slope) * gain
        code = pos.to(tl.int32)
        if HAS_CLAMP:
            code = tl.where((v > clamp) | (v < -clamp), 2, code)
            v = tl.minimum(tl.maximum(v, -clamp), clamp)
        if WRITE_MASK:
            tl.store(mask_ptr + moff, code.to(tl.uint8), mask=inside)
    else:
        code = tl.load(mask_ptr + moff, mask=inside, other=2).to(tl.int32)
        v = s * tl.where(code == 1, gain, tl.where(code == 0, gain * slope, 0.0))
    return tl.where(inside, v, 0.0)


@triton.jit
def _tiled_kernel(x_ptr, b_ptr, mask_ptr, y_ptr, prm_ptr, f1y_ptr, f1x_ptr, f2y_ptr, f2x_ptr,
                  channels, in_h, in_w, mid_h, mid_w, out_h, out_w, pad1x, pad1y, pad2x, pad2y,
                  HAS_BIAS: tl.constexpr, MODE: tl.constexpr, WRITE_MASK: tl.constexpr, HAS_CLAMP: tl.constexpr,
                  R1: tl.constexpr, K1H: tl.constexpr, K1W: tl.constexpr,
                  R2: tl.constexpr, K2H: tl.constexpr, K2W: tl.constexpr,
                  UP: tl.constexpr, DOWN: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
                  MH: tl.constexpr, MW: tl.constexpr, IH: tl.constexpr, IW: tl.constexpr,
                  MHR: tl.constexpr, MWR: tl.constexpr, IHR: tl.constexpr, IWR: tl.constexpr,
                  PREC: tl.constexpr):
    plane = tl.program_id(0).to(tl.int64)
    oy0 = tl.program_id(1) * BH
    ox0 = tl.program_id(2) * BW
    acc_t = prm_ptr.dtype.element_ty
    gain, slope, clamp = tl.load(prm_ptr), tl.load(prm_ptr + 1), tl.load(prm_ptr + 2)
    my0, mx0 = oy0 * DOWN - pad2y, ox0 * DOWN - pad2x  # the mid window's first pixel
    sy0 = -_floor_div(pad1y - my0, UP)  # the input window's: ceil((my0 - pad1) / up)
    sx0 = -_floor_div(pad1x - mx0, UP)
    si, sj = tl.arange(0, IH), tl.arange(0, IW)
    mi, mj = tl.arange(0, MH), tl.arange(0, MW)
    # Input window (+ bias), zeros outside the image and past the part the taps reach.
    sy, sx = sy0 + si, sx0 + sj
    ok = ((si < IHR) & (sy >= 0) & (sy < in_h))[:, None] & ((sj < IWR) & (sx >= 0) & (sx < in_w))[None, :]
    xv = tl.load(x_ptr + plane * in_h * in_w + sy[:, None].to(tl.int64) * in_w + sx[None, :], mask=ok, other=0)
    xv = xv.to(acc_t)
    if HAS_BIAS:
        xv = tl.where(ok, xv + tl.load(b_ptr + plane % channels).to(acc_t), 0.0)
    # Stage 1: S = sum_r Ay_r^T X Ax_r, tap of input s for mid m: up * (s0 + s) - (m0 + m) + pad1.
    s = tl.zeros((MH, MW), dtype=acc_t)
    tx = UP * (sx0 + sj[:, None]) - (mx0 + mj[None, :]) + pad1x  # (IW, MW)
    ty = UP * (sy0 + si[None, :]) - (my0 + mi[:, None]) + pad1y  # (MH, IH)
    for r in tl.static_range(R1):
        ax = tl.load(f1x_ptr + r * K1W + tx, mask=(tx >= 0) & (tx < K1W), other=0)
        ayt = tl.load(f1y_ptr + r * K1H + ty, mask=(ty >= 0) & (ty < K1H), other=0)
        s += tl.dot(ayt, tl.dot(xv, ax, input_precision=PREC), input_precision=PREC)
    gmy, gmx = my0 + mi, mx0 + mj
    inside = ((mi < MHR) & (gmy >= 0) & (gmy < mid_h))[:, None] & ((mj < MWR) & (gmx >= 0) & (gmx < mid_w))[None, :]
    m = _activate(s, gmy[:, None], gmx[None, :], inside, mask_ptr, plane, mid_h, mid_w, gain, slope, clamp,
                  MODE, WRITE_MASK, HAS_CLAMP)
    # Stage 2: y = sum_r By_r^T M Bx_r, tap of mid m for output o: m - o * down.
    oi, oj = tl.arange(0, BH), tl.arange(0, BW)
    jx = mj[:, None] - oj[None, :] * DOWN  # (MW, BW)
    jy = mi[None, :] - oi[:, None] * DOWN  # (BH, MH)
    out = tl.zeros((BH, BW), dtype=acc_t)
    for r in tl.static_range(R2):
        bx = tl.load(f2x_ptr + r * K2W + jx, mask=(jx >= 0) & (jx < K2W), other=0)
        byt = tl.load(f2y_ptr + r * K2H + jy, mask=(jy >= 0) & (jy < K2H), other=0)
        out += tl.dot(byt, tl.dot(m, bx, input_precision=PREC), input_precision=PREC)
    oy, ox = oy0 + oi, ox0 + oj
    tl.store(y_ptr + plane * out_h * out_w + oy[:, None].to(tl.int64) * out_w + ox[None, :],
             out.to(y_ptr.dtype.element_ty), mask=(oy < out_h)[:, None] & (ox < out_w)[None, :])


@triton.jit
def _direct_kernel(x_ptr, b_ptr, mask_ptr, y_ptr, prm_ptr, k1_ptr, k2_ptr,
                   channels, in_h, in_w, mid_h, mid_w, out_h, out_w, pad1x, pad1y, pad2x, pad2y,
                   HAS_BIAS: tl.constexpr, MODE: tl.constexpr, WRITE_MASK: tl.constexpr, HAS_CLAMP: tl.constexpr,
                   K1H: tl.constexpr, K1W: tl.constexpr, K2H: tl.constexpr, K2W: tl.constexpr,
                   UP: tl.constexpr, DOWN: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr):
    plane = tl.program_id(0).to(tl.int64)
    oy = tl.program_id(1) * BH + tl.arange(0, BH)
    ox = tl.program_id(2) * BW + tl.arange(0, BW)
    acc_t = prm_ptr.dtype.element_ty
    gain, slope, clamp = tl.load(prm_ptr), tl.load(prm_ptr + 1), tl.load(prm_ptr + 2)
    x_plane = x_ptr + plane * in_h * in_w
    bias = tl.zeros((), dtype=acc_t)
    if HAS_BIAS:
        bias = tl.load(b_ptr + plane % channels).to(acc_t)
    out = tl.zeros((BH, BW), dtype=acc_t)
    for j in range(K2H * K2W):  # k1, k2: 2D (kh, kw) correlation kernels
        gmy = oy * DOWN + j // K2W - pad2y
        gmx = ox * DOWN + j % K2W - pad2x
        s = tl.zeros((BH, BW), dtype=acc_t)
        for i in range(K1H * K1W):
            uy = gmy + i // K1W - pad1y  # zero-inserted input row
            ux = gmx + i % K1W - pad1x
            ok_y = (uy >= 0) & (uy < in_h * UP) & (uy % UP == 0)
            ok_x = (ux >= 0) & (ux < in_w * UP) & (ux % UP == 0)
            ok = ok_y[:, None] & ok_x[None, :]
            v = tl.load(x_plane + (tl.maximum(uy, 0) // UP)[:, None].to(tl.int64) * in_w
                        + (tl.maximum(ux, 0) // UP)[None, :], mask=ok, other=0).to(acc_t)
            s += tl.where(ok, v + bias, 0.0) * tl.load(k1_ptr + i)
        inside = ((gmy >= 0) & (gmy < mid_h))[:, None] & ((gmx >= 0) & (gmx < mid_w))[None, :]
        inside = inside & (oy < out_h)[:, None] & (ox < out_w)[None, :]
        m = _activate(s, gmy[:, None], gmx[None, :], inside, mask_ptr, plane, mid_h, mid_w, gain, slope, clamp,
                      MODE, WRITE_MASK, HAS_CLAMP)
        out += m * tl.load(k2_ptr + j)
    tl.store(y_ptr + plane * out_h * out_w + oy[:, None].to(tl.int64) * out_w + ox[None, :],
             out.to(y_ptr.dtype.element_ty), mask=(oy < out_h)[:, None] & (ox < out_w)[None, :])


def _pow2(n: int) -> int:
    return max(16, triton.next_power_of_2(n))


def rank_factors(k: torch.Tensor) -> tuple:
    """(fy, fx), each (R, taps), with k = sum_r outer(fy[r], fx[r]): a 1D (separable) kernel is
    rank 1; a 2D one the sum of its rows or columns, whichever are fewer."""
    if k.dim() == 1:
        return k[None].contiguous(), k[None].contiguous()
    kh, kw = k.shape
    if kh <= kw:
        return torch.eye(kh, dtype=k.dtype, device=k.device), k.contiguous()
    return k.t().contiguous(), torch.eye(kw, dtype=k.dtype, device=k.device)


def tiled_config(k1h, k1w, k2h, k2w, up, down, dtype) -> dict | None:
    """The tiled kernel's window sizes, or None when they exceed its operands (float32 up to 128
    wide, float64 up to 64: what fits the products' shared memory); then the direct kernel runs."""
    mhr, mwr = (_BLOCK - 1) * down + k2h, (_BLOCK - 1) * down + k2w
    ihr, iwr = (mhr - 1 + k1h - 1) // up + 1, (mwr - 1 + k1w - 1) // up + 1
    cfg = dict(MHR=mhr, MWR=mwr, IHR=ihr, IWR=iwr, MH=_pow2(mhr), MW=_pow2(mwr), IH=_pow2(ihr), IW=_pow2(iwr))
    limit = _MAX_WINDOW // 2 if dtype == torch.float64 else _MAX_WINDOW
    return cfg if max(cfg["MH"], cfg["MW"], cfg["IH"], cfg["IW"]) <= limit else None


def _as_2d(k: torch.Tensor) -> torch.Tensor:
    return torch.outer(k, k).contiguous() if k.dim() == 1 else k


def launch_plan(x, b, mask, y, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h, mid_w, mode, gain, slope,
                clamp) -> tuple:
    """(kernel, grid, args, constexprs) of one pass: what ``run`` launches, and what the tests
    compile for real GPUs."""
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2:]
    prm = torch.tensor([gain, slope, clamp], dtype=k1.dtype, device=x.device)
    (k1h, k1w), (k2h, k2w) = (k1.shape[0], k1.shape[-1]), (k2.shape[0], k2.shape[-1])
    consts = dict(HAS_BIAS=b is not None, MODE=mode, WRITE_MASK=mode == 0 and mask is not None,
                  HAS_CLAMP=mode == 0 and clamp >= 0, UP=up, DOWN=down)
    head = [x, x if b is None else b, y if mask is None else mask, y, prm]  # unused pointers: never read
    sizes = [c, h, w, mid_h, mid_w, out_h, out_w, pad1x, pad1y, pad2x, pad2y]
    cfg = tiled_config(k1h, k1w, k2h, k2w, up, down, x.dtype)
    if cfg is not None:
        (f1y, f1x), (f2y, f2x) = rank_factors(k1), rank_factors(k2)
        consts.update(R1=f1y.shape[0], K1H=k1h, K1W=k1w, R2=f2y.shape[0], K2H=k2h, K2W=k2w, BH=_BLOCK, BW=_BLOCK,
                      PREC="ieee" if x.dtype == torch.float64 else "tf32x3", **cfg)
        grid = (n * c, triton.cdiv(out_h, _BLOCK), triton.cdiv(out_w, _BLOCK))
        return _tiled_kernel, grid, head + [f1y, f1x, f2y, f2x] + sizes, consts
    consts.update(K1H=k1h, K1W=k1w, K2H=k2h, K2W=k2w, BH=_BH, BW=_BW)
    grid = (n * c, triton.cdiv(out_h, _BH), triton.cdiv(out_w, _BW))
    return _direct_kernel, grid, head + [_as_2d(k1), _as_2d(k2)] + sizes, consts


def run(x, b, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h, mid_w, out_h, out_w, mode, gain, slope,
        clamp):
    """One pass (arguments: see ``_library.run_pass``)."""
    y = x.new_empty((x.shape[0], x.shape[1], out_h, out_w))
    if y.numel():
        kernel, grid, args, consts = launch_plan(x, b, mask, y, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h,
                                                 mid_w, mode, gain, slope, clamp)
        kernel[grid](*args, **consts)
    return y

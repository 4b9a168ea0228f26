"""Triton kernels of modconv (backend "triton"): an implicit-GEMM convolution whose input is
scaled per (sample, channel) while it is loaded and whose epilogue is StyleGAN2's synthesis layer.

The convolution every kernel computes, in the "kernel layout" (see :mod:`fastgen.ops.modconv._library`):

    out[n, co, oy, ox] = sum_{ci, ky, kx} xz[n, ci, oy * DOWN + ky - pad_y, ox * DOWN + kx - pad_x]
                                          * in_scale[n, ci] * wk[ky, kx, ci, co]

where xz is x with UP - 1 zeros inserted after every pixel (UP or DOWN is 1) and wk is the
(KH, KW, CI, CO) weight, shared by the whole batch: the per-sample modulated weights are never
formed, in memory or in registers; the styles scale the activations instead (StyleGAN2's
"non-fused" formulation, which equals the fused one).

* ``_conv_kernel``: one program per (tile of BM output pixels, BN output channels, sample); a GEMM
  over K = taps x CI with ``tl.dot``. For UP > 1 a program's pixels share one phase
  (oy % UP, ox % UP), so only the taps that land on input pixels run (no FLOPs on inserted
  zeros). Epilogues: EPI=0 stores ``out * out_scale`` and optionally the per-tile partial sums
  of ``out * red`` (the dx pass: out_scale = styles, red = x gives d(styles)); EPI=1 is the
  block: ``act(out * post + noise + bias) * gain``, clamped, optionally storing the raw ``out``
  for the backward.
* ``_dweight_kernel``: d wk[ky, kx, ci, co] = sum_{n, pixels} xz[...] in_scale[n, ci] *
  g[n, co, p] g_scale[n, co]: a GEMM with K = batch x pixels, split over the batch (partial sums
  added by torch) so that enough programs run.
* ``_epilogue_kernel`` / ``_epilogue_grad_kernel``: the block's epilogue on its own (after the
  FIR of the up-sampling path) and its gradient dz = dy gain act'(z) (0 where the clamp is
  active), with per-tile partial sums of dz * c (d post) and dz (d bias).

float16/bfloat16 feed ``tl.dot`` in their own dtype and accumulate in float32; float32 uses
TF32 exactly when torch's cuDNN convolutions do (``torch.backends.cudnn.allow_tf32``), else IEEE;
float64 accumulates in float64.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from fastgen.ops.bias_act.triton import _ELU, _SELU, _SELU_ALPHA, _SELU_SCALE, _activation

_ELEM_BLOCK = 1024


def conv_config(dtype: torch.dtype, device: torch.device) -> dict:
    """Tile sizes of ``_conv_kernel``: tl.dot needs 16+ per side; the interpreter gets few, wide
    pixel tiles (its cost is per program and per op, not per element), the GPU tiles sized for
    StyleGAN's 256-512 channels."""
    if device.type != "cuda":
        return dict(BM=64, BN=16, BK=16, num_warps=4)
    if dtype == torch.float64:
        return dict(BM=32, BN=32, BK=16, num_warps=4)
    if dtype == torch.float32:
        return dict(BM=64, BN=64, BK=32, num_warps=4)
    return dict(BM=128, BN=64, BK=32, num_warps=4)


def dweight_config(dtype: torch.dtype, device: torch.device) -> dict:
    if device.type != "cuda":
        return dict(BI=16, BO=16, BP=64, num_warps=4)
    if dtype == torch.float64:
        return dict(BI=32, BO=32, BP=16, num_warps=4)
    return dict(BI=64, BO=64, BP=32, num_warps=4)


def precision(dtype: torch.dtype) -> str:
    """tl.dot's input_precision: TF32 for float32 exactly when torch's convolutions use it."""
    if dtype == torch.float32 and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _act_params(act: int, alpha: float, gain: float, clamp: float, acc: torch.dtype, device) -> tuple:
    """(act code, params tensor [alpha, gain, clamp]); selu runs as elu with its scale in the gain.
    The numbers travel in a tensor so that float64 keeps them exact (scalar arguments are float32)."""
    if act == _SELU:
        act, alpha, gain = _ELU, _SELU_ALPHA, gain * _SELU_SCALE
    return act, torch.tensor([alpha, gain, clamp], dtype=acc).to(device)


def _noise_strides(noise) -> tuple:
    """(stride over n, stride over channels) of a (1 or N, 1 or C, H, W) noise; 0 where broadcast."""
    if noise is None:
        return 0, 0
    nn, nc, h, w = noise.shape
    return (nc * h * w if nn > 1 else 0), (h * w if nc > 1 else 0)


@triton.jit
def _pixel_coords(m, MW, OH, OW, ry, rx, UP: tl.constexpr):
    """Output pixels (oy, ox) of sub-grid entries m (phase (ry, rx) of an UP-strided grid)."""
    my = m // MW
    mx = m % MW
    oy = my * UP + ry
    ox = mx * UP + rx
    return my, mx, oy, ox, (oy < OH) & (ox < OW)


@triton.jit
def _input_coord(om, o, k, pad, r, UP: tl.constexpr, DOWN: tl.constexpr):
    """(input index, tap valid) along one axis of output o (sub-grid index om, phase r), tap k."""
    if UP == 1:
        i = o * DOWN + (k - pad)
        valid = True
    else:
        t = r + k - pad  # the tap lands on an input pixel iff t is a multiple of UP
        valid = ((t % UP) + UP) % UP == 0
        i = om + t // UP
    return i, valid


@triton.jit
def _conv_kernel(x_ptr, w_ptr, in_scale_ptr, out_scale_ptr, noise_ptr, bias_ptr, red_ptr, red_out_ptr,
                 y_ptr, c_ptr, params_ptr, CI, CO, H, W, OH, OW, pad_y, pad_x, noise_sn, noise_so,
                 KH: tl.constexpr, KW: tl.constexpr, UP: tl.constexpr, DOWN: tl.constexpr,
                 EPI: tl.constexpr, HAS_IN_SCALE: tl.constexpr, HAS_OUT_SCALE: tl.constexpr,
                 HAS_NOISE: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_CLAMP: tl.constexpr,
                 SAVE_C: tl.constexpr, HAS_RED: tl.constexpr, ACT: tl.constexpr, PREC: tl.constexpr,
                 IS_F64: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    n = tl.program_id(2).to(tl.int64)
    MH = tl.cdiv(OH, UP)
    MW = tl.cdiv(OW, UP)
    n_tiles = tl.cdiv(MH * MW, BM)
    phase = pid_m // n_tiles
    ry = phase // UP
    rx = phase % UP
    m = (pid_m % n_tiles) * BM + tl.arange(0, BM)
    my, mx, oy, ox, m_ok = _pixel_coords(m, MW, OH, OW, ry, rx, UP)
    m_ok = m_ok & (m < MH * MW)
    co = tl.program_id(1) * BN + tl.arange(0, BN)
    co_ok = co < CO
    acc_t = tl.float64 if IS_F64 else tl.float32
    acc = tl.zeros((BM, BN), dtype=acc_t)
    x_n = x_ptr + n * CI * H * W
    for ky in tl.static_range(KH):
        iy, vy = _input_coord(my, oy, ky, pad_y, ry, UP, DOWN)
        for kx in tl.static_range(KW):
            ix, vx = _input_coord(mx, ox, kx, pad_x, rx, UP, DOWN)
            if vy & vx:
                pix_ok = m_ok & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
                pix = iy * W + ix
                w_tap = w_ptr + (ky * KW + kx) * CI * CO
                for c0 in range(0, CI, BK):
                    ci = c0 + tl.arange(0, BK)
                    ci_ok = ci < CI
                    a = tl.load(x_n + ci[None, :] * H * W + pix[:, None], mask=pix_ok[:, None] & ci_ok[None, :],
                                other=0)
                    if HAS_IN_SCALE:  # the styles, applied while loading x
                        s = tl.load(in_scale_ptr + n * CI + ci, mask=ci_ok, other=0)
                        a = (a.to(acc_t) * s[None, :]).to(x_ptr.dtype.element_ty)
                    b = tl.load(w_tap + ci[:, None] * CO + co[None, :], mask=ci_ok[:, None] & co_ok[None, :],
                                other=0)
                    acc = tl.dot(a, b, acc, input_precision=PREC)
    out_off = n * CO * OH * OW + co[None, :] * OH * OW + (oy * OW + ox)[:, None]
    ok = m_ok[:, None] & co_ok[None, :]
    if EPI == 0:
        if HAS_RED:  # per-tile partial sums of out * red over the tile's pixels (d in_scale of the forward)
            r = tl.load(red_ptr + out_off, mask=ok, other=0).to(acc_t)
            tl.store(red_out_ptr + (n * tl.num_programs(0) + pid_m) * CO + co, tl.sum(acc * r, axis=0), mask=co_ok)
        if HAS_OUT_SCALE:
            acc = acc * tl.load(out_scale_ptr + n * CO + co, mask=co_ok, other=0)[None, :]
        tl.store(y_ptr + out_off, acc.to(y_ptr.dtype.element_ty), mask=ok)
    else:
        if SAVE_C:
            tl.store(c_ptr + out_off, acc.to(c_ptr.dtype.element_ty), mask=ok)
        y = _block_epilogue(acc, n, co, co_ok, (oy * OW + ox)[:, None], ok, out_scale_ptr, noise_ptr, bias_ptr,
                            params_ptr, CO, noise_sn, noise_so, HAS_OUT_SCALE, HAS_NOISE, HAS_BIAS, HAS_CLAMP, ACT,
                            0)
        tl.store(y_ptr + out_off, y.to(y_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _block_epilogue(c, n, co, co_ok, pix, ok, post_ptr, noise_ptr, bias_ptr, params_ptr, CO, noise_sn, noise_so,
                    HAS_POST: tl.constexpr, HAS_NOISE: tl.constexpr, HAS_BIAS: tl.constexpr,
                    HAS_CLAMP: tl.constexpr, ACT: tl.constexpr, D: tl.constexpr):
    """z = c * post[n, co] + noise + bias[co]; act(z) * gain clamped (D = 0), or
    (z, act(z) * gain, gain * act'(z)) for the gradient (D = 1). c is [P, C] or [C, P]-shaped via
    the broadcasting of co / pix passed in."""
    z = c
    if HAS_POST:
        z = z * tl.load(post_ptr + n * CO + co, mask=co_ok, other=0)[None, :]
    if HAS_NOISE:
        z += tl.load(noise_ptr + n * noise_sn + co[None, :] * noise_so + pix, mask=ok, other=0).to(c.dtype)
    if HAS_BIAS:
        z += tl.load(bias_ptr + co, mask=co_ok, other=0).to(c.dtype)[None, :]
    alpha = tl.load(params_ptr)
    gain = tl.load(params_ptr + 1)
    clamp = tl.load(params_ptr + 2)
    y = _activation(z, alpha, ACT, 0) * gain
    if D == 0:
        if HAS_CLAMP:
            y = tl.minimum(tl.maximum(y, -clamp), clamp)
        return y
    g = _activation(z, alpha, ACT, 1) * gain
    if HAS_CLAMP:  # the clamp is active: no gradient flows
        g = tl.where(tl.abs(y) > clamp, tl.zeros_like(g), g)
    return g


@triton.jit
def _dweight_kernel(x_ptr, in_scale_ptr, g_ptr, g_scale_ptr, out_ptr, N, CI, CO, H, W, OH, OW, pad_y, pad_x,
                    n_per_split, KH: tl.constexpr, KW: tl.constexpr, UP: tl.constexpr, DOWN: tl.constexpr,
                    HAS_IN_SCALE: tl.constexpr, HAS_G_SCALE: tl.constexpr, PREC: tl.constexpr, IS_F64: tl.constexpr,
                    BI: tl.constexpr, BO: tl.constexpr, BP: tl.constexpr):
    tap = tl.program_id(2) % (KH * KW)
    split = tl.program_id(2) // (KH * KW)
    ky = tap // KW
    kx = tap % KW
    # The output pixels this tap reaches from input pixels: one phase of the grid when UP > 1.
    ry = (((pad_y - ky) % UP) + UP) % UP
    rx = (((pad_x - kx) % UP) + UP) % UP
    MH = tl.cdiv(OH - ry, UP)
    MW = tl.cdiv(OW - rx, UP)
    ci = tl.program_id(0) * BI + tl.arange(0, BI)
    co = tl.program_id(1) * BO + tl.arange(0, BO)
    ci_ok = ci < CI
    co_ok = co < CO
    acc_t = tl.float64 if IS_F64 else tl.float32
    acc = tl.zeros((BI, BO), dtype=acc_t)
    n_end = tl.minimum(N, (split + 1) * n_per_split)
    for n in range(split * n_per_split, n_end):
        n64 = tl.full((), 0, tl.int64) + n  # 64-bit offsets (a plain int in the interpreter)
        if HAS_IN_SCALE:
            s = tl.load(in_scale_ptr + n64 * CI + ci, mask=ci_ok, other=0)
        if HAS_G_SCALE:
            gs = tl.load(g_scale_ptr + n64 * CO + co, mask=co_ok, other=0)
        for p0 in range(0, MH * MW, BP):
            m = p0 + tl.arange(0, BP)
            my, mx, oy, ox, p_ok = _pixel_coords(m, MW, OH, OW, ry, rx, UP)
            p_ok = p_ok & (m < MH * MW)
            iy, vy = _input_coord(my, oy, ky, pad_y, ry, UP, DOWN)
            ix, vx = _input_coord(mx, ox, kx, pad_x, rx, UP, DOWN)
            in_ok = p_ok & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            a = tl.load(x_ptr + n64 * CI * H * W + ci[:, None] * H * W + (iy * W + ix)[None, :],
                        mask=ci_ok[:, None] & in_ok[None, :], other=0)
            if HAS_IN_SCALE:
                a = (a.to(acc_t) * s[:, None]).to(x_ptr.dtype.element_ty)
            b = tl.load(g_ptr + n64 * CO * OH * OW + co[None, :] * OH * OW + (oy * OW + ox)[:, None],
                        mask=p_ok[:, None] & co_ok[None, :], other=0)
            if HAS_G_SCALE:
                b = (b.to(acc_t) * gs[None, :]).to(g_ptr.dtype.element_ty)
            acc = tl.dot(a, b, acc, input_precision=PREC)
    off = ((split * KH * KW + tap) * CI + ci[:, None]).to(tl.int64) * CO + co[None, :]
    tl.store(out_ptr + off, acc, mask=ci_ok[:, None] & co_ok[None, :])


@triton.jit
def _epilogue_kernel(c_ptr, post_ptr, noise_ptr, bias_ptr, params_ptr, y_ptr, P, CO, noise_sn, noise_so,
                     HAS_POST: tl.constexpr, HAS_NOISE: tl.constexpr, HAS_BIAS: tl.constexpr,
                     HAS_CLAMP: tl.constexpr, ACT: tl.constexpr, IS_F64: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)  # one (n, co) plane per row of the grid
    n = (row // CO).to(tl.int64)
    co = row % CO + tl.zeros((1,), dtype=tl.int32)
    pix = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = pix < P
    off = row.to(tl.int64) * P + pix
    c = tl.load(c_ptr + off, mask=ok, other=0).to(tl.float64 if IS_F64 else tl.float32)
    y = _block_epilogue(c[:, None], n, co, co < CO, pix[:, None], ok[:, None], post_ptr, noise_ptr, bias_ptr,
                        params_ptr, CO, noise_sn, noise_so, HAS_POST, HAS_NOISE, HAS_BIAS, HAS_CLAMP, ACT, 0)
    tl.store(y_ptr + off, tl.reshape(y, (BLOCK,)).to(y_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _epilogue_grad_kernel(dy_ptr, c_ptr, post_ptr, noise_ptr, bias_ptr, params_ptr, dz_ptr, part_ptr, P, CO,
                          noise_sn, noise_so, HAS_POST: tl.constexpr, HAS_NOISE: tl.constexpr,
                          HAS_BIAS: tl.constexpr, HAS_CLAMP: tl.constexpr, ACT: tl.constexpr,
                          IS_F64: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    n = (row // CO).to(tl.int64)
    co = row % CO + tl.zeros((1,), dtype=tl.int32)
    pix = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = pix < P
    off = row.to(tl.int64) * P + pix
    acc_t = tl.float64 if IS_F64 else tl.float32
    c = tl.load(c_ptr + off, mask=ok, other=0).to(acc_t)
    g = _block_epilogue(c[:, None], n, co, co < CO, pix[:, None], ok[:, None], post_ptr, noise_ptr, bias_ptr,
                        params_ptr, CO, noise_sn, noise_so, HAS_POST, HAS_NOISE, HAS_BIAS, HAS_CLAMP, ACT, 1)
    dz = tl.load(dy_ptr + off, mask=ok, other=0).to(acc_t) * tl.reshape(g, (BLOCK,))
    tl.store(dz_ptr + off, dz.to(dz_ptr.dtype.element_ty), mask=ok)
    # partial sums of this tile: [d post, d bias] = [sum dz * c, sum dz]
    part = part_ptr + (row.to(tl.int64) * tl.num_programs(1) + tl.program_id(1)) * 2
    tl.store(part, tl.sum(dz * c, axis=0))
    tl.store(part + 1, tl.sum(dz, axis=0))


# ---------------------------------------------------------------------------- launchers
def _conv_grid(n: int, co: int, out_h: int, out_w: int, up: int, cfg: dict) -> tuple:
    sub = triton.cdiv(out_h, up) * triton.cdiv(out_w, up)
    return up * up * triton.cdiv(sub, cfg["BM"]), triton.cdiv(co, cfg["BN"]), n


def _launch_conv(x, wk, in_scale, out_scale, up, down, pad_x, pad_y, out_h, out_w, epi, y, c=None, noise=None,
                 bias=None, red=None, act=0, alpha=0.0, gain=1.0, clamp=-1.0):
    n, ci, h, w = x.shape
    kh, kw, _, co = wk.shape
    cfg = conv_config(x.dtype, x.device)
    grid = _conv_grid(n, co, out_h, out_w, up, cfg)
    acc = _acc_dtype(x.dtype)
    red_out = torch.empty((n, grid[0], co), dtype=acc, device=x.device) if red is not None else None
    act, params = _act_params(act, alpha, gain, clamp, acc, x.device)
    sn, so = _noise_strides(noise)
    warps = cfg.pop("num_warps")
    _conv_kernel[grid](x, wk, x if in_scale is None else in_scale, x if out_scale is None else out_scale,
                       x if noise is None else noise, x if bias is None else bias, x if red is None else red,
                       x if red_out is None else red_out, y, x if c is None else c, params, ci, co, h, w, out_h,
                       out_w, pad_y, pad_x, sn, so, KH=kh, KW=kw, UP=up, DOWN=down, EPI=epi,
                       HAS_IN_SCALE=in_scale is not None, HAS_OUT_SCALE=out_scale is not None,
                       HAS_NOISE=noise is not None, HAS_BIAS=bias is not None, HAS_CLAMP=clamp >= 0,
                       SAVE_C=c is not None, HAS_RED=red is not None, ACT=act, PREC=precision(x.dtype),
                       IS_F64=x.dtype == torch.float64, num_warps=warps, **cfg)
    return None if red_out is None else red_out.sum(1)


def conv(x, wk, in_scale, out_scale, up, down, pad_x, pad_y, out_h, out_w, red=None):
    """(out_scale * conv(x * in_scale, wk), sum over pixels of conv(...) * red or None)."""
    y = x.new_empty((x.shape[0], wk.shape[3], out_h, out_w))
    if y.numel() == 0 or x.shape[1] == 0:
        return y.zero_(), (None if red is None else y.new_zeros(y.shape[:2], dtype=_acc_dtype(x.dtype)))
    r = _launch_conv(x, wk, in_scale, out_scale, up, down, pad_x, pad_y, out_h, out_w, 0, y, red=red)
    return y, r


def conv_block(x, wk, pre, post, noise, bias, up, down, pad_x, pad_y, out_h, out_w, act, alpha, gain, clamp,
               save_c):
    """(y, c): the fused block and, when save_c, the raw convolution c (else an empty tensor)."""
    y = x.new_empty((x.shape[0], wk.shape[3], out_h, out_w))
    c = torch.empty_like(y) if save_c else y.new_empty(0)
    if y.numel():
        _launch_conv(x, wk, pre, post, up, down, pad_x, pad_y, out_h, out_w, 1, y, c if save_c else None, noise,
                     bias, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return y, c


def dweight(x, in_scale, g, g_scale, up, down, pad_x, pad_y, kh, kw):
    """d wk (KH, KW, CI, CO) in the accumulation dtype for the output gradient g (N, CO, OH, OW)."""
    n, ci, h, w = x.shape
    co, out_h, out_w = g.shape[1:]
    cfg = dweight_config(x.dtype, x.device)
    base = triton.cdiv(ci, cfg["BI"]) * triton.cdiv(co, cfg["BO"]) * kh * kw
    # Enough programs to fill a GPU (~1000); the interpreter runs them one by one: no split there.
    split = max(1, min(n, 1024 // base)) if x.device.type == "cuda" else 1
    per = triton.cdiv(n, split)
    split = triton.cdiv(n, per)
    out = torch.zeros((split, kh, kw, ci, co), dtype=_acc_dtype(x.dtype), device=x.device)
    if n and ci and co:
        grid = (triton.cdiv(ci, cfg["BI"]), triton.cdiv(co, cfg["BO"]), kh * kw * split)
        warps = cfg.pop("num_warps")
        _dweight_kernel[grid](x, x if in_scale is None else in_scale, g, g if g_scale is None else g_scale, out,
                              n, ci, co, h, w, out_h, out_w, pad_y, pad_x, per, KH=kh, KW=kw, UP=up, DOWN=down,
                              HAS_IN_SCALE=in_scale is not None, HAS_G_SCALE=g_scale is not None,
                              PREC=precision(x.dtype), IS_F64=x.dtype == torch.float64, num_warps=warps,
                              **cfg)
    return out.sum(0)


def epilogue(c, post, noise, bias, act, alpha, gain, clamp):
    n, co, h, w = c.shape
    y = torch.empty_like(c)
    if c.numel():
        act, params = _act_params(act, alpha, gain, clamp, _acc_dtype(c.dtype), c.device)
        sn, so = _noise_strides(noise)
        grid = (n * co, triton.cdiv(h * w, _ELEM_BLOCK))
        _epilogue_kernel[grid](c, c if post is None else post, c if noise is None else noise,
                               c if bias is None else bias, params, y, h * w, co, sn, so, HAS_POST=post is not None,
                               HAS_NOISE=noise is not None, HAS_BIAS=bias is not None, HAS_CLAMP=clamp >= 0,
                               ACT=act, IS_F64=c.dtype == torch.float64, BLOCK=_ELEM_BLOCK)
    return y


def epilogue_grad(dy, c, post, noise, bias, act, alpha, gain, clamp):
    """(dz, d post (N, CO) = sum_p dz * c, d bias (CO,) = sum_{n, p} dz), sums in the accumulation dtype."""
    n, co, h, w = c.shape
    dz = torch.empty_like(c)
    acc = _acc_dtype(c.dtype)
    grid = (n * co, triton.cdiv(h * w, _ELEM_BLOCK))
    part = torch.zeros((n * co, grid[1], 2), dtype=acc, device=c.device)
    if c.numel():
        act, params = _act_params(act, alpha, gain, clamp, acc, c.device)
        sn, so = _noise_strides(noise)
        _epilogue_grad_kernel[grid](dy, c, c if post is None else post, c if noise is None else noise,
                                    c if bias is None else bias, params, dz, part, h * w, co, sn, so,
                                    HAS_POST=post is not None, HAS_NOISE=noise is not None,
                                    HAS_BIAS=bias is not None, HAS_CLAMP=clamp >= 0, ACT=act,
                                    IS_F64=c.dtype == torch.float64, BLOCK=_ELEM_BLOCK)
    part = part.sum(1).reshape(n, co, 2)
    return dz, part[..., 0].contiguous(), part[..., 1].sum(0)

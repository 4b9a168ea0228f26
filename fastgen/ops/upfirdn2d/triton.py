"""Triton kernels of upfirdn2d (backend "triton"): one program per (plane, tile of output pixels).

Nothing upsampled or padded is materialised: each program reads x directly. Filter size and
up/down factors are ``tl.constexpr``, so the tap loops unroll and divisions are by constants
(filters of more than ``_UNROLL_TAPS`` taps: a run-time loop in the generic kernel).

* ``_upfirdn2d_kernel`` (any up/down): a ``[_BH, _BW]`` output tile; for every tap (i, j) it
  gathers the input pixel that tap lands on in the zero-inserted, padded image, masked where
  that pixel is an inserted zero or padding.
* ``_upsample_kernel`` (up > 1, down = 1: upsample2d and the backward of downsample2d): the
  polyphase form. Output pixel ``oy = up * q + r`` only meets the taps ``i`` with
  ``(r - pad0 + i) % up == 0``, a set known at compile time given ``pad0 % up`` (a constexpr),
  so each phase (r_y, r_x) runs only its own taps: up^2 times fewer than the generic kernel,
  with no phase masks.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

_BH, _BW = 8, 64


@triton.jit
def _tap(acc, x_plane, k_ptr, base_y, base_x, i, j, kw, in_h, in_w, UPX: tl.constexpr, UPY: tl.constexpr):
    """acc + tap (i, j) of the filter times the input pixel it lands on (0 on inserted zeros and padding)."""
    uy = base_y + i
    ok_y = (uy >= 0) & (uy < in_h * UPY) & (uy % UPY == 0)
    row = (tl.maximum(uy, 0) // UPY).to(tl.int64) * in_w
    ux = base_x + j
    ok_x = (ux >= 0) & (ux < in_w * UPX) & (ux % UPX == 0)
    col = tl.maximum(ux, 0) // UPX
    v = tl.load(x_plane + row[:, None] + col[None, :], mask=ok_y[:, None] & ok_x[None, :], other=0)
    return acc + v.to(acc.dtype) * tl.load(k_ptr + i * kw + j).to(acc.dtype)


@triton.jit
def _upfirdn2d_kernel(x_ptr, k_ptr, y_ptr, in_h, in_w, out_h, out_w, pad_x0, pad_y0, kh, kw,
                      KH: tl.constexpr, KW: tl.constexpr, UPX: tl.constexpr, UPY: tl.constexpr,
                      DOWNX: tl.constexpr, DOWNY: tl.constexpr, IS_F64: tl.constexpr,
                      BH: tl.constexpr, BW: tl.constexpr):
    # KH = KW = 0: a filter too large to unroll (see _UNROLL_TAPS); the taps loop at run time
    plane = tl.program_id(0).to(tl.int64)
    oy = tl.program_id(1) * BH + tl.arange(0, BH)
    ox = tl.program_id(2) * BW + tl.arange(0, BW)
    acc_t = tl.float64 if IS_F64 else tl.float32
    x_plane = x_ptr + plane * in_h * in_w
    base_y = oy * DOWNY - pad_y0  # zero-inserted row of tap i is base_y + i
    base_x = ox * DOWNX - pad_x0
    acc = tl.zeros((BH, BW), dtype=acc_t)
    if KH > 0:
        for i in tl.static_range(KH):
            for j in tl.static_range(KW):
                acc = _tap(acc, x_plane, k_ptr, base_y, base_x, i, j, KW, in_h, in_w, UPX, UPY)
    else:
        for i in range(kh):
            for j in range(kw):
                acc = _tap(acc, x_plane, k_ptr, base_y, base_x, i, j, kw, in_h, in_w, UPX, UPY)
    out = y_ptr + plane * out_h * out_w + oy[:, None].to(tl.int64) * out_w + ox[None, :]
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=(oy < out_h)[:, None] & (ox < out_w)[None, :])


@triton.jit
def _upsample_kernel(x_ptr, k_ptr, y_ptr, in_h, in_w, out_h, out_w, pad_x0, pad_y0,
                     KH: tl.constexpr, KW: tl.constexpr, UPX: tl.constexpr, UPY: tl.constexpr,
                     PHX: tl.constexpr, PHY: tl.constexpr, IS_F64: tl.constexpr,
                     BQH: tl.constexpr, BQW: tl.constexpr):
    # pad0 = up * m + PH; tap i of output up * q + r reads zero-inserted pixel
    # up * (q - m) + (r - PH + i): an input pixel iff (r - PH + i) % up == 0.
    plane = tl.program_id(0).to(tl.int64)
    qy = tl.program_id(1) * BQH + tl.arange(0, BQH)
    qx = tl.program_id(2) * BQW + tl.arange(0, BQW)
    acc_t = tl.float64 if IS_F64 else tl.float32
    x_plane = x_ptr + plane * in_h * in_w
    y_plane = y_ptr + plane * out_h * out_w
    my = (pad_y0 - PHY) // UPY  # exact division
    mx = (pad_x0 - PHX) // UPX
    for ry in tl.static_range(UPY):
        for rx in tl.static_range(UPX):
            acc = tl.zeros((BQH, BQW), dtype=acc_t)
            for i in tl.static_range(KH):
                if (ry - PHY + i) % UPY == 0:
                    sy = qy - my + (ry - PHY + i) // UPY
                    ok_y = (sy >= 0) & (sy < in_h)
                    for j in tl.static_range(KW):
                        if (rx - PHX + j) % UPX == 0:
                            sx = qx - mx + (rx - PHX + j) // UPX
                            ok_x = (sx >= 0) & (sx < in_w)
                            v = tl.load(x_plane + sy[:, None].to(tl.int64) * in_w + sx[None, :],
                                        mask=ok_y[:, None] & ok_x[None, :], other=0)
                            acc += v.to(acc_t) * tl.load(k_ptr + i * KW + j).to(acc_t)
            oy = qy * UPY + ry
            ox = qx * UPX + rx
            tl.store(y_plane + oy[:, None].to(tl.int64) * out_w + ox[None, :], acc.to(y_ptr.dtype.element_ty),
                     mask=(oy < out_h)[:, None] & (ox < out_w)[None, :])


_BQH, _BQW = 8, 32
# Filters with more taps than this loop over them at run time instead of unrolling: a 90 x 90
# filter unrolled is 8100 masked loads, which took LLVM more than 5 minutes to compile for sm_90
# (a JIT stall at the first launch on a GPU) for a kernel no faster than the loop.
_UNROLL_TAPS = 256


def upfirdn2d(x, k, up_x: int, up_y: int, down_x: int, down_y: int, pad_x0: int, pad_y0: int, out_h: int,
              out_w: int, k1=None):
    # k1 (the separable factor of k, for the C++ kernels' two-pass tiles) is unused: the tap
    # loops here are unrolled over the 2D kernel at compile time.
    n, c, h, w = x.shape
    y = x.new_empty((n, c, out_h, out_w))
    unroll = k.shape[0] * k.shape[1] <= _UNROLL_TAPS
    if y.numel() and down_x == down_y == 1 and max(up_x, up_y) > 1 and unroll:
        grid = (n * c, triton.cdiv(triton.cdiv(out_h, up_y), _BQH), triton.cdiv(triton.cdiv(out_w, up_x), _BQW))
        _upsample_kernel[grid](x, k, y, h, w, out_h, out_w, pad_x0, pad_y0, KH=k.shape[0], KW=k.shape[1],
                               UPX=up_x, UPY=up_y, PHX=pad_x0 % up_x, PHY=pad_y0 % up_y,
                               IS_F64=x.dtype == torch.float64, BQH=_BQH, BQW=_BQW)
    elif y.numel():
        grid = (n * c, triton.cdiv(out_h, _BH), triton.cdiv(out_w, _BW))
        _upfirdn2d_kernel[grid](x, k, y, h, w, out_h, out_w, pad_x0, pad_y0, k.shape[0], k.shape[1],
                                KH=k.shape[0] if unroll else 0, KW=k.shape[1] if unroll else 0,
                                UPX=up_x, UPY=up_y, DOWNX=down_x, DOWNY=down_y,
                                IS_F64=x.dtype == torch.float64, BH=_BH, BW=_BW)
    return y

"""modconv on the compiled extension (csrc/modconv/modconv.h): the same passes as
:mod:`fastgen.ops.modconv.triton`, with the same signatures, in the kernel layout of
:mod:`fastgen.ops.modconv._library`.

Backend "cuda" reads all four float dtypes (float16 / bfloat16 accumulate in float32). The CPU
launchers run the same tile code for the tests only (no ``cpu`` backend is registered: torch's
oneDNN convolution is faster); they read float32 / float64, so float16 / bfloat16 are widened here
and the results rounded back.
"""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch

_HALF = (torch.float16, torch.bfloat16)
_GPU_PROGRAMS = 1024  # dweight: enough blocks to fill a GPU, the batch split that far


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _storage(x: torch.Tensor, *others):
    """(dtype the launcher reads, tensors in it, contiguous): CPU launchers read float32 / float64."""
    dtype = torch.float32 if x.device.type == "cpu" and x.dtype in _HALF else x.dtype
    return dtype, [None if t is None else t.to(dtype).contiguous() for t in (x,) + others]


def _scale(t, dtype):
    """A per-(sample, channel) scale in the accumulation dtype, contiguous, or None."""
    return None if t is None else t.to(_acc(dtype)).contiguous()


def _ptr(t) -> int:
    return 0 if t is None else t.data_ptr()


def _noise_strides(noise) -> tuple:
    """(stride over n, stride over channels) of a (1 or N, 1 or C, H, W) noise; 0 where broadcast."""
    if noise is None:
        return 0, 0
    nn, nc, h, w = noise.shape
    return (nc * h * w if nn > 1 else 0), (h * w if nc > 1 else 0)


def _launch_conv(x, wk, pre, post, up, down, pad_x, pad_y, out_h, out_w, epi, save_c=False, noise=None, bias=None,
                 red=None, act=0, alpha=0.0, gain=1.0, clamp=-1.0):
    """(y, c or None, red_out or None) of one conv pass (epi 0: y = c * post; epi 1: the block)."""
    out_dtype = x.dtype
    dtype, (x, wk, noise, bias, red) = _storage(x, wk, noise, bias, red)
    pre, post = _scale(pre, dtype), _scale(post, dtype)
    n, ci, h, w = x.shape
    kh, kw, _, co = wk.shape
    y = x.new_empty((n, co, out_h, out_w))
    c = torch.empty_like(y) if save_c else None
    red_out = y.new_zeros((n, co), dtype=_acc(dtype)) if red is not None else None
    sn, so = _noise_strides(noise)
    launch("modconv_conv", x.device, x.data_ptr(), wk.data_ptr(), _ptr(pre), _ptr(post), _ptr(noise), _ptr(bias),
           _ptr(red), _ptr(red_out), y.data_ptr(), _ptr(c), n, ci, co, h, w, out_h, out_w, kh, kw, up, down, pad_x,
           pad_y, sn, so, epi, act, alpha, gain, clamp, dtype_code(dtype))
    return y.to(out_dtype), None if c is None else c.to(out_dtype), red_out


def conv(x, wk, in_scale, out_scale, up, down, pad_x, pad_y, out_h, out_w, red=None):
    """(out_scale * conv(x * in_scale, wk), sum over pixels of conv(...) * red or None)."""
    if x.shape[0] * wk.shape[3] * out_h * out_w == 0 or x.shape[1] == 0:
        y = x.new_zeros((x.shape[0], wk.shape[3], out_h, out_w))
        return y, (None if red is None else y.new_zeros(y.shape[:2], dtype=_acc(x.dtype)))
    y, _, r = _launch_conv(x, wk, in_scale, out_scale, up, down, pad_x, pad_y, out_h, out_w, 0, red=red)
    return y, r


def conv_block(x, wk, pre, post, noise, bias, up, down, pad_x, pad_y, out_h, out_w, act, alpha, gain, clamp,
               save_c):
    """(y, c): the fused block and, when save_c, the raw convolution c (else an empty tensor)."""
    shape = (x.shape[0], wk.shape[3], out_h, out_w)
    if x.shape[0] * wk.shape[3] * out_h * out_w == 0:
        y = x.new_empty(shape)
        return y, (torch.empty_like(y) if save_c else y.new_empty(0))
    y, c, _ = _launch_conv(x, wk, pre, post, up, down, pad_x, pad_y, out_h, out_w, 1, save_c, noise, bias, act=act,
                           alpha=alpha, gain=gain, clamp=clamp)
    return y, (c if save_c else y.new_empty(0))


def dweight(x, in_scale, g, g_scale, up, down, pad_x, pad_y, kh, kw):
    """d wk (KH, KW, CI, CO) in the accumulation dtype for the output gradient g (N, CO, OH, OW)."""
    dtype, (x, g) = _storage(x, g)
    in_scale, g_scale = _scale(in_scale, dtype), _scale(g_scale, dtype)
    n, ci, h, w = x.shape
    co, out_h, out_w = g.shape[1:]
    tiles = -(-ci // 64) * -(-co // 64) * kh * kw  # csrc/modconv/modconv.h: kBM = kBN = 64
    # The batch is split (partial sums added here) so that enough blocks run on a GPU.
    split = max(1, min(n, _GPU_PROGRAMS // tiles)) if x.device.type == "cuda" else 1
    per = -(-n // split) if n else 1
    split = -(-n // per) if n else 1
    out = torch.zeros((split, kh, kw, ci, co), dtype=_acc(dtype), device=x.device)
    if n and ci and co:
        launch("modconv_dweight", x.device, x.data_ptr(), _ptr(in_scale), g.data_ptr(), _ptr(g_scale),
               out.data_ptr(), n, ci, co, h, w, out_h, out_w, per, split, kh, kw, up, down, pad_x, pad_y,
               dtype_code(dtype))
    return out.sum(0)


def _launch_epilogue(name, c, dy, out, part, post, noise, bias, act, alpha, gain, clamp, dtype):
    n, co, h, w = c.shape
    sn, so = _noise_strides(noise)
    launch(name, c.device, c.data_ptr(), _ptr(dy), out.data_ptr(), _ptr(part), _ptr(post), _ptr(noise), _ptr(bias),
           n, co, h * w, sn, so, act, alpha, gain, clamp, dtype_code(dtype))


def epilogue(c, post, noise, bias, act, alpha, gain, clamp):
    """y = clamp(act(c * post + noise + bias) * gain)."""
    out_dtype = c.dtype
    dtype, (c, noise, bias) = _storage(c, noise, bias)
    y = torch.empty_like(c)
    if c.numel():
        _launch_epilogue("modconv_epilogue", c, None, y, None, _scale(post, dtype), noise, bias, act, alpha, gain,
                         clamp, dtype)
    return y.to(out_dtype)


def epilogue_grad(dy, c, post, noise, bias, act, alpha, gain, clamp):
    """(dz, d post (N, CO) = sum_p dz * c, d bias (CO,) = sum_{n, p} dz), sums in the accumulation dtype."""
    out_dtype = c.dtype
    dtype, (c, dy, noise, bias) = _storage(c, dy, noise, bias)
    n, co = c.shape[:2]
    dz = torch.empty_like(c)
    part = torch.zeros((n, co, 2), dtype=_acc(dtype), device=c.device)
    if c.numel():
        _launch_epilogue("modconv_epilogue_grad", c, dy, dz, part, _scale(post, dtype), noise, bias, act, alpha, gain,
                         clamp, dtype)
    return dz.to(out_dtype), part[..., 0].contiguous(), part[..., 1].sum(0)

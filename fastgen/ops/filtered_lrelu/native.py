"""filtered_lrelu on the compiled extension (csrc/filtered_lrelu/filtered_lrelu.h): one tiled
pass per call, the upsampled image kept per tile in shared memory / a per-thread buffer.

Backend "cuda" reads all four float dtypes; the CPU launcher float32 / float64 (float16 /
bfloat16 are widened here and the result rounded back)."""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch

_HALF = (torch.float16, torch.bfloat16)


def run(x, b, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h, mid_w, out_h, out_w, mode, gain, slope,
        clamp):
    """One pass of csrc/filtered_lrelu/filtered_lrelu.h (arguments: see ``_library.run_pass``)."""
    n, c, h, w = x.shape
    out_dtype = x.dtype
    if x.device.type == "cpu" and x.dtype in _HALF:
        x = x.float()
        b = None if b is None else b.float()
    y = x.new_empty((n, c, out_h, out_w))
    if y.numel():
        launch("filtered_lrelu", x.device, x.data_ptr(), 0 if b is None else b.data_ptr(), k1.data_ptr(),
               k2.data_ptr(), 0 if mask is None else mask.data_ptr(), y.data_ptr(), n * c, c, h, w, mid_h, mid_w,
               out_h, out_w, k1.shape[0], k1.shape[-1], k2.shape[0], k2.shape[-1], int(k1.dim() == 1),
               int(k2.dim() == 1), up, down, pad1x, pad1y, pad2x, pad2y, mode, gain, slope, clamp,
               dtype_code(x.dtype))
    return y.to(out_dtype)

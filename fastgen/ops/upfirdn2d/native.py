"""upfirdn2d on the compiled extension (csrc/gan/upfirdn2d.h): tiles of outputs computed from
input windows staged in shared memory, visiting only the taps that land on input pixels.

Backend "cuda" reads all four float dtypes. The CPU launcher runs the same tile code
(float32/float64; float16/bfloat16 are widened here); it is not a registered backend, but
``torch.ops.fastgen.upfirdn2d(..., "cpu")`` reaches it, which the tests use. ``k`` is the
correlation kernel in the accumulation dtype; ``k1``, when given, its separable factor
(k = outer(k1, k1)), which the tiled kernel applies in two passes (along x, then y)."""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch

_HALF = (torch.float16, torch.bfloat16)


def upfirdn2d(x, k, up_x: int, up_y: int, down_x: int, down_y: int, pad_x0: int, pad_y0: int, out_h: int,
              out_w: int, k1=None):
    n, c, h, w = x.shape
    out_dtype = x.dtype
    if x.device.type == "cpu" and x.dtype in _HALF:
        x = x.float()
    y = x.new_empty((n, c, out_h, out_w))
    if y.numel():
        launch("upfirdn2d", x.device, x.data_ptr(), k.data_ptr(), 0 if k1 is None else k1.data_ptr(), y.data_ptr(),
               n * c, h, w, out_h, out_w, k.shape[0], k.shape[1], up_x, up_y, down_x, down_y, pad_x0, pad_y0,
               dtype_code(x.dtype))
    return y.to(out_dtype)

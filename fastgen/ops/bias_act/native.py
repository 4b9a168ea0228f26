"""bias_act on the compiled extension (backend "cuda"; the CPU launcher runs the same math and is
reachable as ``torch.ops.fastgen.bias_act(..., "cpu")``, which the tests use).

``bias_act_pass`` computes the forward (order 0), the first derivative times dy (order 1) or the
second derivative times dy * ddx (order 2), element by element in one pass over memory
(csrc/gan/bias_act.h). Inputs arrive validated and contiguous. The CUDA kernel reads all four
float dtypes; the CPU one float32/float64, so float16/bfloat16 are widened here on the CPU.
"""
from __future__ import annotations

import torch

from fastgen._ext import get_ext
from fastgen.ops._native import dtype_code, launch

_HALF = (torch.float16, torch.bfloat16)


def bias_act_pass(x, b, dy, ddx, order: int, n_channels: int, inner: int, act: int, alpha: float,
                  gain: float, clamp: float):
    out_dtype = x.dtype
    if x.device.type == "cpu" and x.dtype in _HALF:
        x, b, dy, ddx = (None if t is None else t.float() for t in (x, b, dy, ddx))
    out = torch.empty_like(x)
    if x.numel():
        get_ext()  # raises with the reason when the extension is missing
        launch("bias_act", x.device, x.data_ptr(), 0 if b is None else b.data_ptr(),
                0 if dy is None else dy.data_ptr(), 0 if ddx is None else ddx.data_ptr(),
                out.data_ptr(), x.numel(), n_channels, inner, dtype_code(x.dtype), act, order,
                float(alpha), float(gain), float(clamp))
    return out.to(out_dtype)

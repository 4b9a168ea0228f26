"""Triton kernel of bias_act (backend "triton"): the same three passes as the C++ core
(csrc/gan/bias_act.h), one program per ``_BLOCK`` consecutive elements of the flattened x.

The activation, the pass (order) and whether there is a bias or a clamp are ``tl.constexpr``,
so each combination compiles to straight-line code with no per-element branching on them.
Loads are widened to float32 (float64 stays float64); results are stored in x's dtype.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

_BLOCK = 1024
_ELU, _SELU = 5, 6
_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


@triton.jit
def _sigmoid(z):
    e = tl.exp(-tl.abs(z))  # no overflow for large |z|
    return tl.where(z >= 0, 1 / (1 + e), e / (1 + e))


@triton.jit
def _activation(z, alpha, ACT: tl.constexpr, D: tl.constexpr):
    """f(z), f'(z) or f''(z) (D = 0, 1, 2); ACT codes as in csrc/gan/bias_act.h."""
    zero = tl.zeros_like(z)
    one = zero + 1
    if ACT == 1:  # relu
        if D == 0:
            r = tl.where(z > 0, z, zero)
        elif D == 1:
            r = tl.where(z > 0, one, zero)
        else:
            r = zero
    elif ACT == 2:  # lrelu
        if D == 0:
            r = tl.where(z > 0, z, z * alpha)
        elif D == 1:
            r = tl.where(z > 0, one, one * alpha)
        else:
            r = zero
    elif ACT == 3:  # tanh = 1 - 2 / (e^{2z} + 1), computed from e^{-2|z|} to avoid overflow
        e = tl.exp(-2 * tl.abs(z))
        t = (1 - e) / (1 + e)
        t = tl.where(z >= 0, t, -t)
        if D == 0:
            r = t
        elif D == 1:
            r = 1 - t * t
        else:
            r = -2 * t * (1 - t * t)
    elif ACT == 4:  # sigmoid
        s = _sigmoid(z)
        if D == 0:
            r = s
        elif D == 1:
            r = s * (1 - s)
        else:
            r = s * (1 - s) * (1 - 2 * s)
    elif ACT == 5:  # elu (selu arrives as elu with its alpha, its scale folded into the gain)
        e = tl.exp(tl.minimum(z, zero))
        if D == 0:
            r = tl.where(z > 0, z, alpha * (e - 1))
        elif D == 1:
            r = tl.where(z > 0, one, alpha * e)
        else:
            r = tl.where(z > 0, zero, alpha * e)
    elif ACT == 7:  # softplus = max(z, 0) + log(1 + e^{-|z|})
        if D == 0:
            r = tl.maximum(z, zero) + tl.log(1 + tl.exp(-tl.abs(z)))
        else:
            s = _sigmoid(z)
            if D == 1:
                r = s
            else:
                r = s * (1 - s)
    elif ACT == 8:  # swish
        s = _sigmoid(z)
        if D == 0:
            r = z * s
        elif D == 1:
            r = s + z * s * (1 - s)
        else:
            r = s * (1 - s) * (2 + z * (1 - 2 * s))
    else:  # linear
        if D == 0:
            r = z
        elif D == 1:
            r = one
        else:
            r = zero
    return r


@triton.jit
def _bias_act_kernel(x_ptr, b_ptr, dy_ptr, ddx_ptr, out_ptr, params_ptr, n, n_channels, inner, alpha, gain, clamp,
                     ACT: tl.constexpr, ORDER: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_CLAMP: tl.constexpr,
                     IS_F64: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    acc = tl.float64 if IS_F64 else tl.float32
    if IS_F64:  # float scalar arguments arrive as float32: float64 reads them from params
        alpha = tl.load(params_ptr)
        gain = tl.load(params_ptr + 1)
        clamp = tl.load(params_ptr + 2)
    z = tl.load(x_ptr + offs, mask=ok, other=0).to(acc)
    if HAS_BIAS:
        z += tl.load(b_ptr + (offs // inner) % n_channels, mask=ok, other=0).to(acc)
    if ORDER == 0:
        y = _activation(z, alpha, ACT, 0) * gain
        if HAS_CLAMP:
            y = tl.minimum(tl.maximum(y, -clamp), clamp)
    else:
        y = tl.load(dy_ptr + offs, mask=ok, other=0).to(acc) * gain * _activation(z, alpha, ACT, ORDER)
        if ORDER == 2:
            y *= tl.load(ddx_ptr + offs, mask=ok, other=0).to(acc)
        if HAS_CLAMP:  # the clamp is active: no gradient flows
            y = tl.where(tl.abs(_activation(z, alpha, ACT, 0) * gain) > clamp, tl.zeros_like(y), y)
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=ok)


def bias_act_pass(x, b, dy, ddx, order: int, n_channels: int, inner: int, act: int, alpha: float,
                  gain: float, clamp: float):
    out = torch.empty_like(x)
    n = x.numel()
    if n:
        if act == _SELU:  # selu(z) = scale * elu(z, alpha=1.6733)
            act, alpha, gain = _ELU, _SELU_ALPHA, gain * _SELU_SCALE
        f64 = x.dtype == torch.float64
        params = torch.tensor([alpha, gain, clamp], dtype=torch.float64).to(x.device) if f64 else x
        grid = (triton.cdiv(n, _BLOCK),)
        _bias_act_kernel[grid](x, x if b is None else b, x if dy is None else dy, x if ddx is None else ddx, out,
                               params, n, n_channels, inner, float(alpha), float(gain), float(clamp),
                               ACT=act, ORDER=order, HAS_BIAS=b is not None, HAS_CLAMP=clamp >= 0,
                               IS_F64=f64, BLOCK=_BLOCK)
    return out

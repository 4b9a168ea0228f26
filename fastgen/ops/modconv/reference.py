"""modconv in plain PyTorch: the definition of correct (any device, any float dtype, autograd of
any order through torch's own ops).

* :func:`modulated_conv2d` and :func:`modconv_block`: StyleGAN2-ADA's formulas, composed of
  :func:`fastgen.ops.conv2d_resample.reference` and the bias_act reference.
* :func:`conv` and :func:`block`: what the kernels compute, in their layout (zero-inserted or
  strided convolution with per-sample input scales, then the block's epilogue); the kernel ops
  differentiate these for double backward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fastgen.ops import conv2d_resample
from fastgen.ops.bias_act import ACTIVATIONS
from fastgen.ops.bias_act import reference as bias_act_reference

DEMOD_EPS = 1e-8


def fp16_guard(x, weight, styles, demodulate: bool) -> tuple:
    """StyleGAN2-ADA's float16 overflow guard: with float16 activations and demodulation, scale
    the weight by 1 / (sqrt(I kh kw) max|w[o]|) per output channel and the styles by 1 / max|s[n]|
    per sample (demodulation cancels both scales) so that the modulated products stay small."""
    if x.dtype != torch.float16 or not demodulate:
        return weight, styles
    fan_in = weight[0].numel()
    weight = weight * (1 / fan_in ** 0.5 / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
    styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    return weight, styles


def modulated_conv2d(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight,
                     fused_modconv, input_gain):
    """StyleGAN2's modulated convolution, fused (one grouped convolution with per-sample weights)
    or not (scale x, shared convolution, scale the output). Arguments are validated;
    ``input_gain`` is None or (N, I)."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    weight, styles = fp16_guard(x, weight, styles, demodulate)
    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight[None] * styles.reshape(n, 1, i, 1, 1)  # (N, O, I, kh, kw)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + DEMOD_EPS).rsqrt()  # (N, O)
    if fused_modconv:
        if demodulate:
            w = w * dcoefs.reshape(n, o, 1, 1, 1)
        if input_gain is not None:  # StyleGAN3: after demodulation, so that it is not normalised away
            w = w * input_gain.reshape(n, 1, i, 1, 1)
        y = conv2d_resample.reference(x.reshape(1, n * i, *x.shape[2:]), w.reshape(n * o, i, kh, kw).to(x.dtype),
                                      resample_filter, up, down, padding, n, flip_weight, False)
        y = y.reshape(n, o, *y.shape[2:])
    else:
        s = styles if input_gain is None else styles * input_gain
        y = x * s.to(x.dtype).reshape(n, i, 1, 1)
        y = conv2d_resample.reference(y, weight.to(x.dtype), resample_filter, up, down, padding, 1, flip_weight,
                                      False)
        if demodulate:
            y = y * dcoefs.to(x.dtype).reshape(n, o, 1, 1)
    if noise is not None:
        y = y + noise.to(x.dtype)
    return y


def modconv_block(x, weight, styles, bias, noise, up, act, gain, clamp, resample_filter, demodulate,
                  fused_modconv=False):
    """One StyleGAN2 synthesis layer: modulated_conv2d (padding kernel // 2, flip_weight = up == 1
    as StyleGAN2's layers do), then bias_act(bias, act, def_gain * gain, clamp). Non-fused by
    default, as StyleGAN2 trains: the same result, and on CPU the grouped convolution's weight
    gradient runs one convolution per group."""
    kh, kw = weight.shape[2:]
    y = modulated_conv2d(x, weight, styles, noise, up, 1, [kw // 2, kh // 2], resample_filter, demodulate,
                         up == 1, fused_modconv, None)
    spec = ACTIVATIONS[act]
    return bias_act_reference.bias_act(y, None if bias is None else bias.to(y.dtype), 1, act, spec.alpha,
                                       spec.gain * gain, clamp)


# ---------------------------------------------------------------------------- kernel layout
def conv(x, wk, pre, up, down, pad_x, pad_y, out_h, out_w):
    """c[n, co, oy, ox] = sum_{ci, ky, kx} xz[n, ci, oy*down + ky - pad_y, ox*down + kx - pad_x]
    * pre[n, ci] * wk[ky, kx, ci, co], xz = x with up - 1 zeros inserted after each pixel."""
    if pre is not None:
        x = x * pre.to(x.dtype)[:, :, None, None]
    n, c, h, w = x.shape
    if up > 1:
        xz = x.new_zeros((n, c, h * up, w * up))
        xz[:, :, ::up, ::up] = x
        x = xz
    kh, kw = wk.shape[:2]
    need_h, need_w = (out_h - 1) * down + kh, (out_w - 1) * down + kw
    x = F.pad(x, [pad_x, need_w - pad_x - x.shape[3], pad_y, need_h - pad_y - x.shape[2]])
    return F.conv2d(x, wk.permute(3, 2, 0, 1), stride=down)


def epilogue(c, post, noise, bias, act_name: str, alpha, gain, clamp):
    """act(c * post[n, co] + noise + bias[co]) * gain, clamped (clamp < 0: none)."""
    z = c if post is None else c * post.to(c.dtype)[:, :, None, None]
    if noise is not None:
        z = z + noise
    return bias_act_reference.bias_act(z, bias, 1, act_name, alpha, gain, None if clamp < 0 else clamp)


def block(x, wk, pre, post, noise, bias, up, down, pad_x, pad_y, out_h, out_w, act_name, alpha, gain, clamp):
    """The fused kernel's result: :func:`epilogue` of :func:`conv`."""
    return epilogue(conv(x, wk, pre, up, down, pad_x, pad_y, out_h, out_w), post, noise, bias, act_name, alpha,
                    gain, clamp)

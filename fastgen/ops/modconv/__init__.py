"""Modulated convolution and the fused StyleGAN2 synthesis layer (family ``modconv``), with
StyleGAN2-ADA / StyleGAN3 semantics: :func:`modulated_conv2d` and :func:`modconv_block`.

Backends: ``reference`` (the composition of conv2d_resample and bias_act) and ``triton`` (an
implicit-GEMM convolution that scales x by the styles while loading it, applies demodulation,
noise, bias, activation, gain and clamp in its epilogue and never forms the (N, O, I, kh, kw)
modulated weights; first backward as kernels too) and ``cuda`` (the same passes as CUDA C++,
csrc/modconv: a shared-memory tiled implicit GEMM; ``auto`` picks it for CUDA tensors when the
extension is built with CUDA). No ``cpu`` backend: torch's convolution (oneDNN) is the fast CPU
path and the reference is made of it (the CUDA tile code also runs on CPU launchers, for tests).
"""
from __future__ import annotations

import math

import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops import upfirdn2d as U
from fastgen.ops.bias_act import ACTIVATIONS
from fastgen.ops.conv2d_resample import _out_size, _padding
from fastgen.ops.modconv import reference

__all__ = ["modulated_conv2d", "modconv_block"]

_BACKENDS = ("reference", "cuda", "triton")
_MISSING = {"cpu": "torch's convolution (oneDNN) is the fast CPU path, so CPU tensors run the reference"}
register_op("modulated_conv2d", "modconv", backends=_BACKENDS, missing=_MISSING)
register_op("modconv_block", "modconv", backends=_BACKENDS, missing=_MISSING)


# ---------------------------------------------------------------------------- validation
def _factor(op: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{op}: {name} must be an int >= 1, got {v!r}")
    return v


def _number(op: str, name: str, v, minimum=None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{op}: {name} must be a number, got {type(v).__name__}")
    if not math.isfinite(v) or (minimum is not None and v < minimum):
        raise ValueError(f"{op}: {name} must be a finite number" + (f" >= {minimum}" if minimum is not None else "")
                         + f", got {v!r}")
    return float(v)


def _check(op, x, weight, styles, noise, up, down, padding, f, input_gain) -> tuple:
    """Validate the modulated convolution's arguments; return (pad [x0, x1, y0, y1], out shape)."""
    V.floating(op, "x", x, ndim=4)
    V.floating(op, "weight", weight, ndim=4)
    V.floating(op, "styles", styles, ndim=2)
    V.same_dtype(op, weight=weight, styles=styles)
    V.same_device(op, x=x, weight=weight, styles=styles)
    n, i, h, w = x.shape
    o, wi, kh, kw = weight.shape
    if wi != i:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} needs x with {wi} channels, x has {i}")
    if tuple(styles.shape) != (n, i):
        raise ValueError(f"{op}: styles must have shape (batch, in_channels) = {(n, i)}, got {tuple(styles.shape)}")
    _factor(op, "up", up)
    _factor(op, "down", down)
    if f is not None:
        U._check_filter(op, f, x, "resample_filter")
    pad = _padding(f, up, down, padding)
    fw, fh = U.filter_size(f)
    out = (n, o, _out_size(op, h, up, down, pad[2], pad[3], kh, fh), _out_size(op, w, up, down, pad[0], pad[1], kw, fw))
    if noise is not None:
        V.floating(op, "noise", noise)
        V.same_device(op, x=x, noise=noise)
        try:
            ok = noise.dim() <= 4 and torch.broadcast_shapes(noise.shape, out) == out
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: noise of shape {tuple(noise.shape)} does not broadcast to the output shape {out}")
    if input_gain is not None:
        V.floating(op, "input_gain", input_gain)
        V.same_device(op, x=x, input_gain=input_gain)
        try:
            ok = torch.broadcast_shapes(input_gain.shape, (n, i)) == (n, i)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: input_gain of shape {tuple(input_gain.shape)} does not broadcast to "
                             f"(batch, in_channels) = {(n, i)}")
    return pad, out


def _backend(op, backend, x, up, down):
    be = resolve(op, backend, x.device)
    if be != "reference" and up > 1 and down > 1:
        raise ValueError(f"{op}: the {be} backend does not support up > 1 and down > 1 together "
                         f"(up={up}, down={down}); use backend='reference'")
    return be


# ---------------------------------------------------------------------------- the kernel path
def _fast(x, weight, styles, noise, bias, up, down, pad, out, f, flip_weight, demodulate, input_gain, act, alpha,
          gain, clamp, backend):
    """The non-fused formulation on the kernels: styles (and input gain) scale x as it is loaded,
    the shared weight is convolved, the demodulation coefficients scale the outputs."""
    from fastgen.ops.modconv import _library as L

    weight, styles = reference.fp16_guard(x, weight, styles, demodulate)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    w_acc, s_acc = weight.to(acc), styles.to(acc)
    n, i = styles.shape
    # d[n, o] = rsqrt(sum_{i, taps} (w[o, i] s[n, i])^2 + eps) = rsqrt(s^2 @ (sum_taps w^2)^T + eps)
    post = (s_acc.square() @ w_acc.square().sum([2, 3]).T + reference.DEMOD_EPS).rsqrt() if demodulate else None
    pre = s_acc if input_gain is None else s_acc * input_gain.to(acc).expand(n, i)
    wk = (weight if flip_weight else weight.flip([2, 3])).to(x.dtype).permute(2, 3, 1, 0).contiguous()
    if noise is not None:
        noise = noise.to(x.dtype).reshape((1,) * (4 - noise.dim()) + tuple(noise.shape))
        noise = noise.expand(*noise.shape[:2], *out[2:]).contiguous()
    bias = None if bias is None else bias.to(x.dtype).contiguous()
    code, clamp = ACTIVATIONS[act].code, -1.0 if clamp is None else clamp
    px0, px1, py0, py1 = pad
    kh, kw = weight.shape[2:]
    x = x.contiguous()
    if up > 1:  # zero-inserted convolution (a transposed one), the FIR, then the epilogue
        c = L.conv(x, wk, pre, up, 1, px0, py0, x.shape[2] * up + py0 + py1 - kh + 1,
                   x.shape[3] * up + px0 + px1 - kw + 1, backend)
        c = U.upfirdn2d(c, f, gain=up * up, backend=backend).contiguous()
        return L.epilogue(c, post, noise, bias, code, alpha, gain, clamp, backend)
    if down > 1:  # the FIR (with the padding), then a strided convolution
        x = U.upfirdn2d(x, f, padding=pad, backend=backend).contiguous()
        px0 = py0 = 0
    save_c = torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                             for t in (x, wk, pre, post, noise, bias))
    y, _ = L.block_fused(x, wk, pre, post, noise, bias, 1, down, px0, py0, out[2], out[3], code, alpha, gain, clamp,
                         save_c, backend)
    return y


# ---------------------------------------------------------------------------- public ops
def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True, input_gain=None, backend="auto"):
    r"""StyleGAN2's modulated convolution (StyleGAN2-ADA's ``modulated_conv2d``).

    With per-sample modulated weights :math:`w'_{n,o,i,k} = w_{o,i,k}\, s_{n,i}` and, when
    ``demodulate``, :math:`d_{n,o} = (\sum_{i,k} w'^2_{n,o,i,k} + 10^{-8})^{-1/2}`:

    .. math::
        y_n = \operatorname{conv2d\_resample}(x_n,\ w'_n \cdot d_n \cdot g_n) + \text{noise}

    where ``conv2d_resample`` is :func:`fastgen.gan.conv2d_resample` (FIR up/down-sampling with
    ``resample_filter``, StyleGAN's padding conventions) and :math:`g` the optional
    ``input_gain`` (StyleGAN3; applied after demodulation). ``fused_modconv=True`` computes it as
    one grouped convolution over N x O groups, ``False`` as ``x * s``, a shared convolution, then
    ``* d`` (+ noise); both give the same result. With float16 x and demodulation, the weight and
    styles are first divided by their max-norms (StyleGAN2-ADA's overflow guard; demodulation
    cancels the scales).

    Args:
        x: (N, I, H, W) float16, bfloat16, float32 or float64.
        weight: (O, I, kh, kw) float; cast to x's dtype for the convolution.
        styles: (N, I), weight's dtype.
        noise: optional tensor broadcastable to the output (N, O, H', W'), added last.
        up, down: int >= 1 (the triton and cuda backends: not both > 1).
        padding: int, [px, py] or [x0, x1, y0, y1], as in conv2d_resample.
        resample_filter: float32 FIR filter (:func:`fastgen.gan.setup_filter`) or None.
        demodulate: normalise each output channel (StyleGAN2's weight demodulation).
        flip_weight: True = correlate (torch's conv2d), False = true convolution.
        fused_modconv: the reference's formulation (see above). The triton and cuda backends always
            run the non-fused formulation on one kernel, never forming the modulated weights.
        input_gain: optional tensor broadcastable to (N, I) scaling the input channels.
        backend: ``"auto"``, ``"reference"``, ``"cuda"`` or ``"triton"`` (CPU tensors run the
            reference: torch's oneDNN convolution is the fast CPU path; CUDA tensors run cuda when
            the extension has CUDA, else triton).

    Returns:
        (N, O, H', W') tensor of x's dtype, differentiable with respect to x, weight, styles,
        noise and input_gain; twice differentiable (path-length regularisation).

    Example::

        >>> x, w, s = torch.randn(4, 8, 16, 16), torch.randn(6, 8, 3, 3), torch.randn(4, 8)
        >>> y = fastgen.gan.modulated_conv2d(x, w, s, padding=1)
        >>> y.shape
        torch.Size([4, 6, 16, 16])
    """
    op = "modulated_conv2d"
    pad, out = _check(op, x, weight, styles, noise, up, down, padding, resample_filter, input_gain)
    be = _backend(op, backend, x, up, down)
    if input_gain is not None:
        input_gain = input_gain.expand(x.shape[0], x.shape[1])
    if be == "reference":
        return reference.modulated_conv2d(x, weight, styles, noise, up, down, padding, resample_filter,
                                          bool(demodulate), bool(flip_weight), bool(fused_modconv), input_gain)
    return _fast(x, weight, styles, noise, None, up, down, pad, out, resample_filter, bool(flip_weight),
                 bool(demodulate), input_gain, "linear", 0.0, 1.0, None, be)


def modconv_block(x, weight, styles, bias, noise=None, up=1, act="lrelu", gain=1, clamp=None, resample_filter=None,
                  demodulate=True, backend="auto"):
    r"""One StyleGAN2 synthesis layer: modulated convolution + noise + bias + activation + gain + clamp.

    .. math::
        y = \operatorname{clamp}\big(\operatorname{act}(\operatorname{modulated\_conv2d}(x, w, s,
        \text{noise}, \text{up}) + b) \cdot g_{act} \cdot \text{gain},\ \pm\text{clamp}\big)

    with StyleGAN2's layer conventions: padding ``kernel // 2`` (a 3x3 kernel keeps the size, up
    multiplies it), ``flip_weight = (up == 1)``, ``g_act`` the activation's default gain
    (:data:`fastgen.gan.ACTIVATIONS`: sqrt(2) for lrelu). The clamp is in output units (StyleGAN2
    passes ``conv_clamp * gain``).

    The triton and cuda backends run it in the fewest passes (the same passes): for up = 1 one implicit-GEMM kernel (styles
    applied while x is loaded, demodulation, noise, bias, activation, gain and clamp in its
    epilogue); for up > 1 the zero-inserted (transposed) convolution as an implicit GEMM that
    skips the inserted zeros, the FIR (:func:`fastgen.gan.upfirdn2d`), then one epilogue kernel.
    Backward: one kernel for the activation gradient (with the bias and demodulation
    reductions), the transposed implicit GEMM for dx (and the styles' reduction) and an implicit
    GEMM over batch and pixels for the weight. Double backward differentiates the reference.

    Args:
        x: (N, I, H, W) float16, bfloat16, float32 or float64.
        weight: (O, I, kh, kw); styles: (N, I) in weight's dtype.
        bias: (O,) or None, cast to x's dtype.
        noise: optional tensor broadcastable to the output (N, O, H * up, W * up) (StyleGAN2:
            (N, 1, H', W') noise times its strength).
        up: int >= 1; act, gain, clamp: as :func:`fastgen.gan.bias_act`.
        resample_filter: FIR filter for up > 1 (StyleGAN2: ``setup_filter([1, 3, 3, 1])``).
        demodulate: weight demodulation.
        backend: ``"auto"``, ``"reference"``, ``"cuda"`` or ``"triton"``.

    Returns:
        (N, O, H', W') tensor of x's dtype, twice differentiable with respect to x, weight,
        styles, bias and noise.

    Example::

        >>> x, w, s, b = torch.randn(2, 8, 16, 16), torch.randn(8, 8, 3, 3), torch.randn(2, 8), torch.zeros(8)
        >>> f = fastgen.gan.setup_filter([1, 3, 3, 1])
        >>> y = fastgen.gan.modconv_block(x, w, s, b, up=2, resample_filter=f)   # (2, 8, 32, 32)
    """
    op = "modconv_block"
    V.floating(op, "weight", weight, ndim=4)
    kh, kw = weight.shape[2:]
    pad, out = _check(op, x, weight, styles, noise, up, 1, [kw // 2, kh // 2], resample_filter, None)
    if bias is not None:
        V.floating(op, "bias", bias, ndim=1)
        V.same_device(op, x=x, bias=bias)
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"{op}: bias must have out_channels = {weight.shape[0]} entries, got {bias.shape[0]}")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
    gain = _number(op, "gain", gain)
    clamp = None if clamp is None else _number(op, "clamp", clamp, minimum=0)
    be = _backend(op, backend, x, up, 1)
    if be == "reference":
        return reference.modconv_block(x, weight, styles, bias, noise, up, act, gain, clamp, resample_filter,
                                       bool(demodulate))
    spec = ACTIVATIONS[act]
    return _fast(x, weight, styles, noise, bias, up, 1, pad, out, resample_filter, up == 1, bool(demodulate), None,
                 act, spec.alpha, spec.gain * gain, clamp, be)

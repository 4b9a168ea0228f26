"""Upsample, filter, leaky ReLU, filter, downsample in one pass (family ``filtered_lrelu``), with
StyleGAN3's semantics and gradients of every order."""
from __future__ import annotations

import math

import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.filtered_lrelu import reference
from fastgen.ops.upfirdn2d import filter_size, parse_padding

__all__ = ["filtered_lrelu"]

register_op("filtered_lrelu", "filtered_lrelu", backends=("reference", "cpu", "cuda", "triton"))

FACTORS = (1, 2, 4)  # up / down, as StyleGAN3's kernels: the kernels' scratch is sized for these
MAX_TAPS = 32        # per filter axis


def _check_filter(op: str, name: str, f, x) -> None:
    if f is None:
        return
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor or None, got {type(f).__name__}")
    if f.dim() not in (1, 2):
        raise ValueError(f"{op}: {name} must be a 1D (separable) or 2D filter, got shape {tuple(f.shape)}")
    if f.dtype != torch.float32:
        raise TypeError(f"{op}: {name} must be float32, got {str(f.dtype).replace('torch.', '')}")
    if f.numel() == 0 or max(f.shape) > MAX_TAPS:
        raise ValueError(f"{op}: {name} must have 1..{MAX_TAPS} taps per axis, got shape {tuple(f.shape)}")
    if f.requires_grad:
        raise ValueError(f"{op}: {name} must not require grad (filters are constants); pass {name}.detach()")
    V.same_device(op, x=x, **{name: f})


def _factor(op: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{op}: {name} must be an int (the same factor along x and y), got {v!r}")
    if v not in FACTORS:
        raise ValueError(f"{op}: {name} must be 1, 2 or 4, got {v}")
    return v


def _number(op: str, name: str, v, minimum: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{op}: {name} must be a number, got {type(v).__name__}")
    if not math.isfinite(v) or v < minimum:
        raise ValueError(f"{op}: {name} must be a finite number >= {minimum}, got {v!r}")
    return float(v)


def correlation_taps(f, flip_filter: bool, gain: float, dtype: torch.dtype, device) -> torch.Tensor:
    """f (None = [[1]]) times ``gain`` (``gain ** 0.5`` per axis when 1D) as the kernel the
    passes correlate with: flipped unless ``flip_filter``, kept 1D (separable) or 2D."""
    if f is None:
        return torch.full((1, 1), gain, dtype=dtype, device=device)
    k = f.to(dtype) * gain ** (f.dim() / 2)
    return (k if flip_filter else k.flip(list(range(k.dim())))).contiguous()


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2, clamp=None,
                   flip_filter=False, backend="auto"):
    r"""Bias, upsample, filter, leaky ReLU, clamp, filter, downsample (StyleGAN3's ``filtered_lrelu``).

    Per channel c:

    .. math::
        y = \downarrow_{d}\Big( f_d * \operatorname{clamp}\big(g\cdot
        \operatorname{lrelu}_{s}\big(u^2 f_u * \operatorname{pad}_p(\uparrow_{u}(x + b_c))\big),
        \ \pm\,\text{clamp}\big)\Big)

    1. add ``b[c]``; 2. upsample by inserting ``up - 1`` zeros after every pixel; 3. pad by
    ``padding`` = [x0, x1, y0, y1] relative to the upsampled image (negative crops); 4. convolve
    with ``fu`` times ``up ** 2`` (zero insertion divides the mean by that); 5. multiply by
    ``gain``, leaky ReLU with ``slope``, clamp to [-clamp, clamp]; 6. convolve with ``fd``;
    7. keep every ``down``-th pixel. Convolutions are true ones (the filter is flipped) unless
    ``flip_filter``; a 1D filter is separable (along x, then y). The output has
    :math:`\lfloor (H u + p_{y0} + p_{y1} - (f_{u,h} - 1) - (f_{d,h} - 1) + d - 1) / d \rfloor`
    rows (and likewise columns).

    Args:
        x: (N, C, H, W) float16, bfloat16, float32 or float64.
        fu, fd: float32 filters, 1D (separable) or 2D, at most 32 taps per axis, on x's device,
            or None (identity). They get no gradient.
        b: optional (C,) bias of x's dtype.
        up, down: 1, 2 or 4 (the same along x and y).
        padding: int, [px, py] or [x0, x1, y0, y1].
        gain, slope: leaky ReLU's output scale and negative slope (>= 0).
        clamp: None, or clamp the activations to [-clamp, clamp] (zero gradient where clamped).
        flip_filter: correlate instead of convolve.
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``.

    Returns:
        (N, C, H', W') tensor of x's dtype, differentiable with respect to x and b to any order.
        The kernels do everything in one tiled pass: the upsampled, filtered image of a tile
        stays in shared memory (a per-thread buffer on the CPU) and never reaches global memory;
        when a gradient is needed they also write one byte per pixel of it (the sign and clamp
        mask), from which the backward (dx as one transposed pass, db = its sum) and the double
        backward run on the same kernel. Accumulation is in float32 (float64 for float64).

    Example::

        >>> f = fastgen.gan.setup_filter(torch.ones(12))          # separable 12 taps
        >>> x = torch.randn(2, 8, 36, 36)
        >>> y = fastgen.gan.filtered_lrelu(x, f, f, torch.zeros(8), up=2, down=2, padding=[11, 10, 11, 10])
        >>> y.shape
        torch.Size([2, 8, 36, 36])
    """
    op = "filtered_lrelu"
    V.floating(op, "x", x, ndim=4)
    _check_filter(op, "fu", fu, x)
    _check_filter(op, "fd", fd, x)
    if b is not None:
        V.floating(op, "b", b, ndim=1)
        V.same_dtype(op, x=x, b=b)
        V.same_device(op, x=x, b=b)
        if b.shape[0] != x.shape[1]:
            raise ValueError(f"{op}: b must have x.shape[1] = {x.shape[1]} entries, got {b.shape[0]}")
    up, down = _factor(op, "up", up), _factor(op, "down", down)
    pad = parse_padding(op, padding)
    gain, slope = _number(op, "gain", gain, 0.0), _number(op, "slope", slope, 0.0)
    clamp = None if clamp is None else _number(op, "clamp", clamp, 0.0)
    if not isinstance(flip_filter, bool):
        raise TypeError(f"{op}: flip_filter must be a bool, got {type(flip_filter).__name__}")
    (fuw, fuh), (fdw, fdh) = filter_size(fu), filter_size(fd)
    mid_h, mid_w = x.shape[2] * up + pad[2] + pad[3] - fuh + 1, x.shape[3] * up + pad[0] + pad[1] - fuw + 1
    if mid_h < fdh or mid_w < fdw:
        raise ValueError(f"{op}: up={up}, padding={list(pad)} and filters fu {fuh}x{fuw}, fd {fdh}x{fdw} leave no "
                         f"output pixel for a {x.shape[2]}x{x.shape[3]} image")
    be = resolve(op, backend, x.device)
    if be == "reference":
        return reference.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip_filter)
    from fastgen.ops.filtered_lrelu import _library as L

    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    ku = correlation_taps(fu, flip_filter, float(up * up), dtype, x.device)
    kd = correlation_taps(fd, flip_filter, 1.0, dtype, x.device)
    save_mask = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
    y, _ = L.filtered_lrelu(x.contiguous(), None if b is None else b.contiguous(), ku, kd, up, down, *pad, gain,
                            slope, -1.0 if clamp is None else clamp, save_mask, be)
    return y

"""FIR resampling of images (family ``upfirdn2d``) with StyleGAN2-ADA / StyleGAN3 semantics:
``upfirdn2d`` and its helpers ``setup_filter``, ``filter2d``, ``upsample2d``, ``downsample2d``.

Conventions (StyleGAN's): x is NCHW; a filter ``f`` is a float32 tensor, 1D ``[taps]``
(separable: applied along x, then along y) or 2D ``[fh, fw]``, or None (the identity [[1]]);
``up`` / ``down`` are an int or ``[x, y]``; ``padding`` is an int, ``[px, py]`` or
``[x0, x1, y0, y1]``, negative values crop.
"""
from __future__ import annotations

import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.upfirdn2d import reference

__all__ = ["upfirdn2d", "setup_filter", "filter2d", "upsample2d", "downsample2d"]

# No "cpu" backend: the C++ launcher (csrc/gan/gan_cpu.cpp, which runs the CUDA kernel's tile
# code and is tested through torch.ops.fastgen.upfirdn2d) loses to the reference's
# depthwise conv2d (oneDNN) on CPU (benchmarks/cases/gan.py), so CPU tensors run the reference.
_BACKENDS = ("reference", "cuda", "triton")
_MISSING = {"cpu": "its C++ kernel is tested but loses to torch's depthwise conv2d (oneDNN), "
                   "so CPU tensors run the reference"}
for _name in __all__:
    if _name != "setup_filter":
        register_op(_name, "upfirdn2d", backends=_BACKENDS, missing=_MISSING)


# ---------------------------------------------------------------------------- argument parsing
def _int(op: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{op}: {name} must be an int, got {v!r}")
    return v


def parse_scaling(op: str, name: str, s) -> tuple:
    """``s`` or ``[sx, sy]`` -> (sx, sy), each an int >= 1."""
    pair = tuple(s) if isinstance(s, (list, tuple)) else (s, s)
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be an int or [x, y], got {s!r}")
    pair = tuple(_int(op, name, v) for v in pair)
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {s!r}")
    return pair


def parse_padding(op: str, padding) -> tuple:
    """``p``, ``[px, py]`` or ``[x0, x1, y0, y1]`` -> (x0, x1, y0, y1) ints (negative = crop)."""
    p = tuple(padding) if isinstance(padding, (list, tuple)) else (padding,)
    if len(p) not in (1, 2, 4):
        raise ValueError(f"{op}: padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding!r}")
    p = tuple(_int(op, "padding", v) for v in p)
    if len(p) == 1:
        return p * 4
    if len(p) == 2:
        return (p[0], p[0], p[1], p[1])
    return p


def filter_size(f) -> tuple:
    """(fw, fh) of a filter (None: (1, 1); 1D: the same along both axes)."""
    if f is None:
        return 1, 1
    return f.shape[-1], f.shape[0]


def _check_filter(op: str, f, x, name: str = "f") -> None:
    if f is None:
        return
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor or None (see setup_filter), got {type(f).__name__}")
    if f.dim() not in (1, 2):
        raise ValueError(f"{op}: {name} must be a 1D (separable) or 2D filter, got shape {tuple(f.shape)}")
    if f.dtype != torch.float32:
        raise TypeError(f"{op}: {name} must be float32 (as setup_filter makes it), got "
                        f"{str(f.dtype).replace('torch.', '')}")
    if f.numel() == 0:
        raise ValueError(f"{op}: {name} must have at least one tap, got shape {tuple(f.shape)}")
    if f.requires_grad:
        raise ValueError(f"{op}: {name} must not require grad (filters are constants: no gradient is computed "
                         "for them); pass f.detach() or register it as a buffer")
    V.same_device(op, **{"x": x, name: f})


# ---------------------------------------------------------------------------- upfirdn2d
def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, backend="auto"):
    r"""Upsample, pad, FIR-filter and downsample a batch of images (StyleGAN's ``upfirdn2d``).

    1. upsample x by inserting ``up - 1`` zeros after each pixel (along x and y),
    2. pad by ``padding`` = [x0, x1, y0, y1] (negative values crop),
    3. convolve every channel with ``f`` times ``gain`` (a true convolution: the filter is
       flipped, unless ``flip_filter``; a 1D filter is applied along x then along y, each time
       scaled by ``sqrt(gain)``),
    4. keep every ``down``-th pixel.

    The output has :math:`\lfloor (H\,u_y + p_{y0} + p_{y1} - f_h) / d_y \rfloor + 1` rows (and
    likewise columns); padding that leaves no output pixel is an error.

    Args:
        x: (N, C, H, W) float16, bfloat16, float32 or float64.
        f: float32 filter, 1D (separable) or 2D, on x's device, or None for [[1]]; see
            :func:`setup_filter`. It gets no gradient.
        up, down: int or [x, y], >= 1.
        padding: int, [px, py] or [x0, x1, y0, y1].
        flip_filter: correlate instead of convolve.
        gain: overall scale of the filter.
        backend: ``"auto"``, ``"reference"``, ``"cuda"`` or ``"triton"`` (CPU tensors run the
            reference, the faster path there).

    Returns:
        (N, C, H', W') tensor of x's dtype, differentiable with respect to x to any order (the
        backward is upfirdn2d again, with the filter flipped and up/down swapped). Kernels read
        x directly (nothing zero-inserted or padded is stored; the CUDA kernel stages each
        output tile's input window in shared memory and applies a separable filter in two
        passes) and accumulate in float32 (float64 for float64).

    Example::

        >>> f = fastgen.gan.setup_filter([1, 3, 3, 1])
        >>> y = fastgen.gan.upfirdn2d(torch.randn(1, 3, 8, 8), f, up=2, padding=[2, 1, 2, 1], gain=4)
        >>> y.shape
        torch.Size([1, 3, 16, 16])
    """
    op = "upfirdn2d"
    V.floating(op, "x", x, ndim=4)
    _check_filter(op, f, x)
    ups, downs = parse_scaling(op, "up", up), parse_scaling(op, "down", down)
    pad = parse_padding(op, padding)
    if isinstance(gain, bool) or not isinstance(gain, (int, float)):
        raise TypeError(f"{op}: gain must be a number, got {gain!r}")
    fw, fh = filter_size(f)
    h, w = x.shape[2], x.shape[3]
    pre_h, pre_w = h * ups[1] + pad[2] + pad[3], w * ups[0] + pad[0] + pad[1]
    if pre_h < fh or pre_w < fw:
        raise ValueError(f"{op}: up={up}, padding={list(pad)} and a {fh}x{fw} filter leave no output pixel for a "
                         f"{h}x{w} image (the padded, upsampled image is {pre_h}x{pre_w}, smaller than the filter)")
    be = resolve(op, backend, x.device)
    if be == "reference":
        return reference.upfirdn2d(x, f, ups, downs, pad, bool(flip_filter), float(gain))
    from fastgen.ops.upfirdn2d import _library as L

    k, k1 = correlation_kernel(f, bool(flip_filter), float(gain), x)
    return L.upfirdn2d(x.contiguous(), k, *ups, *downs, *pad, be, k1)


def correlation_kernel(f, flip_filter: bool, gain: float, x) -> tuple:
    """(k, k1): the (fh, fw) kernel the kernels correlate with (f scaled by the gain, per axis
    for a separable filter, expanded to 2D, flipped unless ``flip_filter``) and, for a separable
    f, its factor k1 (k = outer(k1, k1)), else None; float64 for float64 x (so that nothing is
    rounded to float32), else float32."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if f is None:
        return torch.full((1, 1), gain, dtype=dtype, device=x.device), None
    k = f.to(dtype) * gain ** (f.dim() / 2)
    if not flip_filter:
        k = k.flip(list(range(k.dim())))
    k = k.contiguous()
    if k.dim() == 1:
        return torch.outer(k, k), k
    return k, None


# ---------------------------------------------------------------------------- helpers
def setup_filter(f, device=torch.device("cpu"), normalize=True, flip_filter=False, gain=1, separable=None):
    """A float32 FIR filter tensor for :func:`upfirdn2d` from taps (StyleGAN's ``setup_filter``).

    Args:
        f: taps as a number, a list, an array or a tensor (0D, 1D or 2D); None means [1].
        device: where to put the result.
        normalize: divide by the sum of the taps (so the filter keeps the mean; the sum must
            not be 0).
        flip_filter: flip the filter (along every axis).
        gain: scale of the overall filter (``gain ** 0.5`` per tap of a separable one).
        separable: keep a 1D filter 1D (True) or make it 2D by the outer product with itself
            (False). None: separable exactly when f is 1D with at least 8 taps.

    Returns:
        float32 tensor, 1D (separable) or 2D.

    Example::

        >>> fastgen.gan.setup_filter([1, 3, 3, 1])   # 4x4, sums to 1
    """
    op = "setup_filter"
    f = torch.as_tensor(1 if f is None else f, dtype=torch.float32)
    if f.dim() > 2 or f.numel() == 0:
        raise ValueError(f"{op}: f must be a number or non-empty 1D/2D taps, got shape {tuple(f.shape)}")
    if f.dim() == 0:
        f = f[None]
    if separable is None:
        separable = f.dim() == 1 and f.numel() >= 8
    if f.dim() == 1 and not separable:
        f = torch.outer(f, f)
    if f.dim() != (1 if separable else 2):
        raise ValueError(f"{op}: separable=True needs 1D taps, got shape {tuple(f.shape)}")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.dim())))
    f = f * gain ** (f.dim() / 2)
    return f.to(device=device)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, backend="auto"):
    """Filter x with f, padded so that the output has x's size (plus ``padding``).

    StyleGAN's ``filter2d``: ``upfirdn2d`` with padding [x0 + fw // 2, x1 + (fw - 1) // 2,
    y0 + fh // 2, y1 + (fh - 1) // 2]. Arguments as in :func:`upfirdn2d`.
    """
    px0, px1, py0, py1 = parse_padding("filter2d", padding)
    fw, fh = filter_size(f)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, backend=backend)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, backend="auto"):
    """Upsample x by ``up`` with the interpolation filter f; output size ``(H * up_y, W * up_x)``
    (plus ``padding``).

    StyleGAN's ``upsample2d``: ``upfirdn2d`` with padding [x0 + (fw + ux - 1) // 2,
    x1 + (fw - ux) // 2, ...] and gain multiplied by ``ux * uy`` (zero insertion divides the
    mean by that). Arguments as in :func:`upfirdn2d`.
    """
    ux, uy = parse_scaling("upsample2d", "up", up)
    px0, px1, py0, py1 = parse_padding("upsample2d", padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw + ux - 1) // 2, px1 + (fw - ux) // 2, py0 + (fh + uy - 1) // 2, py1 + (fh - uy) // 2]
    return upfirdn2d(x, f, up=up, padding=pad, flip_filter=flip_filter, gain=gain * ux * uy, backend=backend)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, backend="auto"):
    """Downsample x by ``down`` after filtering with f; output size ``(H // down_y, W // down_x)``
    for even sizes (plus ``padding``).

    StyleGAN's ``downsample2d``: ``upfirdn2d`` with padding [x0 + (fw - dx + 1) // 2,
    x1 + (fw - dx) // 2, ...]. Arguments as in :func:`upfirdn2d`.
    """
    dx, dy = parse_scaling("downsample2d", "down", down)
    px0, px1, py0, py1 = parse_padding("downsample2d", padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw - dx + 1) // 2, px1 + (fw - dx) // 2, py0 + (fh - dy + 1) // 2, py1 + (fh - dy) // 2]
    return upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter, gain=gain, backend=backend)

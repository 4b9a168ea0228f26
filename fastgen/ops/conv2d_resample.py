"""2D convolution fused with FIR up/downsampling (StyleGAN2-ADA / StyleGAN3's
``conv2d_resample``), composed of torch's convolutions and :func:`fastgen.ops.upfirdn2d.upfirdn2d`.

torch's convolutions support double backward, so no "gradfix" is needed: the result is
differentiable to any order with respect to x and w (and to second order through the
upfirdn2d kernels' backward, which is upfirdn2d again).
"""
from __future__ import annotations

import torch.nn.functional as F

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops import upfirdn2d as U
from fastgen.ops.upfirdn2d import reference as upfirdn2d_reference

__all__ = ["conv2d_resample"]

register_op("conv2d_resample", "upfirdn2d", backends=U._BACKENDS, missing=U._MISSING)


def _out_size(op: str, size: int, up: int, down: int, p0: int, p1: int, k: int, taps: int) -> int:
    """StyleGAN's conv2d_resample output length: FIR-upsample (or pad), convolve, FIR-downsample;
    an error when a step leaves no pixel."""
    after_up = size * up + p0 + p1 - (taps if up > 1 else 1) + 1
    after_conv = after_up - k + 1
    out = (after_conv - taps) // down + 1 if down > 1 else after_conv
    if min(after_up, after_conv, out) < 1:
        raise ValueError(f"{op}: up={up}, down={down}, padding [{p0}, {p1}], a {k}-tap kernel and a {taps}-tap "
                         f"filter leave no output pixel for size {size}")
    return out


def _padding(f, up: int, down: int, padding) -> list:
    """[x0, x1, y0, y1]: the user's padding plus what up- and downsampling by f need so that the
    output has size in * up / down (StyleGAN's conventions, as in upsample2d / downsample2d)."""
    px0, px1, py0, py1 = U.parse_padding("conv2d_resample", padding)
    fw, fh = U.filter_size(f)
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    return [px0, px1, py0, py1]


def _conv(x, w, flip_weight: bool, groups: int, **kwargs):
    """conv2d correlates; flip_weight=False asks for a true convolution, i.e. the flipped kernel."""
    return F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups, **kwargs)


def reference(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """The definition: upsample with f (gain up^2) and pad, convolve with w, downsample with f."""
    pad = _padding(f, up, down, padding)
    x = upfirdn2d_reference.upfirdn2d(x, f if up > 1 else None, (up, up), (1, 1), pad, flip_filter, up * up)
    x = _conv(x, w, flip_weight, groups)
    if down > 1:
        x = upfirdn2d_reference.upfirdn2d(x, f, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1.0)
    return x


def _transposed_weight(w, groups: int):
    """w (out, in / groups, kh, kw) as conv_transpose2d's weight (in, out / groups, kh, kw)."""
    out_ch, in_per_group, kh, kw = w.shape
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_ch // groups, kh, kw)


def _fast(x, w, f, up, down, pad, groups, flip_weight, flip_filter, backend):
    """The same result as :func:`reference`, with the resampling folded into the convolution."""
    kh, kw = w.shape[2:]
    px0, px1, py0, py1 = pad

    def fir(x, **kw_):
        return U.upfirdn2d(x, f, flip_filter=flip_filter, backend=backend, **kw_)

    if kh == kw == 1 and up == 1 and down > 1:  # a 1x1 conv commutes with resampling: shrink first
        return _conv(fir(x, down=down, padding=pad), w, flip_weight, groups)
    if kh == kw == 1 and up > 1 and down == 1:  # ... and grow last
        return fir(_conv(x, w, flip_weight, groups), up=up, padding=pad, gain=up * up)
    if up == 1 and down > 1:  # filter, then a strided conv = conv then keep every down-th pixel
        return _conv(fir(x, padding=pad), w, flip_weight, groups, stride=down)
    if up > 1:
        # Zero insertion followed by the conv is a transposed conv with the flipped kernel;
        # the FIR then runs on its output with the padding shifted by the conv's extent. When
        # both sides would be cropped, the transposed conv crops (pt) instead of computing them.
        qx0, qx1, qy0, qy1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        ptx, pty = max(min(-qx0, -qx1), 0), max(min(-qy0, -qy1), 0)
        wt = _transposed_weight(w.flip([2, 3]) if flip_weight else w, groups)
        x = F.conv_transpose2d(x, wt, stride=up, padding=[pty, ptx], groups=groups)
        x = fir(x, padding=[qx0 + ptx, qx1 + ptx, qy0 + pty, qy1 + pty], gain=up * up)
        return fir(x, down=down) if down > 1 else x
    if px0 == px1 >= 0 and py0 == py1 >= 0:  # no resampling: conv2d pads symmetric amounts itself
        return _conv(x, w, flip_weight, groups, padding=[py0, px0])
    return _conv(U.upfirdn2d(x, None, padding=pad, backend=backend), w, flip_weight, groups)


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False,
                    backend="auto"):
    r"""2D convolution with optional FIR up/downsampling (StyleGAN's ``conv2d_resample``).

    Computes, with StyleGAN's padding conventions (output size ``in * up / down`` plus
    ``padding``-dependent terms):

    1. ``upfirdn2d(x, f, up=up, padding=p, gain=up**2)`` (skipped filter when up == 1),
    2. ``conv2d(., w, groups=groups)`` (a correlation if ``flip_weight``, else a convolution),
    3. ``upfirdn2d(., f, down=down)`` when down > 1,

    where p is ``padding`` plus the padding up/downsampling by f need. The kernel backends run
    the same function faster: a transposed convolution for up > 1, a strided one for down > 1,
    1x1 convolutions on the smaller side, and ``upfirdn2d`` of that backend for the filtering.

    NaN / inf policy: non-finite values propagate, unchecked (checking would cost a host sync).
    Because the fast paths reorder the arithmetic, they may leave finite some pixels the reference
    makes NaN (a NaN weight times an inserted zero, when a 1x1 convolution runs before the
    upsampling); they never make NaN a pixel the reference leaves finite.

    Args:
        x: (N, C_in, H, W) float tensor.
        w: (C_out, C_in / groups, kh, kw) weights, x's dtype and device.
        f: float32 FIR filter (1D or 2D, see :func:`fastgen.gan.setup_filter`) or None.
        up, down: int >= 1.
        padding: int, [px, py] or [x0, x1, y0, y1] (before the resampling adjustment).
        groups: convolution groups.
        flip_weight: True (default) = correlate with w, as torch's conv2d; False = convolve.
        flip_filter: correlate with f instead of convolving.
        backend: ``"reference"`` (the three steps above with the reference upfirdn2d), or
            ``"cuda"`` / ``"triton"`` for the fused paths with that backend's upfirdn2d.
            ``"auto"``: the fused paths on CUDA tensors, the reference on CPU ones.

    Returns:
        (N, C_out, H', W') tensor, differentiable with respect to x and w.

    Example::

        >>> f = fastgen.gan.setup_filter([1, 3, 3, 1])
        >>> y = fastgen.gan.conv2d_resample(torch.randn(2, 8, 16, 16), torch.randn(4, 8, 3, 3), f, up=2, padding=1)
        >>> y.shape
        torch.Size([2, 4, 32, 32])
    """
    op = "conv2d_resample"
    V.floating(op, "x", x, ndim=4)
    V.floating(op, "w", w, ndim=4)
    V.same_dtype(op, x=x, w=w)
    V.same_device(op, x=x, w=w)
    for name, v in (("up", up), ("down", down), ("groups", groups)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{op}: {name} must be an int >= 1, got {v!r}")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"{op}: w of shape {tuple(w.shape)} with groups={groups} does not fit x with "
                         f"{x.shape[1]} channels (need w.shape[1] * groups == C_in and groups | C_out)")
    if f is not None:
        U._check_filter(op, f, x)
    pad = _padding(f, up, down, padding)
    fw, fh = U.filter_size(f)
    _out_size(op, x.shape[2], up, down, pad[2], pad[3], w.shape[2], fh)
    _out_size(op, x.shape[3], up, down, pad[0], pad[1], w.shape[3], fw)
    be = resolve(op, backend, x.device)
    if be == "reference":
        return reference(x, w, f, up, down, padding, groups, bool(flip_weight), bool(flip_filter))
    return _fast(x, w, f, up, down, pad, groups, bool(flip_weight), bool(flip_filter), be)

"""upfirdn2d in plain PyTorch: the definition of correct, built from torch's own ops (zero
insertion by reshape + pad, F.pad with negative amounts for cropping, a depthwise conv2d with
the flipped filter, strided slicing), so autograd of any order comes from torch."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: tuple, down: tuple, padding: tuple,
              flip_filter: bool, gain: float) -> torch.Tensor:
    """Arguments already parsed: ``up = (ux, uy)``, ``down = (dx, dy)``, ``padding = (x0, x1, y0, y1)``.

    Upsample x (N, C, H, W) by inserting ``u - 1`` zeros after every pixel along each axis, pad
    (negative = crop), convolve each channel with f (1D: along x then along y; 2D: directly;
    a true convolution, i.e. correlation with the flipped filter, unless ``flip_filter``),
    scaled by ``gain`` (``gain ** 0.5`` per axis for a 1D filter), then keep every ``d``-th pixel.
    """
    (ux, uy), (dx, dy), (px0, px1, py0, py1) = up, down, padding
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if ux > 1 or uy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, ux - 1, 0, 0, 0, uy - 1])
        x = x.reshape(n, c, h * uy, w * ux)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    f = f.to(x.dtype) * gain ** (f.dim() / 2)
    if not flip_filter:  # conv2d correlates: flipping the filter makes it a convolution
        f = f.flip(list(range(f.dim())))
    if f.dim() == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None].expand(c, 1, 1, f.shape[0]), groups=c)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.shape[0], 1), groups=c)
    return x[:, :, ::dy, ::dx]

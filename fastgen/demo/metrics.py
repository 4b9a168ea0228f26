"""Image quality metrics of the demos: PSNR and SSIM, in torch."""
from __future__ import annotations

import math

import torch


def psnr(image: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: ``-10 log10(mean((image - target)^2))``."""
    mse = float(((image.float() - target.float()) ** 2).mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(image: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> float:
    r"""Structural similarity (Wang et al. 2004) of ``(H, W, C)`` images in [0, 1], Gaussian window.

    Local statistics are Gaussian-weighted (``window`` x ``window``, std ``sigma``) over the
    positions where the window fits ("valid"), per channel; SSIM is the mean over positions and
    channels of

    .. math::
        \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \quad C_1 = (k_1 L)^2,\ C_2 = (k_2 L)^2,\ L = 1.

    Images smaller than the window use a window of their smaller side (odd).
    """
    if image.shape != target.shape or image.dim() != 3:
        raise ValueError(f"ssim: expected two (H, W, C) images of one shape, got {tuple(image.shape)} "
                         f"and {tuple(target.shape)}")
    x = image.permute(2, 0, 1)[None].to(torch.float64)
    y = target.permute(2, 0, 1)[None].to(torch.float64)
    channels = x.shape[1]
    size = min(window, x.shape[2], x.shape[3])
    size -= 1 - size % 2
    w = _gaussian_window(size, sigma, x.dtype, x.device).expand(channels, 1, size, size)

    def blur(t):
        return torch.nn.functional.conv2d(t, w, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = k1 ** 2, k2 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(s.mean())

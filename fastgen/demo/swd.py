"""Sliced Wasserstein distance on Laplacian pyramids (Karras et al., "Progressive Growing of
GANs", ICLR 2018, section 5): an image-quality number that needs no pretrained network.

1. Each image (N, 3, H, W) is decomposed into a Laplacian pyramid with the 5-tap binomial filter
   [1, 4, 6, 4, 1] / 16: levels H, H/2, ... down to 16x16 (the last level is the Gaussian one).
2. From every level of every image, ``patches_per_image`` random 7x7 neighbourhoods are taken as
   147-dimensional descriptors.
3. Each set of descriptors (one per level, real and fake separately) is normalised per colour
   channel to zero mean and unit standard deviation.
4. The sliced Wasserstein distance between the real and fake descriptor sets of a level: project
   both on ``directions`` random unit vectors, sort each projection, and average the absolute
   differences of the sorted values; repeated ``repeats`` times with fresh directions.

Reported, as in the paper, times 1e3, per level (finest first) and averaged over the levels.
Smaller is better; identical distributions give about 0 up to sampling noise.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PATCH = 7
MIN_RESOLUTION = 16


def _binomial(device, dtype) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    return (k[:, None] * k[None, :] / 256.0).expand(3, 1, 5, 5)


def _pyr_down(x, k):
    return F.conv2d(F.pad(x, [2, 2, 2, 2], mode="reflect"), k, groups=3)[:, :, ::2, ::2]


def _pyr_up(x, k):
    up = torch.zeros(x.shape[0], 3, x.shape[2] * 2, x.shape[3] * 2, device=x.device, dtype=x.dtype)
    up[:, :, ::2, ::2] = x * 4  # zero insertion keeps a quarter of the energy
    return F.conv2d(F.pad(up, [2, 2, 2, 2], mode="reflect"), k, groups=3)


def laplacian_pyramid(images: torch.Tensor, min_resolution: int = MIN_RESOLUTION) -> list:
    """[L_0 (H x W), L_1 (H/2), ..., G_last (min_resolution)] of float images (N, 3, H, W)."""
    k = _binomial(images.device, images.dtype)
    levels, x = [], images
    while x.shape[-1] > min_resolution:
        down = _pyr_down(x, k)
        levels.append(x - _pyr_up(down, k))
        x = down
    levels.append(x)
    return levels


def _descriptors(level: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
    """(N * count, 3, 7, 7) random neighbourhoods of one pyramid level."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, count), generator=gen)
    xs = torch.randint(0, w - PATCH + 1, (n, count), generator=gen)
    offsets = torch.arange(PATCH)
    rows = (ys[..., None] + offsets)[..., :, None].expand(n, count, PATCH, PATCH)
    cols = (xs[..., None] + offsets)[..., None, :].expand(n, count, PATCH, PATCH)
    batch = torch.arange(n)[:, None, None, None].expand_as(rows)
    level = level.cpu()
    patches = level.permute(0, 2, 3, 1)[batch, rows, cols]  # (n, count, 7, 7, c)
    return patches.permute(0, 1, 4, 2, 3).reshape(n * count, c, PATCH, PATCH)


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True)
    return ((desc - mean) / std.clamp_min(1e-8)).reshape(desc.shape[0], -1)


def descriptors(images: torch.Tensor, patches_per_image: int = 128, seed: int = 0) -> list:
    """Normalised descriptors (M, 147) per pyramid level of float images (N, 3, H, W) in [-1, 1]."""
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[-1] < MIN_RESOLUTION:
        raise ValueError(f"swd: images must be (N, 3, H, W) with H, W >= {MIN_RESOLUTION}, got {tuple(images.shape)}")
    gen = torch.Generator().manual_seed(seed)
    return [_normalise(_descriptors(level, patches_per_image, gen))
            for level in laplacian_pyramid(images.detach().float())]


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int = 128, repeats: int = 4,
                       seed: int = 0) -> float:
    """Mean over ``repeats`` x ``directions`` random unit directions of the 1D Wasserstein-1
    distance between the projections of descriptor sets a and b (each (M, D), same M)."""
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein: a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], directions, generator=gen, dtype=a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pa = np.sort((dirs.t() @ a.t()).cpu().numpy(), axis=1)  # numpy's sort: ~4x torch's on CPU
        pb = np.sort((dirs.t() @ b.t()).cpu().numpy(), axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


def swd(real_descriptors: list, fake_images: torch.Tensor, patches_per_image: int = 128, seed: int = 0) -> dict:
    """SWD x 1e3 between precomputed real descriptors (:func:`descriptors`) and fake images.

    Returns:
        {"levels": [finest, ..., coarsest], "mean": average over levels}.
    """
    fake = descriptors(fake_images, patches_per_image, seed + 1)
    if len(fake) != len(real_descriptors) or fake[0].shape != real_descriptors[0].shape:
        raise ValueError("swd: the fake images must match the real ones in count and resolution")
    levels = [1e3 * sliced_wasserstein(r, f, seed=seed) for r, f in zip(real_descriptors, fake)]
    return {"levels": levels, "mean": sum(levels) / len(levels)}

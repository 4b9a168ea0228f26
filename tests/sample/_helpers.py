"""Inputs shared by the sample-family tests."""
from __future__ import annotations

import torch


def sorted_rows(shape, gen, lo=0.0, hi=1.0, dtype=torch.float32):
    x = torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    return torch.sort(x, -1).values.to(dtype)


def packing(counts, device="cpu"):
    """(packed_info, ray_indices, n) of rays with the given sample counts, in order."""
    c = torch.tensor(counts, dtype=torch.long)
    info = torch.stack([torch.cumsum(c, 0) - c, c], 1)
    ray_indices = torch.repeat_interleave(torch.arange(len(counts)), c)
    return info.to(device), ray_indices.to(device), int(c.sum())


def packed_sorted(counts, gen, dtype=torch.float32):
    """Flat values sorted within each ray of ``counts``."""
    info, rays, n = packing(counts)
    x = torch.rand(n, generator=gen, dtype=torch.float64) * 4
    order = torch.argsort(rays.double() * 10 + x)
    return x[order].to(dtype), info, rays

"""Plain-PyTorch reference of the hashgrid family: the definition of correct.

Vectorised over points, one level at a time: each of the 2^D corners of every point's cell is
gathered from the level's (T, F) slice and weighted d-linearly. Autograd provides both
gradients: the table gradient is the backward of the gather (an ``index_put`` accumulation), the
input gradient flows through ``frac`` (``floor`` has zero gradient, ``clamp`` passes it at 0 and
1). The convention (cell, frac, dense rows, hashing) is the one documented in
:func:`fastgen.ops.hashgrid.hash_grid_encode` and ``csrc/hashgrid/hashgrid.h``; the public
function validates the arguments and computes ``level_info``.
"""
from __future__ import annotations

import torch

PRIMES = (1, 2654435761, 805459861)


def corner_rows(corner: torch.Tensor, stride: int, table_size: int) -> torch.Tensor:
    """Rows (M,) int64 of integer corners (M, D) in a level's slice: dense when ``stride > 0``,
    else the spatial hash. int64 arithmetic has the same low 32 bits as uint32 arithmetic, and
    T is a power of two, so masking with T - 1 equals the uint32 hash modulo T."""
    if stride > 0:
        scale = stride ** torch.arange(corner.shape[1], device=corner.device, dtype=torch.int64)
        return (corner * scale).sum(1)
    h = corner[:, 0] * PRIMES[0]
    for d in range(1, corner.shape[1]):
        h = h ^ (corner[:, d] * PRIMES[d])
    return h & (table_size - 1)


def hash_grid_encode(x: torch.Tensor, table: torch.Tensor, level_info: list) -> torch.Tensor:
    """Encoding of x (N, D) with table (L, T, F) given ``level_info`` [(res_l, stride_l), ...].

    Returns (N, L*F) in ``torch.promote_types(x.dtype, table.dtype)``.
    """
    n, dims = x.shape
    n_levels, table_size, features = table.shape
    dtype = torch.promote_types(x.dtype, table.dtype)
    xc = torch.nan_to_num(x.to(dtype), nan=0.0).clamp(0.0, 1.0)
    bits = torch.tensor([[(c >> d) & 1 for d in range(dims)] for c in range(1 << dims)],
                        device=x.device, dtype=torch.int64)  # (2^D, D)
    outs = []
    for level, (res, stride) in enumerate(level_info):
        pos = xc * res
        cell = torch.floor(pos).clamp(max=res - 1).detach()
        frac = pos - cell  # (N, D), differentiable w.r.t. x
        corner = cell.long()[:, None, :] + bits[None]  # (N, 2^D, D)
        rows = corner_rows(corner.reshape(-1, dims), stride, table_size).view(n, 1 << dims)
        weights = torch.where(bits[None].bool(), frac[:, None, :], 1.0 - frac[:, None, :]).prod(-1)
        values = table[level][rows].to(dtype)  # (N, 2^D, F)
        outs.append((weights[..., None] * values).sum(1))
    if not outs:
        return x.new_zeros((n, 0), dtype=dtype)
    return torch.cat(outs, 1)

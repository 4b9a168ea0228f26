"""``nerfacc.pack``: :func:`pack_info`."""
from __future__ import annotations

import torch

from fastgen.ops.render import _segments


@torch.no_grad()
def pack_info(ray_indices, n_rays=None):
    """``packed_info`` (n_rays, 2) int64 = (start, count) of each ray from sorted ``ray_indices``
    (n_samples,); ``n_rays`` defaults to ``ray_indices.max() + 1`` (one sync, as in nerfacc).
    Runs on any device (nerfacc's needs CUDA). Not differentiable."""
    if not isinstance(ray_indices, torch.Tensor) or ray_indices.dim() != 1:
        raise ValueError("pack_info: ray_indices must be a 1D tensor with shape (n_samples,)")
    if n_rays is None:
        n_rays = int(ray_indices.max()) + 1 if ray_indices.numel() else 0
    return _segments("pack_info", ray_indices.shape[0], ray_indices.device, ray_indices=ray_indices.long(),
                     n_rays=n_rays).to(ray_indices.dtype)


__all__ = ["pack_info"]

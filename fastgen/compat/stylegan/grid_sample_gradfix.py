"""StyleGAN's ``torch_utils.ops.grid_sample_gradfix``: bilinear ``grid_sample`` with zero padding
and ``align_corners=False``, differentiable twice. StyleGAN needs a custom op for the second
derivative; torch's ``grid_sample`` has it, so ``enabled`` (StyleGAN's flag, default False) only
records the caller's wish: both settings run torch's op (which also differentiates twice with
respect to the grid, where StyleGAN's custom op refuses)."""
from __future__ import annotations

import torch.nn.functional as F

enabled = False  # Enable the custom op (StyleGAN's name and default)


def grid_sample(input, grid):
    """``F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros', align_corners=False)``."""
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


__all__ = ["enabled", "grid_sample"]

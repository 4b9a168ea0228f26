"""StyleGAN's ``torch_utils.ops.fma``: ``fma(a, b, c) = a * b + c`` with broadcasting, as one
``torch.addcmul`` (differentiable to any order; StyleGAN's custom op exists only to fuse it)."""
from __future__ import annotations

import torch


def fma(a, b, c):
    """``a * b + c``, broadcast to the common shape of a, b and c."""
    return torch.addcmul(c, a, b)


__all__ = ["fma"]

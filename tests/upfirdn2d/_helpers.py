"""Cases and the forward + backward comparison shared by the upfirdn2d tests."""
from __future__ import annotations

import torch


def make_filter(taps: int, separable: bool, gen) -> torch.Tensor:
    """A random positive float32 filter: 1D (taps,) or 2D (taps, taps - 1 or 1): non-square, so
    that mixing up the axes shows."""
    if separable:
        return torch.rand(taps, generator=gen) + 0.1
    return torch.rand(taps, max(taps - 1, 1), generator=gen) + 0.1


def fwd_bwd(fn, x, dy=None, gen=None):
    """(y, dL/dx) for L = <dy, y> (dy drawn from gen when None), and dy."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    if dy is None:
        dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    (gx,) = torch.autograd.grad((y.double() * dy.to(y.device)).sum(), [x])
    return y, gx, dy

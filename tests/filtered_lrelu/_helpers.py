"""Cases and the forward + backward comparison shared by the filtered_lrelu tests."""
from __future__ import annotations

import math

import torch

import fastgen.gan as gan

FACTORS = (1, 2, 4)
# Offsets added to the size-preserving padding: asymmetric, negative (crops), none.
PERTURB = ([0, 0, 0, 0], [1, -1, 2, 0], [-1, 2, 0, -2], [3, 0, -1, 1])


def make_filter(taps: int, separable: bool, gen) -> torch.Tensor:
    """Random positive float32 taps: 1D (taps,) or 2D (taps, taps - 1 or 1, non-square so that
    mixing up the axes shows)."""
    if separable:
        return torch.rand(taps, generator=gen) + 0.1
    return torch.rand(taps, max(taps - 1, 1), generator=gen) + 0.1


def padding_for(fu, fd, perturb) -> list:
    """About the padding that keeps the output at in * up / down, plus ``perturb``."""
    (fuw, fuh), (fdw, fdh) = [(1, 1) if f is None else (f.shape[-1], f.shape[0]) for f in (fu, fd)]
    px, py = (fuw + fdw - 2) // 2, (fuh + fdh - 2) // 2
    return [px + perturb[0], px + perturb[1], py + perturb[2], py + perturb[3]]


def cases(up: int, down: int):
    """Keyword arguments of filtered_lrelu (but x, b) covering filters of 1..12 taps, separable and
    2D, with and without clamp, flip_filter, negative padding, over the 9 (up, down)."""
    start = 3 * FACTORS.index(up) + FACTORS.index(down)  # 0..8
    for k in range(3):
        i = 3 * start + k  # 0..26
        yield dict(taps_u=1 + (5 * i) % 12, sep_u=i % 2 == 0, taps_d=1 + (7 * i + 3) % 12, sep_d=i % 3 != 0,
                   bias=k != 1, clamp=(None, 0.7, 2.0)[i % 3], flip_filter=i % 4 == 1, perturb=PERTURB[i % 4],
                   gain=(math.sqrt(2), 1.3)[i % 2], slope=(0.2, 0.0, 0.5)[i % 3])


def arguments(case: dict, up: int, down: int, gen, device) -> tuple:
    """(fu, fd, kwargs) of a case."""
    fu = make_filter(case["taps_u"], case["sep_u"], gen).to(device)
    fd = make_filter(case["taps_d"], case["sep_d"], gen).to(device)
    kw = dict(up=up, down=down, padding=padding_for(fu, fd, case["perturb"]), gain=case["gain"],
              slope=case["slope"], clamp=case["clamp"], flip_filter=case["flip_filter"])
    return fu, fd, kw


def image(gen, dtype, device, n=1, c=2, h=7, w=9) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=gen, dtype=torch.float64).to(dtype).to(device)


def fwd_bwd(fn, x, b, dy=None, gen=None):
    """(y, dL/dx, dL/db) for L = <dy, y> (dy drawn from gen when None), and dy."""
    x = x.detach().clone().requires_grad_(True)
    b = None if b is None else b.detach().clone().requires_grad_(True)
    y = fn(x, b)
    if dy is None:
        dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((y.double() * dy.to(y.device)).sum(), [x] + ([] if b is None else [b]))
    return y, grads[0], (grads[1] if b is not None else None), dy

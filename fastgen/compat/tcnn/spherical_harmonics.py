"""Real spherical harmonics as tiny-cuda-nn's "SphericalHarmonics" encoding evaluates them.

Band l = 0 .. degree-1, m = -l .. l (the output index is l^2 + l + m), with the Condon-Shortley
phase, orthonormal on the unit sphere:

    Y_l^0 = K_l^0 Q_l^0(z),   Y_l^{+m} = sqrt(2) K_l^m Q_l^m(z) Re((x + i y)^m),
    Y_l^{-m} = sqrt(2) K_l^m Q_l^m(z) Im((x + i y)^m),   K_l^m = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!)

where Q_l^m = (-1)^m d^m P_l / dz^m (P_l the Legendre polynomial), so that on the unit sphere
Q_l^m(z) (1 - z^2)^{m/2} is the associated Legendre function P_l^m(z). As in tiny-cuda-nn the
polynomials are evaluated on (x, y, z) as given (no normalisation of the direction).
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch

MAX_DEGREE = 8


def _legendre(l: int) -> list:
    """Coefficients (ascending powers of z) of the Legendre polynomial P_l, exactly."""
    coef = [Fraction(0)] * (l + 1)
    for k in range(l // 2 + 1):
        coef[l - 2 * k] = Fraction((-1) ** k * math.comb(l, k) * math.comb(2 * l - 2 * k, l), 2 ** l)
    return coef


def _derivative(coef: list, times: int) -> list:
    for _ in range(times):
        coef = [c * p for p, c in enumerate(coef)][1:]
    return coef


@lru_cache(maxsize=None)
def _tables(degree: int) -> tuple:
    """(A, azimuth): A (degree^2, degree) float64 with out_j = (sum_p A[j, p] z^p) * az[azimuth[j]],
    az = [Re((x+iy)^0..), ..., Im((x+iy)^1..)] (see :func:`spherical_harmonics`)."""
    a = torch.zeros(degree * degree, degree, dtype=torch.float64)
    azimuth = []
    for l in range(degree):
        for m in range(-l, l + 1):
            am = abs(m)
            k = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - am) / math.factorial(l + am))
            scale = k * (math.sqrt(2.0) if m else 1.0) * (-1) ** am
            for p, c in enumerate(_derivative(_legendre(l), am)):
                a[l * l + l + m, p] = scale * float(c)
            azimuth.append(am if m >= 0 else degree - 1 + am)  # Re parts first, then Im parts of m >= 1
    return a, torch.tensor(azimuth, dtype=torch.int64)


def spherical_harmonics(d: torch.Tensor, degree: int) -> torch.Tensor:
    """``(N, 3)`` directions (x, y, z) -> ``(N, degree^2)`` real SH values, differentiable."""
    a, azimuth = _tables(degree)
    x, y, z = d.unbind(-1)
    zpow = [torch.ones_like(z)]
    re, im = [torch.ones_like(x)], []
    c, s = torch.ones_like(x), torch.zeros_like(x)
    for _ in range(1, degree):
        zpow.append(zpow[-1] * z)
        c, s = x * c - y * s, x * s + y * c  # (x + iy)^m by repeated multiplication
        re.append(c)
        im.append(s)
    poly = torch.stack(zpow, -1) @ a.to(d).T
    return poly * torch.stack(re + im, -1)[:, azimuth.to(d.device)]

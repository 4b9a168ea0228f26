"""PSNR and the Gaussian-window SSIM of the demos."""
import math

import pytest
import torch

from fastgen.demo.metrics import psnr, ssim


def test_psnr():
    a = torch.zeros(4, 4, 3)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1) == pytest.approx(20.0)


def test_ssim_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 24, 3, generator=g)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, noisy) == pytest.approx(ssim(noisy, x))
    assert ssim(x, noisy) < ssim(x, (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)) < 1
    assert ssim(torch.rand(8, 8, 3, generator=g), torch.rand(8, 8, 3, generator=g)) < 0.2  # window shrinks to 7


def test_ssim_of_a_constant_offset_matches_the_formula():
    # for y = x + c the variances and covariance are equal, so SSIM is the luminance term alone
    x = torch.rand(16, 16, 1, generator=torch.Generator().manual_seed(1)) * 0.5
    c = 0.2
    window = torch.exp(-(torch.arange(11.0) - 5) ** 2 / (2 * 1.5 ** 2))
    window = (window / window.sum())[:, None] * (window / window.sum())[None, :]
    mu = torch.nn.functional.conv2d(x.permute(2, 0, 1)[None].double(), window[None, None].double())
    expected = ((2 * mu * (mu + c) + 1e-4) / (mu ** 2 + (mu + c) ** 2 + 1e-4)).mean()
    assert ssim(x, x + c) == pytest.approx(float(expected), rel=1e-6)

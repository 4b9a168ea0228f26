"""Bad input to upfirdn2d, its helpers and conv2d_resample: clear errors naming the problem."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan

X = torch.zeros(1, 2, 6, 6)
F4 = torch.ones(4)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((torch.zeros(2, 6, 6), F4), {}, ValueError, "x must have 4 dimension"),
    ((X.long(), F4), {}, TypeError, "x must have dtype"),
    ((X, torch.ones(2, 2, 2)), {}, ValueError, "f must be a 1D \\(separable\\) or 2D filter"),
    ((X, torch.ones(4, dtype=torch.float64)), {}, TypeError, "f must be float32"),
    ((X, torch.ones(0)), {}, ValueError, "f must have at least one tap"),
    ((X, torch.ones(4, requires_grad=True)), {}, ValueError, "f must not require grad"),
    ((X, [1.0, 3.0]), {}, TypeError, "f must be a torch.Tensor or None"),
    ((X, F4), dict(up=0), ValueError, "up must be >= 1"),
    ((X, F4), dict(down=(2, 0)), ValueError, "down must be >= 1"),
    ((X, F4), dict(up=(1, 2, 3)), ValueError, "up must be an int or \\[x, y\\]"),
    ((X, F4), dict(up=1.5), TypeError, "up must be an int"),
    ((X, F4), dict(padding=[1, 2, 3]), ValueError, "padding must be an int, \\[px, py\\] or \\[x0, x1, y0, y1\\]"),
    ((X, F4), dict(padding=-2), ValueError, "leave no output pixel"),
    ((X, torch.ones(12)), {}, ValueError, "leave no output pixel"),
    ((X, F4), dict(gain="1"), TypeError, "gain must be a number"),
    ((X, F4), dict(backend="fast"), ValueError, "unknown backend 'fast'"),
])
def test_upfirdn2d_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gan.upfirdn2d(*args, **kwargs)


def test_helpers_bad_input():
    with pytest.raises(ValueError, match="upsample2d: up must be >= 1"):
        gan.upsample2d(X, F4, up=0)
    with pytest.raises(ValueError, match="downsample2d: padding must be"):
        gan.downsample2d(X, F4, padding=[1, 2, 3])
    with pytest.raises(ValueError, match="f must be a 1D"):
        gan.filter2d(X, torch.ones(1, 1, 1))


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((X, torch.zeros(3, 3, 3, 3)), {}, ValueError, "does not fit x with 2 channels"),
    ((X, torch.zeros(3, 1, 3, 3)), dict(groups=2), ValueError, "does not fit x with 2 channels"),
    ((X, torch.zeros(3, 2, 3)), {}, ValueError, "w must have 4 dimension"),
    ((X, torch.zeros(3, 2, 3, 3, dtype=torch.float64)), {}, TypeError, "w has dtype float64 but x has float32"),
    ((X, torch.zeros(3, 2, 3, 3)), dict(up=0), ValueError, "up must be an int >= 1"),
    ((X, torch.zeros(3, 2, 3, 3)), dict(f=torch.ones(4, dtype=torch.float16), up=2), TypeError,
     "f must be float32"),
])
def test_conv2d_resample_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gan.conv2d_resample(*args, **kwargs)

"""Bad input to filtered_lrelu raises a clear TypeError / ValueError naming the argument, before
any kernel (or the reference) runs."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from fastgen.ops.filtered_lrelu import _library, reference

X = torch.zeros(1, 3, 8, 8)
F = torch.ones(4)


@pytest.fixture(autouse=True)
def _no_kernels(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel ran although the input is invalid")

    monkeypatch.setattr(_library, "run_pass", forbidden)
    monkeypatch.setattr(reference, "filtered_lrelu", forbidden)


BAD = [
    (dict(x=torch.zeros(3, 8, 8)), ValueError, "x must have 4"),
    (dict(x=torch.zeros(1, 3, 8, 8, dtype=torch.int32)), TypeError, "x must have dtype"),
    (dict(fu=torch.ones(2, 2, 2)), ValueError, "fu must be a 1D"),
    (dict(fd=torch.ones(4, dtype=torch.float64)), TypeError, "fd must be float32"),
    (dict(fu=[1.0, 2.0]), TypeError, "fu must be a torch.Tensor"),
    (dict(fd=torch.ones(0)), ValueError, "fd must have 1..32 taps"),
    (dict(fu=torch.ones(33)), ValueError, "fu must have 1..32 taps"),
    (dict(fu=torch.ones(4, requires_grad=True)), ValueError, "fu must not require grad"),
    (dict(b=torch.zeros(4)), ValueError, "b must have x.shape"),
    (dict(b=torch.zeros(3, 1)), ValueError, "b must have 1"),
    (dict(b=torch.zeros(3, dtype=torch.float64)), TypeError, "dtype"),
    (dict(up=3), ValueError, "up must be 1, 2 or 4"),
    (dict(down=0), ValueError, "down must be 1, 2 or 4"),
    (dict(up=[2, 2]), TypeError, "up must be an int"),
    (dict(down=True), TypeError, "down must be an int"),
    (dict(padding=[1, 2, 3]), ValueError, "padding must be"),
    (dict(padding=1.5), TypeError, "padding must be an int"),
    (dict(padding=-6), ValueError, "leave no output pixel"),
    (dict(gain=-1.0), ValueError, "gain must be"),
    (dict(slope="0.2"), TypeError, "slope must be a number"),
    (dict(clamp=-1), ValueError, "clamp must be"),
    (dict(flip_filter=1), TypeError, "flip_filter must be a bool"),
    (dict(backend="nope"), ValueError, "unknown backend"),
]


@pytest.mark.parametrize("bad,exc,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input(bad, exc, match):
    kw = dict(x=X, fu=F, fd=F, b=torch.zeros(3), up=2, down=2, padding=3, backend="cpu")
    kw.update(bad)
    with pytest.raises(exc, match=match):
        gan.filtered_lrelu(**kw)

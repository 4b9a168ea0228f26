"""float16 / bfloat16 inputs: every backend computes in float32 (the reference in the input dtype)
and returns the input dtype; compared to the float64 reference with a loose tolerance."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import distortion, merge_sorted, sample_pdf
from fastgen.ops.sample import reference
from tests.sample._helpers import sorted_rows

HALF = [torch.float16, torch.bfloat16]
TOL = {torch.float16: 5e-3, torch.bfloat16: 3e-2}


def _rel(a, e):
    a, e = a.detach().cpu().double(), e.detach().cpu().double()
    return float((a - e).norm() / e.norm().clamp_min(1e-30))


@pytest.mark.parametrize("dtype", HALF)
def test_sample_pdf_half(backend, device, gen, dtype):
    bins = sorted_rows((9, 17), gen, lo=2.0, hi=6.0).to(dtype)
    w = torch.rand((9, 16), generator=gen).to(dtype)
    out = sample_pdf(bins.to(device), w.to(device), 24, det=True, backend=backend)
    assert out.dtype == dtype and out.shape == (9, 24)
    u = torch.linspace(0, 1, 24, dtype=torch.float64).expand(9, 24)
    exp = reference.sample_pdf(bins.double(), w.double(), u)
    assert _rel(out, exp) < TOL[dtype]


@pytest.mark.parametrize("dtype", HALF)
def test_merge_sorted_half(backend, device, gen, dtype):
    a = sorted_rows((6, 11), gen).to(dtype)
    b = sorted_rows((6, 7), gen).to(dtype)
    vals, perm = merge_sorted(a.to(device), b.to(device), backend=backend)
    assert vals.dtype == dtype
    exp = torch.sort(torch.cat([a, b], -1).double(), dim=-1, stable=True).values
    assert torch.equal(vals.cpu().double(), exp)  # a merge moves values: exact
    assert torch.equal(torch.cat([a, b], -1).gather(-1, perm.cpu()), vals.cpu())


@pytest.mark.parametrize("dtype", HALF)
def test_distortion_half(backend, device, gen, dtype):
    edges = sorted_rows((5, 13), gen, lo=2.0, hi=6.0)
    w = torch.rand((5, 12), generator=gen) / 12
    t0, t1 = edges[:, :-1], edges[:, 1:]
    args = [x.to(dtype) for x in (w, t0, t1)]
    loss = distortion(*(x.to(device) for x in args), backend=backend)
    assert loss.dtype == dtype
    exp = reference.distortion(*(x.double() for x in args))
    assert _rel(loss, exp) < TOL[dtype]

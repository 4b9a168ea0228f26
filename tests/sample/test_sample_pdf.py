"""sample_pdf: det mode against the float64 reference (edge cases included), gradients w.r.t. bins,
random mode reproducible, identical across backends and distributed as the PDF (KS test)."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import sample_pdf
from fastgen.ops.sample import reference
from tests.conftest import assert_close_rel
from tests.sample._helpers import sorted_rows


def det_reference(bins, weights, n, eps=1e-5):
    u = torch.linspace(0, 1, n, dtype=torch.float64).expand(bins.shape[0], n)
    return reference.sample_pdf(bins.double(), weights.double(), u, eps)


def edge_case_inputs(gen, dtype):
    """Rows: random, all-zero weights, one dominant bin, flat CDF regions (zeros between mass)."""
    bins = sorted_rows((6, 17), gen, 2.0, 6.0, dtype)
    w = torch.rand((6, 16), generator=gen, dtype=torch.float64).to(dtype)
    w[1] = 0
    w[2] = 0
    w[2, 5] = 3.0
    w[3, 2:12] = 0
    w[4, ::2] = 0
    return bins, w


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_det_matches_reference(backend, device, gen, dtype):
    bins, w = edge_case_inputs(gen, dtype)
    for n in (1, 7, 33):
        out = sample_pdf(bins.to(device), w.to(device), n, det=True, backend=backend)
        assert out.dtype == dtype and out.shape == (6, n)
        assert_close_rel(out, det_reference(bins, w, n), dtype, f"n={n}")
        assert bool((out[:, 1:] >= out[:, :-1] - 1e-6).all()), "samples must be sorted"


def test_uniform_fallback_one_bin_and_edges(backend, device):
    # all-zero weights: uniform over the bins; u exactly at the bin edges (0, 1/4, 1/2, 3/4, 1)
    bins = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    out = sample_pdf(bins.to(device), torch.zeros(1, 4, dtype=torch.float64).to(device), 5, det=True,
                     backend=backend)
    assert torch.allclose(out.cpu(), torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]], dtype=torch.float64), atol=1e-9)
    # one bin: a linear map of u onto it
    out = sample_pdf(torch.tensor([[2.0, 6.0]]).to(device), torch.tensor([[0.3]]).to(device), 3, det=True,
                     backend=backend)
    assert torch.allclose(out.cpu(), torch.tensor([[2.0, 4.0, 6.0]]), atol=1e-5)


def test_bins_gradient(backend, device, gen):
    bins, w = edge_case_inputs(gen, torch.float64)
    grad_out = torch.randn((6, 11), generator=gen, dtype=torch.float64)
    b = bins.clone().to(device).requires_grad_(True)
    wr = w.clone().to(device).requires_grad_(True)
    (sample_pdf(b, wr, 11, det=True, backend=backend) * grad_out.to(device)).sum().backward()
    br = bins.clone().requires_grad_(True)
    (det_reference(br, w, 11) * grad_out).sum().backward()
    assert_close_rel(b.grad, br.grad, torch.float64, "grad bins")
    assert wr.grad is None or bool((wr.grad == 0).all()), "weights get no gradient"


def test_gradcheck(backend, device, gen):
    bins = sorted_rows((3, 6), gen, 0.0, 2.0, torch.float64).to(device).requires_grad_(True)
    w = torch.rand((3, 5), generator=gen, dtype=torch.float64).to(device)
    g = torch.Generator().manual_seed(1)
    assert torch.autograd.gradcheck(
        lambda b: sample_pdf(b, w, 9, det=False, generator=g.manual_seed(1), backend=backend), (bins,))


def test_random_reproducible_and_same_on_every_backend(backend, device, gen):
    bins, w = edge_case_inputs(gen, torch.float32)
    out1 = sample_pdf(bins.to(device), w.to(device), 20, generator=torch.Generator().manual_seed(3),
                      backend=backend)
    out2 = sample_pdf(bins.to(device), w.to(device), 20, generator=torch.Generator().manual_seed(3),
                      backend=backend)
    assert torch.equal(out1, out2)
    u = torch.sort(torch.rand((6, 20), generator=torch.Generator().manual_seed(3)), -1).values
    assert_close_rel(out1, reference.sample_pdf(bins.double(), w.double(), u.double()), torch.float32)
    assert bool((out1[:, 1:] >= out1[:, :-1]).all())


def test_random_samples_follow_the_pdf(backend, device):
    """Kolmogorov-Smirnov test of 4000 samples against the piecewise-linear CDF, alpha = 0.001
    (critical D = 1.95 / sqrt(n)); fixed seed, so the test is deterministic."""
    bins = torch.tensor([[0.0, 1.0, 1.5, 3.0, 4.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.0, 2.0, 0.5]], dtype=torch.float64)
    n = 4000
    out = sample_pdf(bins.to(device), w.to(device), n, generator=torch.Generator().manual_seed(0),
                     backend=backend).cpu()[0]
    pdf = (w[0] + 1e-5) / (w[0] + 1e-5).sum()
    cdf_edges = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(pdf, 0)])
    idx = torch.searchsorted(bins[0], out, right=True).clamp(1, 4) - 1
    model = cdf_edges[idx] + pdf[idx] * (out - bins[0, idx]) / (bins[0, idx + 1] - bins[0, idx])
    empirical_hi = torch.arange(1, n + 1, dtype=torch.float64) / n
    d = torch.maximum((empirical_hi - model).abs(), (model - (empirical_hi - 1.0 / n)).abs()).max()
    assert float(d) < 1.95 / math.sqrt(n), f"KS statistic {float(d):.4f} too large"

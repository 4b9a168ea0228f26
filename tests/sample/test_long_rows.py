"""Rows the CPU row kernels hand to the shared per-ray code (csrc/sample/sample_cpu.cpp): more bins
or samples than the stack buffers hold, merge rows longer than them or holding +-inf, and the
sample_pdf backward without the forward's record. Every backend runs them against the reference,
so both CPU paths, and the limits between them, are covered."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import merge_sorted, sample_pdf
from fastgen.ops.sample import _library as L
from fastgen.ops.sample import reference
from tests.conftest import assert_close_rel
from tests.sample._helpers import packed_sorted, sorted_rows

ROW_BINS, ROW_SAMPLES, ROW_MERGE = 1024, 4096, 2048  # sample_cpu.cpp's kRowBins, kRowSamples, kRowMerge


def _pdf_reference(bins, w, n):
    u = torch.linspace(0, 1, n, dtype=torch.float64).expand(bins.shape[0], n)
    return reference.sample_pdf(bins, w, u)


@pytest.mark.parametrize("n_bins", [ROW_BINS, ROW_BINS + 1, 1500])
def test_sample_pdf_many_bins_forward_and_backward(backend, device, gen, n_bins):
    bins = sorted_rows((3, n_bins + 1), gen, 2.0, 6.0, torch.float64)
    w = torch.rand((3, n_bins), generator=gen, dtype=torch.float64) ** 4
    w[1, : n_bins // 2] = 0  # a long flat stretch
    g = torch.randn((3, 40), generator=gen, dtype=torch.float64)
    b = bins.clone().requires_grad_(True)
    (_pdf_reference(b, w, 40) * g).sum().backward()
    got_b = bins.clone().to(device).requires_grad_(True)
    out = sample_pdf(got_b, w.to(device), 40, det=True, backend=backend)
    (out * g.to(device)).sum().backward()
    assert_close_rel(out, _pdf_reference(bins, w, 40), torch.float64, "samples")
    assert_close_rel(got_b.grad, b.grad, torch.float64, "grad bins")


@pytest.mark.parametrize("n", [ROW_SAMPLES, ROW_SAMPLES + 1])
@pytest.mark.parametrize("grad", [False, True])
def test_sample_pdf_many_samples(backend, device, gen, n, grad):
    bins = sorted_rows((2, 9), gen, 2.0, 6.0, torch.float64)
    w = torch.rand((2, 8), generator=gen, dtype=torch.float64)
    b = bins.to(device).requires_grad_(grad)
    out = sample_pdf(b, w.to(device), n, det=True, backend=backend)
    assert_close_rel(out, _pdf_reference(bins, w, n), torch.float64, f"n={n}")


def test_sample_pdf_backward_without_record(kernel_backend, device, gen):
    """The kernel op called without the per-sample record: the backward walks the CDF again and
    must give the gradient the recorded backward gives."""
    bins = sorted_rows((4, 17), gen, 2.0, 6.0, torch.float64).to(device)
    w = torch.rand((4, 16), generator=gen, dtype=torch.float64).to(device)
    u = torch.linspace(0, 1, 23, dtype=torch.float64, device=device)[None]
    g = torch.randn((4, 23), generator=gen, dtype=torch.float64).to(device)
    grads = []
    for with_index in (False, True):
        b = bins.clone().requires_grad_(True)
        out = L.sample_pdf_forward(b, w, u, 1e-5, True, with_index, kernel_backend)[0]
        (out * g).sum().backward()
        grads.append(b.grad)
    assert_close_rel(grads[0], grads[1], torch.float64, "walk vs record")
    b = bins.cpu().clone().requires_grad_(True)
    (_pdf_reference(b, w.cpu(), 23) * g.cpu()).sum().backward()
    assert_close_rel(grads[0], b.grad, torch.float64, "walk vs reference")


def _infinite_rows(gen, dtype):
    a = sorted_rows((4, 9), gen, dtype=dtype)
    b = sorted_rows((4, 6), gen, dtype=dtype)
    a[0, -2:] = float("inf")     # +inf in a and b: ties with each other (a first)
    b[0, -1] = float("inf")
    a[1, 0] = -float("inf")      # -inf in a only
    b[2, :2] = -float("inf")     # -inf in b only, twice
    b[3, 0] = -float("inf")      # -inf at both ends of the merge
    a[3, -1] = float("inf")
    return a, b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_rows_with_infinities(backend, device, gen, dtype):
    a, b = _infinite_rows(gen, dtype)
    vals, perm = merge_sorted(a.to(device), b.to(device), backend=backend)
    exp_vals, exp_perm = torch.sort(torch.cat([a, b], -1), dim=-1, stable=True)
    assert torch.equal(vals.cpu(), exp_vals)
    assert torch.equal(perm.cpu(), exp_perm)


@pytest.mark.parametrize("sizes", [(ROW_MERGE, 3), (ROW_MERGE + 1, 5), (7, ROW_MERGE + 1)])
def test_merge_long_rows_and_gradient(backend, device, gen, sizes):
    a = sorted_rows((2, sizes[0]), gen, dtype=torch.float64)
    b = sorted_rows((2, sizes[1]), gen, dtype=torch.float64)
    b[:, 0] = a[:, 1]  # a tie
    b = torch.sort(b, -1).values
    ga, gb = a.clone().to(device).requires_grad_(True), b.clone().to(device).requires_grad_(True)
    vals, perm = merge_sorted(ga, gb, backend=backend)
    exp_vals, exp_perm = torch.sort(torch.cat([a, b], -1), dim=-1, stable=True)
    assert torch.equal(vals.detach().cpu(), exp_vals)
    assert torch.equal(perm.cpu(), exp_perm)
    g = torch.randn(exp_vals.shape, generator=gen, dtype=torch.float64)
    (vals * g.to(device)).sum().backward()
    back = torch.empty_like(g).scatter_(1, exp_perm, g)  # each output's gradient at its source
    assert torch.equal(ga.grad.cpu(), back[:, : sizes[0]])
    assert torch.equal(gb.grad.cpu(), back[:, sizes[0]:])


def test_packed_merge_with_infinities(backend, device, gen):
    a, a_info, a_rays = packed_sorted([4, 0, 3, 5], gen)
    b, b_info, b_rays = packed_sorted([2, 3, 0, 4], gen)
    a[a_info[0, 0] + 3] = float("inf")
    b[b_info[0, 0] + 1] = float("inf")
    b[b_info[3, 0]] = -float("inf")
    vals, perm = merge_sorted(a.to(device), b.to(device), a_info.to(device), b_info.to(device), backend=backend)
    cat = torch.cat([a, b])
    rays = torch.cat([a_rays, b_rays])
    by_value = torch.sort(cat, stable=True).indices
    exp_perm = by_value[torch.sort(rays[by_value], stable=True).indices]
    assert torch.equal(perm.cpu(), exp_perm)
    assert torch.equal(vals.cpu(), cat[exp_perm])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_signed_zeros_tie(backend, device, dtype):
    """-0 and +0 are equal: ties keep their order (a first) and each keeps its sign bit."""
    a = torch.tensor([[-1.0, -0.0, 0.0, 2.0], [-0.5, 0.0, 0.0, 0.5]], dtype=dtype)
    b = torch.tensor([[0.0, -0.0, 1.0], [-0.0, -0.0, 3.0]], dtype=dtype)
    vals, perm = merge_sorted(a.to(device), b.to(device), backend=backend)
    exp_vals, exp_perm = torch.sort(torch.cat([a, b], -1), dim=-1, stable=True)
    assert torch.equal(perm.cpu(), exp_perm)
    assert torch.equal(vals.cpu(), exp_vals) and torch.equal(torch.signbit(vals.cpu()), torch.signbit(exp_vals))

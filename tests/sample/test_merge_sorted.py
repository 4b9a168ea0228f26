"""merge_sorted: against a stable sort of the concatenation (ties: a first), batched and packed,
values and permutation, and the gradient."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import merge_sorted
from tests.sample._helpers import packed_sorted, sorted_rows


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sizes", [(9, 17), (1, 1), (64, 3)])
def test_batched_matches_sort(backend, device, gen, dtype, sizes):
    a = sorted_rows((5, sizes[0]), gen, dtype=dtype)
    b = sorted_rows((5, sizes[1]), gen, dtype=dtype)
    b[:, ::3] = a[:, :1]  # ties with a (a's entry must come first)
    b = torch.sort(b, -1).values
    vals, perm = merge_sorted(a.to(device), b.to(device), backend=backend)
    exp_vals, exp_perm = torch.sort(torch.cat([a, b], -1), dim=-1, stable=True)
    assert torch.equal(vals.cpu(), exp_vals)
    assert torch.equal(perm.cpu(), exp_perm)


def test_packed_matches_sort(backend, device, gen):
    a, a_info, a_rays = packed_sorted([3, 0, 5, 1, 0, 12], gen)
    b, b_info, b_rays = packed_sorted([0, 2, 4, 1, 0, 20], gen)
    b[b_rays == 5] = torch.sort(torch.cat([a[a_rays == 5][:10], b[b_rays == 5][:10]])).values  # ties
    vals, perm = merge_sorted(a.to(device), b.to(device), a_info.to(device), b_info.to(device), backend=backend)
    cat = torch.cat([a, b])
    rays = torch.cat([a_rays, b_rays])
    key = rays.double() * 100 + cat.double()
    exp_perm = torch.sort(key, stable=True).indices
    assert torch.equal(perm.cpu(), exp_perm)
    assert torch.equal(vals.cpu(), cat[exp_perm])


def test_gradient_is_the_inverse_permutation(backend, device, gen):
    a = sorted_rows((3, 4), gen, dtype=torch.float64).to(device).requires_grad_(True)
    b = sorted_rows((3, 5), gen, dtype=torch.float64).to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: merge_sorted(x, y, backend=backend)[0], (a, b))


def test_packed_gradient_is_the_inverse_permutation(backend, device, gen):
    a, a_info, _ = packed_sorted([3, 0, 2, 1, 0], gen, torch.float64)
    b, b_info, _ = packed_sorted([1, 2, 0, 3, 0], gen, torch.float64)
    a_info, b_info = a_info.to(device), b_info.to(device)
    a, b = a.to(device).requires_grad_(True), b.to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: merge_sorted(x, y, a_info, b_info, backend=backend)[0], (a, b))


def test_empty_rows(backend, device, gen):
    a = sorted_rows((4, 3), gen).to(device).requires_grad_(True)
    b = torch.empty((4, 0), device=device, requires_grad=True)
    vals, perm = merge_sorted(a, b, backend=backend)
    assert torch.equal(vals.detach(), a.detach()) and torch.equal(perm.cpu(), torch.arange(3).expand(4, 3))
    (ga,) = torch.autograd.grad(vals.sum(), a)
    assert torch.equal(ga.cpu(), torch.ones(4, 3))

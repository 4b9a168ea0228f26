"""distortion: against the O(S^2) double sum of its definition, batched and packed, forward and
backward (against autograd of the definition), gradcheck, empty and one-sample rays."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import distortion
from fastgen.ops.sample import reference
from tests.conftest import assert_close_rel
from tests.sample._helpers import packing, sorted_rows


def intervals(shape, gen, dtype):
    edges = sorted_rows((*shape[:-1], shape[-1] + 1), gen, 2.0, 6.0, torch.float64)
    return edges[..., :-1].to(dtype).clone(), edges[..., 1:].to(dtype).clone()  # no shared storage


def pairwise_grads(w, t0, t1, grad):
    args = [x.detach().double().cpu().requires_grad_(True) for x in (w, t0, t1)]
    loss = reference.distortion_pairwise(*args)
    loss.backward(grad.double().cpu())
    return loss.detach(), [a.grad for a in args]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5, 37), (2, 3, 1), (4, 70)])
def test_batched_matches_definition(backend, device, gen, dtype, shape):
    w = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
    t0, t1 = intervals(shape, gen, dtype)
    inputs = [x.to(device).requires_grad_(True) for x in (w, t0, t1)]
    loss = distortion(*inputs, backend=backend)
    grad = torch.randn(loss.shape, generator=gen, dtype=torch.float64).to(dtype)
    loss.backward(grad.to(device))
    expected, grads = pairwise_grads(w, t0, t1, grad)
    assert_close_rel(loss, expected, dtype, "loss")
    for name, x, g in zip(("weights", "t_starts", "t_ends"), inputs, grads):
        assert_close_rel(x.grad, g, dtype, f"grad {name}", factor=5)


@pytest.mark.parametrize("by", ["ray_indices", "packed_info"])
@pytest.mark.parametrize("counts", [[3, 0, 1, 40, 0, 7],
                                    [5, 5, 5, 5, 2, 2, 2, 2, 0, 0, 0, 0, 4]])  # runs of 4 equal lengths
def test_packed_matches_definition(backend, device, gen, by, counts):
    info, rays, n = packing(counts)
    w = torch.rand(n, generator=gen, dtype=torch.float64)
    t0, t1 = torch.empty(n, dtype=torch.float64), torch.empty(n, dtype=torch.float64)
    for r, c in enumerate(counts):
        s = int(info[r, 0])
        t0[s:s + c], t1[s:s + c] = intervals((c,), gen, torch.float64)
    inputs = [x.to(device).requires_grad_(True) for x in (w, t0, t1)]
    kw = dict(ray_indices=rays.to(device), n_rays=len(counts)) if by == "ray_indices" else \
        dict(packed_info=info.to(device))
    loss = distortion(*inputs, backend=backend, **kw)
    assert loss.shape == (len(counts),)
    grad = torch.randn(len(counts), generator=gen, dtype=torch.float64)
    loss.backward(grad.to(device))
    for r, c in enumerate(counts):
        s = int(info[r, 0])
        exp, grads = pairwise_grads(w[s:s + c], t0[s:s + c], t1[s:s + c], grad[r])
        assert_close_rel(loss[r], exp, torch.float64, f"ray {r}")
        for x, g in zip(inputs, grads):
            assert_close_rel(x.grad[s:s + c], g, torch.float64, f"ray {r} grad")


def test_gradcheck(backend, device, gen):
    w = torch.rand((3, 6), generator=gen, dtype=torch.float64)
    t0, t1 = intervals((3, 6), gen, torch.float64)
    args = tuple(x.to(device).requires_grad_(True) for x in (w, t0, t1))
    assert torch.autograd.gradcheck(lambda *a: distortion(*a, backend=backend), args)

"""inclusive/exclusive sum/prod scans: every backend against the float64 reference, forward and
backward, batched and packed (packed_info, indices), edge layouts, exact zeros, gradcheck."""
from __future__ import annotations

import pytest
import torch

import fastgen
from fastgen.ops.render import reference
from tests.conftest import assert_close_rel
from tests.render._helpers import EDGE_COUNTS, SMALL_COUNTS, check_vs_reference, layout, uniform

SCANS = ("inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod")
LAYOUTS = ("batched", "batched_3d", "packed_info", "indices", "packed_info_gaps")


def scan_inputs(name, n, gen, dtype=torch.float32):
    if name.endswith("prod"):  # products of 300 samples stay within float32's range
        return uniform((n,) if isinstance(n, int) else n, gen, 0.5, 1.5, dtype)
    return torch.randn(n, generator=gen, dtype=torch.float64).to(dtype)


def scan_case(name, lay, gen, counts=EDGE_COUNTS, dtype=torch.float32):
    """(args, public call, reference call) of scan ``name`` in layout ``lay``."""
    public, ref = getattr(fastgen, name), getattr(reference, name)
    if lay == "batched":
        x = scan_inputs(name, (7, 45), gen, dtype)
        return [x], (lambda x, backend: public(x, backend=backend)), (lambda x: ref(x))
    if lay == "batched_3d":
        x = scan_inputs(name, (2, 3, 33), gen, dtype)
        return [x], (lambda x, backend: public(x, backend=backend)), (lambda x: ref(x))
    packed_info, ray_indices, n = layout(counts)
    x = scan_inputs(name, n, gen, dtype)
    if lay == "packed_info":
        return ([x, packed_info], (lambda x, p, backend: public(x, packed_info=p, backend=backend)),
                (lambda x, p: ref(x, p)))
    if lay == "indices":
        return ([x, ray_indices], (lambda x, i, backend: public(x, indices=i, backend=backend)),
                (lambda x, i: ref(x, None, i)))
    if lay == "packed_info_gaps":  # rays that skip samples and are out of order: uncovered samples get 0
        gaps = torch.tensor([[5, 3], [0, 2], [9, 0], [20, 17], [40, 1], [41, 0]])
        x = scan_inputs(name, 50, gen, dtype)
        return ([x, gaps], (lambda x, p, backend: public(x, packed_info=p, backend=backend)),
                (lambda x, p: ref(x, p)))
    raise AssertionError(lay)


def with_backend(fn, backend):
    return lambda *a: fn(*a, backend=backend)


@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("name", SCANS)
def test_scan_matches_reference(name, lay, backend, device, gen):
    args, public, ref = scan_case(name, lay, gen)
    (y,), _ = check_vs_reference(with_backend(public, backend), ref, args, device=device, gen=gen,
                                 what=f"{name}[{lay}]")
    assert y.dtype == torch.float32


@pytest.mark.parametrize("name", SCANS)
def test_scan_float64(name, backend, device, gen):
    args, public, ref = scan_case(name, "packed_info", gen, dtype=torch.float64)
    check_vs_reference(with_backend(public, backend), ref, args, device=device, gen=gen, what=name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["inclusive_sum", "exclusive_prod"])
def test_scan_half_inputs(name, dtype, backend, device, gen):
    """float16/bfloat16 are accepted, returned in the input dtype (computed in float32)."""
    args, public, ref = scan_case(name, "packed_info", gen, counts=(0, 1, 7, 20, 0, 3), dtype=dtype)
    (y,), (gx, _) = check_vs_reference(with_backend(public, backend), ref, args, device=device, gen=gen,
                                       what=f"{name}[{dtype}]")
    assert y.dtype == dtype and gx.dtype == dtype


def naive_scan(x, counts, prod, exclusive):
    """Per-ray loop over torch.cumsum/cumprod: an oracle independent of the reference module."""
    outs, start = [], 0
    for c in counts:
        seg = x[start:start + c]
        cum = torch.cumprod(seg, 0) if prod else torch.cumsum(seg, 0)
        if exclusive:
            cum = torch.cat([torch.full_like(seg[:1], 1.0 if prod else 0.0), cum[:-1]])
        outs.append(cum)
        start += c
    return torch.cat(outs) if outs else x[:0]


@pytest.mark.parametrize("name", SCANS)
def test_reference_scan_matches_naive_loop(name, gen):
    packed_info, ray_indices, n = layout(EDGE_COUNTS)
    x = scan_inputs(name, n, gen, torch.float64)
    expected = naive_scan(x, EDGE_COUNTS, name.endswith("prod"), name.startswith("exclusive"))
    assert_close_rel(getattr(reference, name)(x, packed_info), expected, torch.float64)
    assert_close_rel(getattr(reference, name)(x, None, ray_indices), expected, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", ["inclusive_prod", "exclusive_prod"])
def test_prod_scan_exact_at_zero(name, dtype, backend, device, gen):
    """Inputs with many exact zeros (several per ray, also at ray starts and ends): values and
    gradients equal torch.cumprod and its autograd in float64 (no division by zero, no NaN)."""
    counts = (4, 0, 1, 9, 33, 2, 70)
    packed_info, _, n = layout(counts)
    x = uniform(n, gen, 0.5, 1.5, torch.float64)
    x[torch.rand(n, generator=gen) < 0.3] = 0.0
    x[[0, 3, 5, 14, 46]] = 0.0  # first/last of rays, a one-sample ray
    exclusive = name.startswith("exclusive")
    g = torch.randn(n, generator=gen, dtype=torch.float64)

    x64 = x.clone().requires_grad_(True)
    expected = naive_scan(x64, counts, True, exclusive)
    (expected_grad,) = torch.autograd.grad((expected * g).sum(), x64)

    xt = x.to(dtype).to(device).requires_grad_(True)
    y = getattr(fastgen, name)(xt, packed_info=packed_info.to(device), backend=backend)
    (gx,) = torch.autograd.grad((y.double() * g.to(device)).sum(), xt)
    assert bool(torch.isfinite(gx).all()), "non-finite gradient of a product scan with zeros"
    assert_close_rel(y, expected, dtype, f"{name} value")
    assert_close_rel(gx, expected_grad, dtype, f"{name} grad")
    if dtype == torch.float64:
        assert torch.equal(gx.cpu() == 0, expected_grad == 0), "zero pattern of the gradient differs"


@pytest.mark.parametrize("name", SCANS)
@pytest.mark.parametrize("case", ["no_samples_no_rays", "no_samples_empty_rays", "batched_s0", "batched_r0"])
def test_scan_empty(name, case, backend, device):
    public = getattr(fastgen, name)
    if case == "no_samples_no_rays":
        x, kw = torch.zeros(0), {"packed_info": torch.zeros(0, 2, dtype=torch.long)}
    elif case == "no_samples_empty_rays":
        x, kw = torch.zeros(0), {"packed_info": torch.zeros(3, 2, dtype=torch.long)}
    elif case == "batched_s0":
        x, kw = torch.zeros(4, 0), {}
    else:
        x, kw = torch.zeros(0, 5), {}
    x = x.to(device).requires_grad_(True)
    kw = {k: v.to(device) for k, v in kw.items()}
    y = public(x, **kw, backend=backend)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("name", SCANS)
def test_scan_indices_with_empty_ray_index_gaps(name, backend, device, gen):
    """indices alone (no n_rays) with ray ids that skip values: rays are runs of equal indices."""
    indices = torch.tensor([2, 2, 2, 5, 7, 7, 9, 9, 9, 9, 9, 12])
    x = scan_inputs(name, indices.numel(), gen)
    counts = torch.unique_consecutive(indices, return_counts=True)[1].tolist()
    expected = naive_scan(x.double(), counts, name.endswith("prod"), name.startswith("exclusive"))
    y = getattr(fastgen, name)(x.to(device), indices=indices.to(device), backend=backend)
    assert_close_rel(y, expected, torch.float32, name)


@pytest.mark.parametrize("lay", ["batched", "packed_info", "indices"])
@pytest.mark.parametrize("name", SCANS)
def test_scan_gradcheck(name, lay, backend, device, gen):
    packed_info, ray_indices, n = layout(SMALL_COUNTS, device)
    if lay == "batched":
        x = scan_inputs(name, (3, 4), gen, torch.float64)
    else:
        x = scan_inputs(name, n, gen, torch.float64)
    if name.endswith("prod"):
        x.view(-1)[[1, 5]] = 0.0  # a zero inside a ray: the gradient there must still be right
    x = x.to(device).requires_grad_(True)
    kw = {"packed_info": packed_info} if lay == "packed_info" else {"indices": ray_indices} if lay == "indices" else {}
    fn = getattr(fastgen, name)
    assert torch.autograd.gradcheck(lambda x: fn(x, **kw, backend=backend), (x,), eps=1e-6, atol=1e-7)


def test_scan_int32_indices_widened(backend, device, gen):
    packed_info, ray_indices, n = layout((3, 0, 4, 1))
    x = torch.randn(n, generator=gen).to(device)
    expected = fastgen.inclusive_sum(x, packed_info=packed_info.to(device), backend=backend)
    got = fastgen.inclusive_sum(x, packed_info=packed_info.int().to(device), backend=backend)
    got_idx = fastgen.inclusive_sum(x, indices=ray_indices.int().to(device), backend=backend)
    assert torch.equal(got, expected) and torch.allclose(got_idx, expected)


def test_scan_backends_agree_with_docstring_example(backend, device):
    x = torch.tensor([1., 2., 3., 4., 5.], device=device)
    info = torch.tensor([[0, 2], [2, 3]], device=device)
    expected = {"inclusive_sum": [1., 3., 3., 7., 12.], "exclusive_sum": [0., 1., 0., 3., 7.],
                "inclusive_prod": [1., 2., 3., 12., 60.], "exclusive_prod": [1., 1., 1., 3., 12.]}
    for name, want in expected.items():
        got = getattr(fastgen, name)(x, packed_info=info, backend=backend)
        assert got.cpu().tolist() == want, name


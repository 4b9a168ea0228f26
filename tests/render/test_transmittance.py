"""render_transmittance_*, render_weight_*, render_visibility_*: every backend against the float64
reference (forward and backward), batched and packed, saturated/transparent rays, alphas of exactly
0 and 1, gradcheck."""
from __future__ import annotations

import pytest
import torch

import fastgen
from fastgen.ops.render import reference
from tests.conftest import assert_close_rel
from tests.render._helpers import (
    EDGE_COUNTS, SMALL_COUNTS, check_vs_reference, layout, log_uniform, samples, threshold_between, uniform,
)

LAYOUTS = ("batched", "packed_info", "ray_indices_n_rays", "ray_indices")
DENSITY_OPS = ("render_transmittance_from_density", "render_weight_from_density")
ALPHA_OPS = ("render_transmittance_from_alpha", "render_weight_from_alpha")


def packing(lay, counts):
    """(index tensors as extra args, kwargs builder, reference kwargs builder, sample shape)."""
    packed_info, ray_indices, n = layout(counts)
    if lay == "batched":
        return [], (lambda: {}), (lambda: {}), (len(counts), 37)
    if lay == "packed_info":
        return ([packed_info], (lambda p: {"packed_info": p}), (lambda p: {"packed_info": p}), (n,))
    if lay == "ray_indices_n_rays":
        r = len(counts)
        return ([ray_indices], (lambda i: {"ray_indices": i, "n_rays": r}),
                (lambda i: {"ray_indices": i, "n_rays": r}), (n,))
    if lay == "ray_indices":
        return [ray_indices], (lambda i: {"ray_indices": i}), (lambda i: {"ray_indices": i}), (n,)
    raise AssertionError(lay)


def density_case(name, lay, gen, counts=EDGE_COUNTS, sigma=None, prefix=False, dtype=torch.float32):
    idx, kw, ref_kw, shape = packing(lay, counts)
    t_starts, t_ends, sigmas, _ = samples(shape, gen, dtype=dtype)
    if sigma is not None:
        sigmas = sigma(shape).to(dtype)
    floats = [t_starts, t_ends, sigmas] + ([uniform(shape, gen, 0.2, 1.0, dtype)] if prefix else [])
    nf = len(floats)
    public, ref = getattr(fastgen, name), getattr(reference, name)

    def call(*a, backend):
        extra = {"prefix_trans": a[3]} if prefix else {}
        return public(*a[:3], **kw(*a[nf:]), **extra, backend=backend)

    def ref_call(*a):
        extra = {"prefix_trans": a[3]} if prefix else {}
        return ref(*a[:3], **ref_kw(*a[nf:]), **extra)
    return floats + idx, call, ref_call


def alpha_case(name, lay, gen, counts=EDGE_COUNTS, alphas=None, prefix=False, dtype=torch.float32):
    idx, kw, ref_kw, shape = packing(lay, counts)
    a0 = uniform(shape, gen, 0.0, 0.2, dtype) if alphas is None else alphas(shape).to(dtype)
    floats = [a0] + ([uniform(shape, gen, 0.2, 1.0, dtype)] if prefix else [])
    nf = len(floats)
    public, ref = getattr(fastgen, name), getattr(reference, name)

    def call(*a, backend):
        extra = {"prefix_trans": a[1]} if prefix else {}
        return public(a[0], **kw(*a[nf:]), **extra, backend=backend)

    def ref_call(*a):
        extra = {"prefix_trans": a[1]} if prefix else {}
        return ref(a[0], **ref_kw(*a[nf:]), **extra)
    return floats + idx, call, ref_call


def bound(fn, backend):
    return lambda *a: fn(*a, backend=backend)


@pytest.mark.parametrize("prefix", [False, True], ids=["no_prefix", "prefix_trans"])
@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("name", DENSITY_OPS)
def test_from_density_matches_reference(name, lay, prefix, backend, device, gen):
    args, call, ref = density_case(name, lay, gen, prefix=prefix)
    outs, _ = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen, what=f"{name}[{lay}]")
    assert all(o.dtype == torch.float32 and o.shape == args[2].shape for o in outs)


@pytest.mark.parametrize("prefix", [False, True], ids=["no_prefix", "prefix_trans"])
@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("name", ALPHA_OPS)
def test_from_alpha_matches_reference(name, lay, prefix, backend, device, gen):
    args, call, ref = alpha_case(name, lay, gen, prefix=prefix)
    outs, _ = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen, what=f"{name}[{lay}]")
    assert all(o.dtype == torch.float32 and o.shape == args[0].shape for o in outs)


@pytest.mark.parametrize("name", DENSITY_OPS + ALPHA_OPS)
def test_float64(name, backend, device, gen):
    make = density_case if name in DENSITY_OPS else alpha_case
    args, call, ref = make(name, "packed_info", gen, dtype=torch.float64)
    check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen, what=name)


@pytest.mark.parametrize("lay", ["batched", "packed_info"])
@pytest.mark.parametrize("name", DENSITY_OPS)
def test_opaque_rays_saturate(name, lay, backend, device, gen):
    """Densities 1e4..1e10: transmittance is 0 after the first sample; values and gradients finite."""
    args, call, ref = density_case(name, lay, gen, sigma=log_uniform(1e4, 1e10, gen))
    outs, grads = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen,
                                     what=f"{name}[opaque]")
    for t in [*outs, *(g for g in grads if g is not None)]:
        assert bool(torch.isfinite(t).all()), "non-finite output or gradient on saturated rays"
    trans = outs[0] if name.endswith("transmittance_from_density") else outs[1]
    alphas = outs[-1]
    assert bool((alphas == 1).all()), "alpha of a sample with sigma*dt >= 100 must round to 1"
    first = torch.zeros_like(trans, dtype=torch.bool)
    if lay == "batched":
        first[:, 0] = True
    else:
        packed_info = args[3].to(device)
        starts = packed_info[:, 0][packed_info[:, 1] > 0]
        first[starts] = True
    assert bool((trans[first] == 1).all()) and bool((trans[~first] < 1e-30).all())


@pytest.mark.parametrize("lay", ["batched", "ray_indices"])
@pytest.mark.parametrize("name", DENSITY_OPS)
def test_transparent_rays(name, lay, backend, device, gen):
    args, call, ref = density_case(name, lay, gen, sigma=lambda shape: torch.zeros(shape))
    outs, grads = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen,
                                     what=f"{name}[transparent]")
    assert bool((outs[0 if "transmittance" in name else 1] == 1).all())
    assert bool((outs[-1] == 0).all())


def cumprod_exclusive(x):
    return torch.cat([torch.ones_like(x[..., :1]), torch.cumprod(x, -1)[..., :-1]], -1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lay", ["batched", "packed_info"])
def test_alphas_exactly_zero_and_one(lay, dtype, backend, device, gen):
    """alpha in {0, 1} in the middle, first and last sample of rays: weights and transmittance and
    their gradients equal torch.cumprod autograd in float64 (exact at alpha == 1, no NaN)."""
    r, s = 6, 9
    a = uniform((r, s), gen, 0.0, 1.0, torch.float64)
    a[torch.rand((r, s), generator=gen) < 0.2] = 1.0
    a[torch.rand((r, s), generator=gen) < 0.2] = 0.0
    a[0, 0] = a[1, -1] = a[2, 3] = a[2, 5] = 1.0
    a[3] = 0.0
    ga, gb = torch.randn((2, r, s), generator=gen, dtype=torch.float64)

    a64 = a.clone().requires_grad_(True)
    trans64 = cumprod_exclusive(1.0 - a64)
    w64 = trans64 * a64
    (expected_grad,) = torch.autograd.grad((w64 * ga + trans64 * gb).sum(), a64)

    x = a.to(dtype).to(device)
    kw = {}
    if lay == "packed_info":
        x = x.reshape(-1)
        kw["packed_info"] = layout([s] * r, device)[0]
    x.requires_grad_(True)
    w, trans = fastgen.render_weight_from_alpha(x, **kw, backend=backend)
    loss = (w.double() * ga.to(device).view_as(w) + trans.double() * gb.to(device).view_as(w)).sum()
    (grad,) = torch.autograd.grad(loss, x)
    assert bool(torch.isfinite(grad).all())
    assert_close_rel(w.reshape(r, s), w64, dtype, "weights")
    assert_close_rel(trans.reshape(r, s), trans64, dtype, "trans")
    assert_close_rel(grad.reshape(r, s), expected_grad, dtype, "grad")


@pytest.mark.parametrize("lay", ["batched", "packed_info", "ray_indices"])
@pytest.mark.parametrize("name", ["render_weight_from_density", "render_weight_from_alpha"])
def test_weight_gradcheck(name, lay, backend, device, gen):
    make = density_case if name in DENSITY_OPS else alpha_case
    args, call, _ = make(name, lay, gen, counts=SMALL_COUNTS, dtype=torch.float64, prefix=True)
    if lay == "batched":  # keep gradcheck small: 2 x 4 samples
        args = [a[:2, :4] for a in args]
    args = [a.to(device).requires_grad_(a.is_floating_point()) for a in args]
    assert torch.autograd.gradcheck(bound(call, backend), tuple(args), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["render_transmittance_from_density", "render_weight_from_alpha"])
def test_empty(name, backend, device):
    packed_info = torch.tensor([[0, 0], [0, 0]], device=device)
    x = torch.zeros(0, device=device, requires_grad=True)
    ins = (x, x, x) if "density" in name else (x,)
    outs = getattr(fastgen, name)(*ins, packed_info=packed_info, backend=backend)
    assert all(o.shape == (0,) for o in outs)
    outs = getattr(fastgen, name)(*ins, ray_indices=torch.zeros(0, dtype=torch.long, device=device), n_rays=0,
                                  backend=backend)
    assert all(o.shape == (0,) for o in outs)
    b = torch.zeros(3, 0, device=device, requires_grad=True)
    outs = getattr(fastgen, name)(*((b, b, b) if "density" in name else (b,)), backend=backend)
    assert all(o.shape == (3, 0) for o in outs)


# ---------------------------------------------------------------------------- visibility
@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("source", ["density", "alpha"])
def test_visibility_matches_reference(source, lay, backend, device, gen):
    if source == "density":
        args, _, ref = density_case("render_weight_from_density", lay, gen, prefix=True)
        _, trans, alphas = ref(*[a.double() if a.is_floating_point() else a for a in args])
    else:
        args, _, ref = alpha_case("render_weight_from_alpha", lay, gen, prefix=True)
        _, trans = ref(*[a.double() if a.is_floating_point() else a for a in args])
        alphas = args[0].double()
    name = f"render_visibility_from_{source}"
    idx, kw, ref_kw, _ = packing(lay, EDGE_COUNTS)
    nf = len(args) - len(idx)
    q_trans = torch.quantile(trans.flatten(), torch.tensor([0.3, 0.6, 0.8], dtype=torch.float64)).tolist()
    q_alpha = torch.quantile(alphas.flatten(), torch.tensor([0.2, 0.5], dtype=torch.float64)).tolist()
    for k, (eps_target, thre_target) in enumerate(((1e-4, 0.0), (q_trans[0], 0.0), (q_trans[1], q_alpha[1]),
                                                   (q_trans[2], q_alpha[0]))):
        eps = threshold_between(trans, eps_target, margin=1e-3)
        thre = threshold_between(alphas, thre_target, margin=1e-3) if thre_target else 0.0
        expected = getattr(reference, name)(*[a.double() for a in args[:nf - 1]], **ref_kw(*args[nf:]),
                                            early_stop_eps=eps, alpha_thre=thre, prefix_trans=args[nf - 1].double())
        got = getattr(fastgen, name)(*[a.to(device) for a in args[:nf - 1]],
                                     **kw(*[i.to(device) for i in args[nf:]]), early_stop_eps=eps,
                                     alpha_thre=thre, prefix_trans=args[nf - 1].to(device), backend=backend)
        assert got.dtype == torch.bool and got.shape == expected.shape
        assert torch.equal(got.cpu(), expected), f"{name}[{lay}] eps={eps} alpha_thre={thre}: masks differ"
        if k > 0:
            assert bool(expected.any()) and not bool(expected.all()), "degenerate case: one-sided mask"


def test_visibility_docstring_example(backend, device):
    alphas = torch.tensor([0.4, 0.8, 0.1, 0.8, 0.1, 0.0, 0.9], device=device)
    ray_indices = torch.tensor([0, 0, 0, 1, 1, 2, 2], device=device)
    vis = fastgen.render_visibility_from_alpha(alphas, ray_indices=ray_indices, early_stop_eps=0.3,
                                               alpha_thre=0.2, backend=backend)
    assert vis.cpu().tolist() == [True, True, False, True, False, False, True]


def test_visibility_has_no_grad(backend, device, gen):
    alphas = uniform((3, 5), gen).to(device).requires_grad_(True)
    vis = fastgen.render_visibility_from_alpha(alphas, backend=backend)
    assert vis.dtype == torch.bool and not vis.requires_grad

"""accumulate_along_rays and nerfacc-style rendering: every backend against the float64 reference,
forward and backward, batched and packed, empty rays, gradcheck."""
from __future__ import annotations

import pytest
import torch

import fastgen
from fastgen.ops.render import reference
from tests.conftest import assert_close_rel
from tests.render._helpers import EDGE_COUNTS, SMALL_COUNTS, check_vs_reference, layout, samples, uniform

# Empty rays before the first and after the last sample: n_rays exceeds max(ray_indices) + 1.
PACKED_COUNTS = (0, 0) + EDGE_COUNTS + (0, 0)


def accumulate_case(lay, dim, gen, counts=PACKED_COUNTS, dtype=torch.float32):
    """(args, public call, reference call); dim None = no values."""
    if lay == "batched":
        shape, idx, kw = (6, 41), [], (lambda: {})
    else:
        _, ray_indices, n = layout(counts)
        shape, idx, r = (n,), [ray_indices], len(counts)
        kw = lambda i: {"ray_indices": i, "n_rays": r}  # noqa: E731
    weights = uniform(shape, gen, 0.0, 1.0, dtype)
    floats = [weights] + ([] if dim is None else [torch.randn((*shape, dim), generator=gen).to(dtype)])
    nf = len(floats)

    def call(*a, backend):
        return fastgen.accumulate_along_rays(a[0], a[1] if dim else None, **kw(*a[nf:]), backend=backend)

    def ref(*a):
        return reference.accumulate_along_rays(a[0], a[1] if dim else None, **kw(*a[nf:]))
    return floats + idx, call, ref


def bound(fn, backend):
    return lambda *a: fn(*a, backend=backend)


@pytest.mark.parametrize("dim", [None, 1, 3, 5], ids=["no_values", "D1", "D3", "D5"])
@pytest.mark.parametrize("lay", ["batched", "packed"])
def test_accumulate_matches_reference(lay, dim, backend, device, gen):
    args, call, ref = accumulate_case(lay, dim, gen)
    (out,), _ = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen,
                                   what=f"accumulate[{lay}, D={dim}]")
    n_rays = len(PACKED_COUNTS) if lay == "packed" else args[0].shape[0]
    assert out.shape == (n_rays, dim or 1) and out.dtype == torch.float32


def test_accumulate_float64(backend, device, gen):
    args, call, ref = accumulate_case("packed", 3, gen, dtype=torch.float64)
    check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen, what="accumulate[f64]")


def test_accumulate_empty_rays_are_zero(backend, device, gen):
    _, ray_indices, n = layout(PACKED_COUNTS)
    w = uniform(n, gen).to(device)
    out = fastgen.accumulate_along_rays(w, None, ray_indices.to(device), len(PACKED_COUNTS), backend=backend)
    empty = torch.tensor(PACKED_COUNTS) == 0
    assert bool((out.cpu()[empty] == 0).all())


@pytest.mark.parametrize("case", ["no_samples", "no_rays", "batched_s0"])
def test_accumulate_empty(case, backend, device):
    if case == "batched_s0":
        w, v, kw = torch.zeros(4, 0), torch.zeros(4, 0, 3), {}
        expected_shape = (4, 3)
    else:
        n_rays = 3 if case == "no_samples" else 0
        w, v, kw = torch.zeros(0), torch.zeros(0, 3), {"ray_indices": torch.zeros(0, dtype=torch.long),
                                                      "n_rays": n_rays}
        expected_shape = (n_rays, 3)
    w, v = w.to(device).requires_grad_(True), v.to(device).requires_grad_(True)
    kw = {k: x.to(device) if torch.is_tensor(x) else x for k, x in kw.items()}
    out = fastgen.accumulate_along_rays(w, v, **kw, backend=backend)
    assert out.shape == expected_shape and bool((out == 0).all())
    out.sum().backward()
    assert w.grad.shape == w.shape and v.grad.shape == v.shape


@pytest.mark.parametrize("lay", ["batched", "packed"])
def test_accumulate_gradcheck(lay, backend, device, gen):
    args, call, _ = accumulate_case(lay, 3, gen, counts=(0,) + SMALL_COUNTS, dtype=torch.float64)
    if lay == "batched":
        args = [args[0][:2, :4], args[1][:2, :4]]
    args = [a.to(device).requires_grad_(a.is_floating_point()) for a in args]
    assert torch.autograd.gradcheck(bound(call, backend), tuple(args), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("dim", [None, 3], ids=["no_values", "D3"])
@pytest.mark.parametrize("lay", ["batched", "packed"])
def test_accumulate_gradgradcheck(lay, dim, backend, device, gen):
    """Double backward (the kernel backends' backward switches to differentiable ops under
    create_graph), and that switch gives the fused backward's first-order gradients."""
    args, call, _ = accumulate_case(lay, dim, gen, counts=(0,) + SMALL_COUNTS, dtype=torch.float64)
    if lay == "batched":
        args = [a[:2, :4] for a in args]
    args = [a.to(device).requires_grad_(a.is_floating_point()) for a in args]
    fn = bound(call, backend)
    assert torch.autograd.gradgradcheck(fn, tuple(args), eps=1e-6, atol=1e-7)
    floats = [a for a in args if a.is_floating_point()]
    out = fn(*args)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(device)
    plain = torch.autograd.grad(out, floats, g, retain_graph=True)
    graph = torch.autograd.grad(out, floats, g, create_graph=True)
    for p, q in zip(plain, graph):
        assert_close_rel(q, p, torch.float64, "create_graph gradient")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dim", [None, 3], ids=["no_values", "D3"])
@pytest.mark.parametrize("lay", ["batched", "packed"])
def test_accumulate_half_precision(lay, dim, dtype, backend, device, gen):
    """float16/bfloat16 weights and values: output and gradients in the input dtype, close to the
    float64 reference on the same (rounded) inputs (the kernel backends accumulate in float32)."""
    args, call, ref = accumulate_case(lay, dim, gen, counts=(0, 1, 7, 20, 0, 3), dtype=dtype)
    (out,), grads = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen,
                                       what=f"accumulate[{lay}, D={dim}, {dtype}]")
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads if g is not None)


# ---------------------------------------------------------------------------- rendering
def rendering_case(lay, field, bkgd, gen, counts=PACKED_COUNTS, dtype=torch.float32):
    """Args (t_starts, t_ends, rgbs, sigmas|alphas, [bkgd], [ray_indices]) and the public/reference
    calls, which return (colors, opacities, depths, weights, trans, alphas)."""
    if lay == "batched":
        shape, idx, n_rays = (6, 41), [], 6
    else:
        _, ray_indices, n = layout(counts)
        shape, idx, n_rays = (n,), [ray_indices], len(counts)
    t_starts, t_ends, sigmas, rgbs = samples(shape, gen, dtype=dtype)
    field_out = sigmas if field == "sigma" else uniform(shape, gen, 0.0, 0.1, dtype)
    floats = [t_starts, t_ends, rgbs, field_out]
    if bkgd == "shared":
        floats.append(uniform(3, gen, dtype=dtype))
    elif bkgd == "per_ray":
        floats.append(uniform((n_rays, 3), gen, dtype=dtype))
    nf = len(floats)

    def run(fn, a, **extra):
        ray_indices = a[nf] if idx else None
        fn_kw = {"rgb_sigma_fn" if field == "sigma" else "rgb_alpha_fn": lambda t0, t1, ri: (a[2], a[3])}
        colors, opacities, depths, extras = fn(a[0], a[1], ray_indices, n_rays if idx else None,
                                               render_bkgd=a[4] if bkgd else None, **fn_kw, **extra)
        return colors, opacities, depths, extras["weights"], extras["trans"], extras["alphas"]

    return floats + idx, (lambda *a, backend: run(fastgen.rendering, a, backend=backend)), \
        (lambda *a: run(reference.rendering, a))


@pytest.mark.parametrize("bkgd", [None, "shared", "per_ray"], ids=["no_bkgd", "bkgd3", "bkgd_per_ray"])
@pytest.mark.parametrize("field", ["sigma", "alpha"])
@pytest.mark.parametrize("lay", ["batched", "packed"])
def test_rendering_matches_reference(lay, field, bkgd, backend, device, gen):
    args, call, ref = rendering_case(lay, field, bkgd, gen)
    outs, _ = check_vs_reference(bound(call, backend), ref, args, device=device, gen=gen,
                                 what=f"rendering[{lay}, {field}, {bkgd}]")
    n_rays = args[0].shape[0] if lay == "batched" else len(PACKED_COUNTS)
    assert outs[0].shape == (n_rays, 3) and outs[1].shape == (n_rays, 1) and outs[2].shape == (n_rays, 1)


def test_rendering_formula(backend, device, gen):
    """colors = sum w c + (1 - O) bkgd, opacities = sum w, depths = sum w t_mid / max(O, eps)."""
    args, call, _ = rendering_case("packed", "sigma", "shared", gen, counts=(0, 4, 1, 7, 0))
    t0, t1, rgbs, sigmas, bkgd, ray_indices = [a.double().to(device) if a.is_floating_point() else a.to(device)
                                               for a in args]
    colors, opacities, depths, weights, _, _ = call(t0, t1, rgbs, sigmas, bkgd, ray_indices, backend=backend)
    w = weights.cpu()
    ri = ray_indices.cpu()
    for r in range(5):
        m = ri == r
        o = w[m].sum()
        assert_close_rel(opacities[r, 0].cpu(), o, torch.float64)
        assert_close_rel(colors[r].cpu(), (w[m, None] * rgbs.cpu()[m]).sum(0) + (1 - o) * bkgd.cpu(), torch.float64)
        d = (w[m] * (t0.cpu()[m] + t1.cpu()[m]) / 2).sum() / max(float(o), reference.DEPTH_EPS)
        assert_close_rel(depths[r, 0].cpu(), d, torch.float64)

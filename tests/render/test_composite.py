"""composite (fused volume compositing): every backend against the float64 reference and against
``rendering``, forward and backward (sigmas, rgbs, render_bkgd), packed and batched, background,
early stopping, half precision, saturation, empty rays, gradcheck."""
from __future__ import annotations

import math

import pytest
import torch

import fastgen
from fastgen.ops.render import reference
from tests.conftest import assert_close_rel
from tests.render._helpers import (
    EDGE_COUNTS, SMALL_COUNTS, check_vs_reference, fwd_bwd, layout, log_uniform, samples, threshold_between, uniform,
)

PACKED_COUNTS = (0, 0) + EDGE_COUNTS + (0, 0)
LAYOUTS = ("ray_indices", "packed_info", "batched", "batched_3d")
BKGDS = (None, "shared", "per_ray")
GRAD_ARGS = (2, 3, 4)  # sigmas, rgbs, render_bkgd: composite is not differentiable w.r.t. t_starts/t_ends


class Case:
    """Inputs of one composite call: floats (t_starts, t_ends, sigmas, rgbs[, bkgd]) then indices."""

    def __init__(self, lay, bkgd, gen, counts=PACKED_COUNTS, dtype=torch.float32, sigma=None, batch=(6, 41)):
        self.lay, self.has_bkgd = lay, bkgd is not None
        packed_info = ray_indices = None
        if lay == "batched":
            shape, self.ray_shape = batch, batch[:-1]
        elif lay == "batched_3d":
            shape, self.ray_shape = (2, 3, 29), (2, 3)
        else:
            packed_info, ray_indices, n = layout(counts)
            shape, self.ray_shape = (n,), (len(counts),)
            self.counts = counts
        t_starts, t_ends, sigmas, rgbs = samples(shape, gen, dtype=dtype)
        if sigma is not None:
            sigmas = sigma(shape).to(dtype)
        floats = [t_starts, t_ends, sigmas, rgbs]
        if bkgd == "shared":
            floats.append(uniform(3, gen, dtype=dtype))
        elif bkgd == "per_ray":
            floats.append(uniform((*self.ray_shape, 3), gen, dtype=dtype))
        self.nf = len(floats)
        self.idx = {"ray_indices": [ray_indices], "packed_info": [packed_info]}.get(lay, [])
        self.args = floats + self.idx

    def ray_of_sample(self):
        """The ray (row of the flattened ray shape) of every sample, shaped like sigmas."""
        if self.lay.startswith("batched"):
            shape = self.args[2].shape
            return torch.arange(math.prod(shape[:-1]))[:, None].expand(-1, shape[-1]).reshape(shape)
        return self.args[self.nf] if self.lay == "ray_indices" else layout(self.counts)[1]

    def kwargs(self, a):
        kw = {"render_bkgd": a[4] if self.has_bkgd else None}
        if self.lay == "ray_indices":
            kw.update(ray_indices=a[self.nf], n_rays=self.ray_shape[0])
        elif self.lay == "packed_info":
            kw.update(packed_info=a[self.nf])
        return kw

    def call(self, backend, early_stop_eps=0.0):
        return lambda *a: fastgen.composite(*a[:4], **self.kwargs(a), early_stop_eps=early_stop_eps,
                                            backend=backend)

    def ref(self, early_stop_eps=0.0):
        return lambda *a: reference.composite(*a[:4], **self.kwargs(a), early_stop_eps=early_stop_eps)

    def trans64(self):
        """float64 reference transmittance of every sample (to place early-stop thresholds)."""
        a = [x.double() if x.is_floating_point() else x for x in self.args]
        kw = {"ray_indices": a[self.nf]} if self.lay == "ray_indices" else (
            {"packed_info": a[self.nf]} if self.lay == "packed_info" else {})
        return reference.render_transmittance_from_density(a[0], a[1], a[2], **kw)[0]


def check(case, backend, device, gen, early_stop_eps=0.0, dtype=None, what="", factor=1.0):
    outs, grads = check_vs_reference(case.call(backend, early_stop_eps), case.ref(early_stop_eps), case.args,
                                     device=device, gen=gen, grad_args=GRAD_ARGS, dtype=dtype, factor=factor,
                                     what=f"composite[{case.lay}{', ' + what if what else ''}]")
    rgb, opacity, depth = outs
    want = torch.float64 if case.args[2].dtype == torch.float64 else torch.float32
    assert rgb.shape == (*case.ray_shape, 3) and opacity.shape == (*case.ray_shape, 1) \
        and depth.shape == (*case.ray_shape, 1)
    assert rgb.dtype == opacity.dtype == depth.dtype == want, f"output dtype {rgb.dtype}, documented {want}"
    for t in [*outs, *(g for g in grads if g is not None)]:
        assert bool(torch.isfinite(t).all()), "non-finite output or gradient"
    return outs, grads


@pytest.mark.parametrize("bkgd", BKGDS, ids=["no_bkgd", "bkgd3", "bkgd_per_ray"])
@pytest.mark.parametrize("lay", LAYOUTS)
def test_composite_matches_reference(lay, bkgd, backend, device, gen):
    check(Case(lay, bkgd, gen), backend, device, gen, what=str(bkgd))


@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_float64(lay, backend, device, gen):
    check(Case(lay, "per_ray", gen, dtype=torch.float64), backend, device, gen)


@pytest.mark.parametrize("target", [1e-4, 0.3])
@pytest.mark.parametrize("lay", ["ray_indices", "packed_info", "batched"])
def test_composite_early_stop_matches_reference(lay, target, backend, device, gen):
    """early_stop_eps > 0: samples with T_i < eps (and all later ones) contribute nothing."""
    case = Case(lay, "per_ray", gen, batch=(6, 120))
    # rays of very different densities: some stop early, some stay far from opaque (so that the
    # background gradient, proportional to 1 - opacity, is well conditioned)
    scale = torch.tensor([4.0, 0.05, 2.0, 0.3])[case.ray_of_sample() % 4]
    case.args[2] = case.args[2] * scale
    trans = case.trans64()
    eps = threshold_between(trans, target)
    assert bool((trans < eps).any()), "the case must actually stop some rays early"
    check(case, backend, device, gen, early_stop_eps=eps, what=f"early_stop_eps={eps:.3g}")


def naive_composite(t0, t1, sig, rgb, counts, bkgd=None, eps=0.0):
    """Per-ray Python loop, the formulas of the docstring: an oracle independent of the reference."""
    out_rgb, out_o, out_d, start = [], [], [], 0
    for r, c in enumerate(counts):
        T, o, col, d = 1.0, 0.0, [0.0, 0.0, 0.0], 0.0
        for i in range(start, start + c):
            if eps > 0 and T < eps:
                break
            a = 1.0 - math.exp(-float(sig[i]) * float(t1[i] - t0[i]))
            w = T * a
            o += w
            col = [col[k] + w * float(rgb[i, k]) for k in range(3)]
            d += w * float(t0[i] + t1[i]) / 2
            T *= 1.0 - a
        if bkgd is not None:
            col = [col[k] + (1 - o) * float(bkgd[r, k]) for k in range(3)]
        out_rgb.append(col)
        out_o.append([o])
        out_d.append([d / max(o, reference.DEPTH_EPS)])
        start += c
    return tuple(torch.tensor(x, dtype=torch.float64) for x in (out_rgb, out_o, out_d))


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_reference_composite_matches_naive_loop(eps, gen):
    counts = (0, 3, 1, 0, 17, 40)
    case = Case("packed_info", "per_ray", gen, counts=counts, dtype=torch.float64)
    t0, t1, sig, rgb, bkgd, info = case.args
    expected = naive_composite(t0, t1, sig, rgb, counts, bkgd, eps)
    got = reference.composite(t0, t1, sig, rgb, packed_info=info, render_bkgd=bkgd, early_stop_eps=eps)
    for g, e in zip(got, expected):
        assert_close_rel(g, e, torch.float64)


@pytest.mark.parametrize("bkgd", BKGDS, ids=["no_bkgd", "bkgd3", "bkgd_per_ray"])
@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_equals_rendering(lay, bkgd, backend, device, gen):
    """composite == rendering with rgb_sigma_fn returning (rgbs, sigmas): rgb, opacity, depth and
    their gradients w.r.t. sigmas, rgbs and render_bkgd, on the same backend."""
    case = Case(lay, bkgd, gen)
    args = [a.to(device) for a in case.args]
    n_rays = case.ray_shape[0]

    def via_rendering(*a):
        ray_indices = a[case.nf] if lay == "ray_indices" else None
        rgb, opacity, depth, _ = fastgen.rendering(
            a[0], a[1], ray_indices, n_rays if ray_indices is not None else None,
            rgb_sigma_fn=lambda t0, t1, ri: (a[3], a[2]), render_bkgd=a[4] if bkgd else None, backend=backend)
        return rgb, opacity, depth

    mask = [i in GRAD_ARGS and i < case.nf for i in range(len(args))]
    outs, grads, coeffs = fwd_bwd(case.call(backend), args, mask, gen=gen)
    r_outs, r_grads, _ = fwd_bwd(via_rendering, args, mask, coeffs=coeffs)
    for name, o, r in zip(("rgb", "opacity", "depth"), outs, r_outs):
        assert_close_rel(o, r, torch.float32, name)
    for i, (g, r) in enumerate(zip(grads, r_grads)):
        if r is not None:
            assert_close_rel(g, r, torch.float32, ("t_starts", "t_ends", "sigmas", "rgbs", "render_bkgd")[i])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_half_precision(lay, dtype, backend, device, gen):
    """float16/bfloat16 inputs: float32 outputs, gradients in the input dtype, close to the float64
    reference on the same (rounded) inputs."""
    case = Case(lay, "per_ray", gen, dtype=dtype)
    outs, grads = check(case, backend, device, gen, what=str(dtype))
    assert grads[2].dtype == grads[3].dtype == grads[4].dtype == dtype


@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_surfaces_saturate(lay, backend, device, gen):
    """Even rays hit samples of density 1e4..1e10 (surfaces) and saturate there; odd rays do not.
    Values and gradients as the reference, no NaN/inf."""
    case = Case(lay, "per_ray", gen)
    shape = case.args[2].shape
    hit = (torch.rand(shape, generator=gen) < 0.05) & (case.ray_of_sample() % 2 == 0)
    case.args[2] = torch.where(hit, log_uniform(1e4, 1e10, gen)(shape).float(), case.args[2])
    (_, opacity, _), _ = check(case, backend, device, gen, what="surfaces")
    o = opacity.cpu().flatten()
    assert bool((o > 1 - 1e-6).any()) and bool(((o > 0) & (o < 0.999)).any()), "want saturated and other rays"


@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_all_opaque(lay, backend, device, gen):
    """Every density 1e4..1e10: the first sample of each ray takes all the weight; outputs equal the
    reference; gradients finite and negligible (the reference's are ~1e-44: only rounding noise of
    the order of float32 epsilon times the upstream gradient is allowed)."""
    case = Case(lay, "per_ray", gen, sigma=log_uniform(1e4, 1e10, gen))
    args = [a.to(device) for a in case.args]
    mask = [i in GRAD_ARGS for i in range(len(args))]
    outs, grads, coeffs = fwd_bwd(case.call(backend), args, mask, gen=gen)
    ref_outs = case.ref()(*[a.double() if a.is_floating_point() else a for a in case.args])
    for o, r in zip(outs, ref_outs):
        assert_close_rel(o, r, torch.float32, "opaque outputs")
    for t in [*outs, grads[2], grads[3], grads[4]]:
        assert bool(torch.isfinite(t).all()), "non-finite output or gradient on opaque rays"
    scale = max(float(c.abs().max()) for c in coeffs)
    assert float(grads[2].abs().max()) <= 1e-5 * scale, "gradient w.r.t. saturated densities is not ~0"
    nonempty = torch.ones(case.ray_shape, dtype=torch.bool)
    if lay == "ray_indices":
        nonempty = torch.tensor(case.counts) > 0
    assert bool((outs[1].cpu()[nonempty] == 1).all())


@pytest.mark.parametrize("lay", ["ray_indices", "batched"])
def test_composite_transparent(lay, backend, device, gen):
    """sigma 0: opacity 0, depth 0, rgb = background; gradients still match the reference."""
    case = Case(lay, "per_ray", gen, sigma=lambda shape: torch.zeros(shape))
    (rgb, opacity, depth), _ = check(case, backend, device, gen, what="transparent")
    assert bool((opacity == 0).all()) and bool((depth == 0).all())
    assert torch.equal(rgb.cpu(), case.args[4])


def test_composite_tiny_densities(backend, device, gen):
    """Opacities of 0.1 and 10 times the depth epsilon on alternate rays (float64, so that which side
    of the epsilon a ray lies on is unambiguous): depth and its gradient take the right branch.

    Here tau = sigma * dt is ~1e-11..1e-7, where alpha = 1 - exp(-tau) carries a rounding error of
    eps64 / tau relative (the reference computes it so; a kernel may use expm1): hence the looser
    tolerance. Taking the wrong branch would be off by a factor of ~10."""
    case = Case("ray_indices", "shared", gen, dtype=torch.float64,
                sigma=lambda shape: uniform(shape, gen, 0.5, 1.5, torch.float64))
    t0, t1, sigmas = case.args[:3]
    ray = case.ray_of_sample()
    tau_sum = torch.zeros(len(case.counts), dtype=torch.float64).index_add(0, ray, sigmas * (t1 - t0))
    target = reference.DEPTH_EPS * torch.tensor([0.1, 10.0], dtype=torch.float64)[torch.arange(len(case.counts)) % 2]
    case.args[2] = sigmas * (target / tau_sum.clamp_min(1e-30))[ray]
    (_, opacity, _), _ = check(case, backend, device, gen, what="tiny", factor=1e4)
    o = opacity.cpu()[torch.tensor(case.counts) > 0, 0]
    assert bool((o < reference.DEPTH_EPS).any()) and bool((o > reference.DEPTH_EPS).any())


@pytest.mark.parametrize("used", ["rgb", "opacity", "depth"])
def test_composite_partial_outputs(used, backend, device, gen):
    """A loss that uses one output (the others get no gradient) and only one input needing grad."""
    case = Case("ray_indices", "per_ray", gen, counts=(0, 5, 33, 1, 0))
    k = ("rgb", "opacity", "depth").index(used)
    for grad_arg in (2, 3):
        def one(*a):
            return fastgen.composite(*a[:4], **case.kwargs(a), backend=backend)[k]

        def ref(*a):
            return reference.composite(*a[:4], **case.kwargs(a))[k]
        check_vs_reference(one, ref, case.args, device=device, gen=gen, grad_args=(grad_arg,),
                           what=f"composite[{used} only, grad of arg {grad_arg}]")


def test_composite_packed_info_wins_over_ray_indices(backend, device, gen):
    case = Case("packed_info", None, gen, counts=(3, 0, 4, 2))
    t0, t1, s, c, info = [a.to(device) for a in case.args]
    expected = fastgen.composite(t0, t1, s, c, packed_info=info, backend=backend)
    other = torch.zeros_like(s, dtype=torch.long)  # would put every sample in ray 0
    got = fastgen.composite(t0, t1, s, c, ray_indices=other, packed_info=info, n_rays=1, backend=backend)
    for g, e in zip(got, expected):
        assert torch.equal(g, e)


@pytest.mark.parametrize("case", ["no_samples_no_rays", "no_samples_empty_rays", "ray_indices_empty",
                                  "batched_s0", "batched_r0"])
def test_composite_empty(case, backend, device):
    kw, bkgd = {}, torch.tensor([0.1, 0.2, 0.3], device=device, requires_grad=True)
    if case == "no_samples_no_rays":
        shape, n_rays = (0,), 0
        kw["packed_info"] = torch.zeros(0, 2, dtype=torch.long, device=device)
    elif case == "no_samples_empty_rays":
        shape, n_rays = (0,), 3
        kw["packed_info"] = torch.zeros(3, 2, dtype=torch.long, device=device)
    elif case == "ray_indices_empty":
        shape, n_rays = (0,), 4
        kw.update(ray_indices=torch.zeros(0, dtype=torch.long, device=device), n_rays=4)
    elif case == "batched_s0":
        shape, n_rays = (5, 0), 5
    else:
        shape, n_rays = (0, 7), 0
    t0 = torch.zeros(shape, device=device)
    sig = torch.zeros(shape, device=device, requires_grad=True)
    rgbs = torch.zeros((*shape, 3), device=device, requires_grad=True)
    rgb, opacity, depth = fastgen.composite(t0, t0 + 1, sig, rgbs, **kw, render_bkgd=bkgd, backend=backend)
    assert rgb.shape == (n_rays, 3) and opacity.shape == (n_rays, 1) and depth.shape == (n_rays, 1)
    assert bool((opacity == 0).all()) and bool((depth == 0).all())
    assert torch.equal(rgb.cpu(), bkgd.detach().cpu().expand(n_rays, 3))
    (rgb.sum() + opacity.sum() + depth.sum()).backward()
    assert sig.grad.shape == sig.shape and rgbs.grad.shape == rgbs.shape
    assert torch.allclose(bkgd.grad.cpu(), torch.full((3,), float(n_rays)))


@pytest.mark.parametrize("early_stop", [False, True], ids=["no_stop", "early_stop"])
@pytest.mark.parametrize("lay", ["ray_indices", "packed_info", "batched"])
def test_composite_gradcheck(lay, early_stop, backend, device, gen):
    case = Case(lay, "per_ray", gen, counts=SMALL_COUNTS, dtype=torch.float64, batch=(2, 4),
                sigma=lambda shape: uniform(shape, gen, 0.0, 20.0, torch.float64))
    eps = threshold_between(case.trans64(), 0.3, margin=0.05) if early_stop else 0.0
    args = [a.to(device).requires_grad_(i in GRAD_ARGS) for i, a in enumerate(case.args)]
    assert torch.autograd.gradcheck(case.call(backend, eps), tuple(args), eps=1e-6, atol=1e-7)

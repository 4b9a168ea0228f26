"""Bad input: every check of the render ops raises ValueError/TypeError with a message that says what
was wrong, before any kernel (or the reference) runs. Non-contiguous input is legal and equals the
contiguous result."""
from __future__ import annotations

import pytest
import torch

import fastgen
from fastgen.ops.render import _library, reference
from tests.conftest import assert_close_rel, forbid_kernels
from tests.render._helpers import fwd_bwd, layout, samples

REFERENCE_FUNCTIONS = (
    "inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod", "render_transmittance_from_density",
    "render_transmittance_from_alpha", "render_weight_from_density", "render_weight_from_alpha",
    "render_visibility_from_density", "render_visibility_from_alpha", "accumulate_along_rays", "rendering",
    "composite", "_scan",
)


@pytest.fixture
def no_kernels(monkeypatch):
    """Make the kernel modules and the reference raise if called."""
    forbid_kernels(monkeypatch, _library, reference, REFERENCE_FUNCTIONS)


def other_device(device):
    """A device different from ``device``: CPU for CUDA tensors, else CUDA if present, else meta."""
    if device.type == "cuda":
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "meta")


def packed(device, counts=(2, 0, 3, 1)):
    info, ri, n = layout(counts, device)
    t0, t1, s, c = (x.to(device) for x in samples(n, torch.Generator().manual_seed(0)))
    return t0, t1, s, c, info, ri, len(counts)


# Each case: (id, exception type, regex the message must match, call(device, backend)).
def _cases():
    P = packed
    cases = []

    def case(cid, exc, match):
        def deco(fn):
            cases.append(pytest.param(exc, match, fn, id=cid))
            return fn
        return deco

    # ---- types, shapes, dtypes
    @case("scan_not_a_tensor", TypeError, r"inclusive_sum: inputs must be a torch\.Tensor, got list")
    def _(d, b):
        fastgen.inclusive_sum([1.0, 2.0], backend=b)

    @case("scan_int_inputs", TypeError, r"exclusive_prod: inputs must have dtype in .*float32.*got int64")
    def _(d, b):
        fastgen.exclusive_prod(torch.arange(4, device=d), backend=b)

    @case("scan_scalar", ValueError, r"inclusive_sum: samples must have at least one dimension")
    def _(d, b):
        fastgen.inclusive_sum(torch.tensor(1.0, device=d), backend=b)

    @case("scan_packed_not_flat", ValueError, r"exclusive_sum: with packed_info or ray_indices the samples must "
          r"be flat \(N,\), got shape \(2, 3\)")
    def _(d, b):
        fastgen.exclusive_sum(torch.zeros(2, 3, device=d), packed_info=torch.tensor([[0, 6]], device=d), backend=b)

    @case("density_shape_mismatch", ValueError, r"render_weight_from_density: t_ends must have the shape of "
          r"t_starts \(6,\), got \(5,\)")
    def _(d, b):
        t0, t1, s, *_ = P(d)
        fastgen.render_weight_from_density(t0, t1[:5], s, backend=b)

    @case("density_int_sigmas", TypeError, r"render_transmittance_from_density: sigmas must have dtype in")
    def _(d, b):
        t0, t1, s, *_ = P(d)
        fastgen.render_transmittance_from_density(t0, t1, s.long(), backend=b)

    @case("density_mixed_dtypes", TypeError, r"render_weight_from_density: sigmas has dtype float16 but t_starts "
          r"has float32; pass one dtype")
    def _(d, b):
        t0, t1, s, *_ = P(d)
        fastgen.render_weight_from_density(t0, t1, s.half(), backend=b)

    @case("prefix_trans_shape", ValueError, r"render_transmittance_from_alpha: prefix_trans must have the shape "
          r"of the samples \(6,\), got \(3,\)")
    def _(d, b):
        a = torch.zeros(6, device=d)
        fastgen.render_transmittance_from_alpha(a, prefix_trans=torch.ones(3, device=d), backend=b)

    @case("alpha_int", TypeError, r"render_weight_from_alpha: alphas must have dtype in")
    def _(d, b):
        fastgen.render_weight_from_alpha(torch.zeros(3, 4, dtype=torch.int32, device=d), backend=b)

    @case("accumulate_values_shape", ValueError, r"accumulate_along_rays: values must have shape weights\.shape "
          r"\+ \(D,\) = \(6,\) \+ \(D,\), got \(5, 3\)")
    def _(d, b):
        _, _, s, c, _, ri, r = P(d)
        fastgen.accumulate_along_rays(s, c[:5], ri, r, backend=b)

    @case("accumulate_values_not_3d", ValueError, r"accumulate_along_rays: values must have shape")
    def _(d, b):
        fastgen.accumulate_along_rays(torch.zeros(2, 4, device=d), torch.zeros(2, 4, device=d), backend=b)

    @case("accumulate_mixed_dtypes", TypeError, r"accumulate_along_rays: values has dtype float64 but weights has "
          r"float32")
    def _(d, b):
        _, _, s, c, _, ri, r = P(d)
        fastgen.accumulate_along_rays(s, c.double(), ri, r, backend=b)

    @case("accumulate_missing_n_rays", ValueError, r"accumulate_along_rays: n_rays must be given with ray_indices")
    def _(d, b):
        _, _, s, c, _, ri, _ = P(d)
        fastgen.accumulate_along_rays(s, c, ri, backend=b)

    @case("accumulate_bad_n_rays", ValueError, r"accumulate_along_rays: n_rays must be a non-negative int, got -1")
    def _(d, b):
        _, _, s, c, _, ri, _ = P(d)
        fastgen.accumulate_along_rays(s, c, ri, -1, backend=b)

    @case("accumulate_float_n_rays", ValueError, r"n_rays must be a non-negative int, got 4\.0")
    def _(d, b):
        _, _, s, c, _, ri, _ = P(d)
        fastgen.accumulate_along_rays(s, c, ri, 4.0, backend=b)

    @case("rendering_no_field", ValueError, r"rendering: give rgb_sigma_fn or rgb_alpha_fn")
    def _(d, b):
        t0, t1, *_ = P(d)
        fastgen.rendering(t0, t1, backend=b)

    @case("rendering_missing_n_rays", ValueError, r"rendering: n_rays must be given with ray_indices")
    def _(d, b):
        t0, t1, s, c, _, ri, _ = P(d)
        fastgen.rendering(t0, t1, ri, rgb_sigma_fn=lambda *a: (c, s), backend=b)

    @case("composite_rgbs_not_3", ValueError, r"composite: rgbs must have shape sigmas\.shape \+ \(3,\) = "
          r"\(6, 3\), got \(6, 4\)")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, torch.zeros(6, 4, device=d), packed_info=info, backend=b)

    @case("composite_rgbs_batched_shape", ValueError, r"composite: rgbs must have shape sigmas\.shape \+ \(3,\) = "
          r"\(2, 3, 3\), got \(6, 3\)")
    def _(d, b):
        t0, t1, s, c, *_ = P(d)
        fastgen.composite(t0.view(2, 3), t1.view(2, 3), s.view(2, 3), c, backend=b)

    @case("composite_sigmas_shape", ValueError, r"composite: sigmas must have the shape of t_starts")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s[:-1], c, packed_info=info, backend=b)

    @case("composite_int_sigmas", TypeError, r"composite: sigmas must have dtype in")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s.int(), c, packed_info=info, backend=b)

    @case("composite_half_float_mix", TypeError, r"composite: rgbs has dtype float16 but sigmas has float32")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c.half(), packed_info=info, backend=b)

    @case("composite_t_dtype_mix", TypeError, r"composite: sigmas has dtype float16 but t_starts has float32")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s.half(), c.half(), packed_info=info, backend=b)

    @case("composite_missing_n_rays", ValueError, r"composite: n_rays must be given with ray_indices")
    def _(d, b):
        t0, t1, s, c, _, ri, _ = P(d)
        fastgen.composite(t0, t1, s, c, ray_indices=ri, backend=b)

    @case("composite_negative_eps", ValueError, r"composite: early_stop_eps must be a finite number >= 0, got -0\.1")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, early_stop_eps=-0.1, backend=b)

    @case("composite_nan_eps", ValueError, r"composite: early_stop_eps must be a finite number >= 0, got nan")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, early_stop_eps=float("nan"), backend=b)

    @case("composite_tensor_eps", ValueError, r"composite: early_stop_eps must be a finite number >= 0")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, early_stop_eps=torch.tensor(0.1), backend=b)

    @case("composite_bkgd_shape", ValueError, r"composite: render_bkgd must have shape \(3,\) or \(4, 3\), "
          r"got \(4,\)")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, render_bkgd=torch.zeros(4, device=d), backend=b)

    @case("composite_bkgd_rows", ValueError, r"composite: render_bkgd must have shape \(3,\) or \(4, 3\), "
          r"got \(5, 3\)")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, render_bkgd=torch.zeros(5, 3, device=d), backend=b)

    @case("composite_bkgd_int", TypeError, r"composite: render_bkgd must have dtype in")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, render_bkgd=torch.zeros(3, dtype=torch.long, device=d),
                          backend=b)

    @case("visibility_negative_eps", ValueError, r"render_visibility_from_alpha: early_stop_eps must be a finite "
          r"number >= 0, got -1")
    def _(d, b):
        fastgen.render_visibility_from_alpha(torch.zeros(2, 3, device=d), early_stop_eps=-1, backend=b)

    @case("visibility_negative_alpha_thre", ValueError, r"render_visibility_from_density: alpha_thre must be a "
          r"finite number >= 0, got -0\.5")
    def _(d, b):
        t0, t1, s, *_ = P(d)
        fastgen.render_visibility_from_density(t0, t1, s, alpha_thre=-0.5, backend=b)

    # ---- ray_indices
    @case("ray_indices_float", TypeError, r"render_weight_from_alpha: ray_indices must have dtype in "
          r"\(int32, int64\), got float32")
    def _(d, b):
        _, _, s, _, _, ri, r = P(d)
        fastgen.render_weight_from_alpha(s, ray_indices=ri.float(), n_rays=r, backend=b)

    @case("ray_indices_2d", ValueError, r"composite: ray_indices must have 1 dimension\(s\), got shape \(6, 1\)")
    def _(d, b):
        t0, t1, s, c, _, ri, r = P(d)
        fastgen.composite(t0, t1, s, c, ray_indices=ri[:, None], n_rays=r, backend=b)

    @case("ray_indices_length", ValueError, r"accumulate_along_rays: ray_indices must have one entry per sample "
          r"\(6\), got 5")
    def _(d, b):
        _, _, s, _, _, ri, r = P(d)
        fastgen.accumulate_along_rays(s, None, ri[:5], r, backend=b)

    @case("ray_indices_unsorted", ValueError, r"composite: ray_indices must be sorted in non-decreasing order")
    def _(d, b):
        t0, t1, s, c, _, ri, r = P(d)
        fastgen.composite(t0, t1, s, c, ray_indices=ri.flip(0), n_rays=r, backend=b)

    @case("ray_indices_unsorted_scan", ValueError, r"inclusive_prod: ray_indices must be sorted")
    def _(d, b):
        fastgen.inclusive_prod(torch.ones(4, device=d), indices=torch.tensor([0, 1, 0, 1], device=d), backend=b)

    @case("ray_indices_negative", ValueError, r"render_transmittance_from_density: ray_indices must be >= 0, got -1")
    def _(d, b):
        t0, t1, s, _, _, ri, r = P(d)
        fastgen.render_transmittance_from_density(t0, t1, s, ray_indices=ri - 1, n_rays=r, backend=b)

    @case("ray_indices_out_of_range", ValueError, r"accumulate_along_rays: ray_indices must be < n_rays=3, got 3")
    def _(d, b):
        _, _, s, c, _, ri, _ = P(d)
        fastgen.accumulate_along_rays(s, c, ri, 3, backend=b)

    @case("ray_indices_out_of_range_composite", ValueError, r"composite: ray_indices must be < n_rays=2, got 3")
    def _(d, b):
        t0, t1, s, c, _, ri, _ = P(d)
        fastgen.composite(t0, t1, s, c, ray_indices=ri, n_rays=2, backend=b)

    # ---- packed_info
    @case("packed_info_float", TypeError, r"inclusive_sum: packed_info must have dtype in \(int32, int64\)")
    def _(d, b):
        _, _, s, _, info, *_ = P(d)
        fastgen.inclusive_sum(s, packed_info=info.float(), backend=b)

    @case("packed_info_1d", ValueError, r"composite: packed_info must have 2 dimension\(s\), got shape \(8,\)")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info.flatten(), backend=b)

    @case("packed_info_three_columns", ValueError, r"render_weight_from_alpha: packed_info must have shape "
          r"\(n_rays, 2\) = \(start, count\) per ray, got \(4, 3\)")
    def _(d, b):
        _, _, s, _, info, *_ = P(d)
        fastgen.render_weight_from_alpha(s, packed_info=torch.cat([info, info[:, :1]], 1), backend=b)

    @case("packed_info_negative_count", ValueError, r"exclusive_sum: packed_info has negative starts or counts")
    def _(d, b):
        _, _, s, _, info, *_ = P(d)
        info = info.clone()
        info[1, 1] = -1
        fastgen.exclusive_sum(s, packed_info=info, backend=b)

    @case("packed_info_negative_start", ValueError, r"composite: packed_info has negative starts or counts")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        info = info.clone()
        info[0, 0] = -2
        fastgen.composite(t0, t1, s, c, packed_info=info, backend=b)

    @case("packed_info_out_of_range", ValueError, r"render_transmittance_from_density: packed_info is inconsistent "
          r"with the sample count: a ray ends at sample 7 but there are only 6 samples")
    def _(d, b):
        t0, t1, s, _, info, *_ = P(d)
        info = info.clone()
        info[-1, 1] = 2
        fastgen.render_transmittance_from_density(t0, t1, s, packed_info=info, backend=b)

    # ---- devices
    @case("mixed_devices_scan", ValueError, r"inclusive_sum: all tensors must be on one device; inputs is on .* "
          r"but packed_info is on")
    def _(d, b):
        _, _, s, _, info, *_ = P(d)
        fastgen.inclusive_sum(s, packed_info=info.to(other_device(d)), backend=b)

    @case("mixed_devices_density", ValueError, r"render_weight_from_density: all tensors must be on one device; "
          r"t_starts is on .* but sigmas is on")
    def _(d, b):
        t0, t1, s, *_ = P(d)
        fastgen.render_weight_from_density(t0, t1, s.to(other_device(d)), backend=b)

    @case("mixed_devices_composite_rgbs", ValueError, r"composite: all tensors must be on one device")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c.to(other_device(d)), packed_info=info, backend=b)

    @case("mixed_devices_composite_bkgd", ValueError, r"composite: all tensors must be on one device; sigmas is on "
          r".* but render_bkgd is on")
    def _(d, b):
        t0, t1, s, c, info, *_ = P(d)
        fastgen.composite(t0, t1, s, c, packed_info=info, render_bkgd=torch.zeros(3, device=other_device(d)),
                          backend=b)

    @case("mixed_devices_accumulate", ValueError, r"accumulate_along_rays: all tensors must be on one device")
    def _(d, b):
        _, _, s, c, _, ri, r = P(d)
        fastgen.accumulate_along_rays(s, c, ri.to(other_device(d)), r, backend=b)

    return cases


CASES = _cases()


@pytest.mark.usefixtures("no_kernels")
@pytest.mark.parametrize("exc, match, call", CASES)
def test_bad_input_raises_before_any_kernel(exc, match, call, backend, device):
    with pytest.raises(exc, match=match):
        call(device, backend)


# ---------------------------------------------------------------------------- non-contiguous input
def strided(x):
    """A non-contiguous view holding the values of ``x``."""
    big = torch.zeros((*x.shape, 2), dtype=x.dtype, device=x.device)
    big[..., 1] = x
    view = big[..., 1]
    assert not view.is_contiguous() or x.numel() <= 1
    return view


def transposed(x):
    """(..., 3) values as the transpose of a contiguous (3, ...) tensor."""
    return x.movedim(-1, 0).contiguous().movedim(0, -1)


def non_contiguous_calls():
    def composite(t0, t1, s, c, info, ri, r, b):
        return fastgen.composite(t0, t1, s, c, ray_indices=ri, n_rays=r, backend=b)

    def composite_batched(t0, t1, s, c, info, ri, r, b):
        return fastgen.composite(t0.view(2, 3), t1.view(2, 3), s.view(2, 3), c.view(2, 3, 3), backend=b)

    def scan(t0, t1, s, c, info, ri, r, b):
        return fastgen.exclusive_prod(s, packed_info=info, backend=b)

    def weights(t0, t1, s, c, info, ri, r, b):
        return fastgen.render_weight_from_density(t0, t1, s, ray_indices=ri, n_rays=r, backend=b)

    def alpha(t0, t1, s, c, info, ri, r, b):
        return fastgen.render_weight_from_alpha(s / 4, packed_info=info, backend=b)

    def accumulate(t0, t1, s, c, info, ri, r, b):
        return fastgen.accumulate_along_rays(s, c, ri, r, backend=b)

    return [pytest.param(f, id=f.__name__) for f in (composite, composite_batched, scan, weights, alpha, accumulate)]


@pytest.mark.parametrize("call", non_contiguous_calls())
def test_non_contiguous_input_equals_contiguous(call, backend, device, gen):
    """Non-contiguous inputs are legal (copied): same values and gradients as contiguous ones."""
    info, ri, n = layout((2, 0, 3, 1))
    t0, t1, s, c = samples(n, gen)
    info, ri = info.to(device), ri.to(device)
    mask = [False, False, True, True]
    contiguous = [x.to(device) for x in (t0, t1, s, c)]
    outs, grads, coeffs = fwd_bwd(lambda *a: call(*a, info, ri, 4, backend), contiguous, mask, gen=gen)

    def on_strided(t0, t1, s, c):
        nc = [strided(t0), strided(t1), strided(s), transposed(c)]
        assert not any(x.is_contiguous() for x in nc)
        return call(*nc, info, ri, 4, backend)
    nc_outs, nc_grads, _ = fwd_bwd(on_strided, contiguous, mask, coeffs=coeffs)
    for o, e in zip(nc_outs, outs):
        assert_close_rel(o, e, torch.float32, "output")
    for g, e in zip(nc_grads, grads):
        if e is not None:
            assert_close_rel(g, e, torch.float32, "grad")


def test_non_contiguous_indices(backend, device, gen):
    info, ri, n = layout((2, 0, 3, 1))
    t0, t1, s, c = (x.to(device) for x in samples(n, gen))
    info, ri = info.to(device), ri.to(device)
    expected = fastgen.composite(t0, t1, s, c, packed_info=info, backend=backend)
    got = fastgen.composite(t0, t1, s, c, packed_info=info.t().contiguous().t(), backend=backend)
    got_ri = fastgen.composite(t0, t1, s, c, ray_indices=strided(ri), n_rays=4, backend=backend)
    for g, gr, e in zip(got, got_ri, expected):
        assert_close_rel(g, e, torch.float32)
        assert_close_rel(gr, e, torch.float32)


def test_int32_indices_accepted(backend, device, gen):
    info, ri, n = layout((2, 0, 3, 1))
    t0, t1, s, c = (x.to(device) for x in samples(n, gen))
    info, ri = info.to(device), ri.to(device)
    for op in (lambda **k: fastgen.composite(t0, t1, s, c, **k, backend=backend),
               lambda **k: fastgen.render_weight_from_density(t0, t1, s, **k, backend=backend)):
        expected = op(packed_info=info)
        for got in (op(packed_info=info.int()), op(ray_indices=ri.int(), n_rays=4)):
            for g, e in zip(got, expected):
                assert_close_rel(g, e, torch.float32)
    expected = fastgen.accumulate_along_rays(s, c, ri, 4, backend=backend)
    assert_close_rel(fastgen.accumulate_along_rays(s, c, ri.int(), 4, backend=backend), expected, torch.float32)


@pytest.mark.parametrize("packing", ["packed_info", "ray_indices"])
def test_nan_stays_in_its_ray(packing, backend, device, gen):
    """Values are not scanned for NaN: a NaN sample poisons its own ray's outputs only."""
    counts = (3, 4, 2)
    info, ri, n = layout(counts, device)
    t0, t1, s, c = (x.to(device) for x in samples(n, gen))
    s[4] = float("nan")
    kw = {"packed_info": info} if packing == "packed_info" else {"ray_indices": ri, "n_rays": 3}
    _, opacity, _ = fastgen.composite(t0, t1, s, c, **kw, backend=backend)
    assert torch.isfinite(opacity.cpu()[:, 0]).tolist() == [True, False, True], "composite"
    weights, _, _ = fastgen.render_weight_from_density(t0, t1, s, **kw, backend=backend)
    finite = torch.isfinite(weights.cpu())
    assert finite[:3].all() and finite[7:].all(), "render_weight_from_density: NaN leaked into other rays"


"""Fuzzed render ops: scans, transmittance / weights / visibility, accumulate_along_rays, composite."""
import pytest
import torch
from hypothesis import strategies as st

import fastgen
from tests.fuzz._harness import (
    FLOAT_DTYPES, FUZZ_BACKENDS, INVALID_PACKINGS, check_case, corruptions, layouts, packings,
    ray_index_cases, run, values)

BATCHED_SHAPES = ((0, 5), (3, 0), (4, 7), (2, 3, 5), (1, 300), (60, 1), (5,))


@st.composite
def sample_layouts(draw, indices_key="ray_indices", with_n_rays=True, allow_packed_info=True):
    """(shape of the per-sample tensors, packing kwargs, bad names, packed?)."""
    modes = ("batched", "packed_info", "indices") if allow_packed_info else ("batched", "indices")
    mode = draw(st.sampled_from(modes))
    if mode == "batched":
        return draw(st.sampled_from(BATCHED_SHAPES)), {}, (), False
    if mode == "packed_info":
        p = draw(packings())
        return (p.n_samples,), {"packed_info": p.info}, ("packed_info",) if p.kind in INVALID_PACKINGS else (), True
    idx, n_rays, kind = draw(ray_index_cases())
    kw = {indices_key: idx}
    if with_n_rays:
        kw["n_rays"] = n_rays
    bad = kind not in ("ok", "int32") and not (kind == "too_big" and not with_n_rays)  # no n_rays: no limit
    return (idx.shape[0],), kw, (indices_key,) if bad else (), True


@st.composite
def float_inputs(draw, names, shape, dtype, lo=-1.0, hi=1.0):
    return {n: draw(layouts(draw(values(shape, lo, hi, dtype)))) for n in names}


SCANS = ("inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod")


@st.composite
def scan_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape, kw, bad, _ = draw(sample_layouts(indices_key="indices", with_n_rays=False))
    inputs = {**draw(float_inputs(["inputs"], shape, dtype, 0.5, 1.5)), **kw}
    bad = bad + draw(corruptions(inputs, ["inputs", *kw]))
    return inputs, dtype, bad


@pytest.mark.parametrize("op", SCANS)
@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_scans(op, backend):
    fn = getattr(fastgen, op)
    run(backend, scan_cases(), lambda c: check_case(op, lambda be, **kw: fn(**kw, backend=be), backend, c[0], c[1],
                                                   c[2], grad=("inputs",)))


DENSITY_OPS = ("render_transmittance_from_density", "render_weight_from_density", "render_visibility_from_density")
ALPHA_OPS = ("render_transmittance_from_alpha", "render_weight_from_alpha", "render_visibility_from_alpha")


@st.composite
def transmittance_cases(draw, from_density):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape, kw, bad, _ = draw(sample_layouts())
    if from_density:
        inputs = draw(float_inputs(["t_starts"], shape, dtype, 0.0, 1.0))
        inputs["t_ends"] = inputs["t_starts"] + draw(values(shape, 0.0, 0.5, dtype))
        inputs["sigmas"] = draw(layouts(draw(values(shape, 0.0, 5.0, dtype))))
    else:
        inputs = draw(float_inputs(["alphas"], shape, dtype, 0.0, 1.0))
    if draw(st.booleans()):
        inputs["prefix_trans"] = draw(values(shape, 0.0, 1.0, dtype))
    inputs.update(kw)
    names = ["t_starts", "t_ends", "sigmas"] if from_density else ["alphas"]
    bad = bad + draw(corruptions(inputs, names + ["prefix_trans", *kw], same_dtype=names))
    return inputs, dtype, bad


@pytest.mark.parametrize("op", DENSITY_OPS + ALPHA_OPS)
@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_transmittance(op, backend):
    fn = getattr(fastgen, op)
    grad = () if "visibility" in op else ("sigmas",) if "density" in op else ("alphas",)
    run(backend, transmittance_cases("density" in op),
        lambda c: check_case(op, lambda be, **kw: fn(**kw, backend=be), backend, c[0], c[1], c[2], grad=grad))


@st.composite
def accumulate_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape, kw, bad, packed = draw(sample_layouts(allow_packed_info=False))
    inputs = draw(float_inputs(["weights"], shape, dtype, 0.0, 1.0))
    d = draw(st.sampled_from((None, 0, 1, 3, 5)))
    if d is not None:
        inputs["values"] = draw(layouts(draw(values((*shape, d), -1.0, 1.0, dtype))))
        if draw(st.integers(0, 7)) == 0:  # values whose leading dims are not the weights'
            inputs["values"] = inputs["values"][1:] if inputs["values"].shape[0] else inputs["values"][None]
            bad = bad + ("values",)
    inputs.update(kw)
    bad = bad + draw(corruptions(inputs, ["weights", "values", *kw]))
    return inputs, dtype, bad


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_accumulate_along_rays(backend):
    run(backend, accumulate_cases(), lambda c: check_case(
        "accumulate_along_rays", lambda be, **kw: fastgen.accumulate_along_rays(**kw, backend=be), backend,
        c[0], c[1], c[2], grad=("weights", "values")))


@st.composite
def composite_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape, kw, bad, packed = draw(sample_layouts())
    inputs = draw(float_inputs(["t_starts"], shape, dtype, 0.0, 1.0))
    inputs["t_ends"] = inputs["t_starts"] + draw(values(shape, 0.0, 0.5, dtype))
    inputs["sigmas"] = draw(layouts(draw(values(shape, 0.0, 8.0, dtype))))
    inputs["rgbs"] = draw(layouts(draw(values((*shape, 3), 0.0, 1.0, dtype))))
    if draw(st.integers(0, 7)) == 0:
        inputs["rgbs"] = inputs["rgbs"][..., :2]
        bad = bad + ("rgbs",)
    n_rays = (shape[:-1] if not packed else (kw["packed_info"].shape[0] if "packed_info" in kw else kw["n_rays"],))
    bkgd = draw(st.sampled_from((None, "one", "per_ray", "wrong")))
    if bkgd == "one":
        inputs["render_bkgd"] = draw(values((3,), 0.0, 1.0, dtype))
    elif bkgd == "per_ray":
        inputs["render_bkgd"] = draw(values((*n_rays, 3), 0.0, 1.0, dtype))
    elif bkgd == "wrong":
        inputs["render_bkgd"] = draw(values((4,), 0.0, 1.0, dtype))
        bad = bad + ("render_bkgd",)
    eps = draw(st.sampled_from((0.0, 0.0, 1e-4, 0.5, -1.0, float("nan"))))
    inputs["early_stop_eps"] = eps
    if not eps >= 0:
        bad = bad + ("early_stop_eps",)
    inputs.update(kw)
    bad = bad + draw(corruptions(inputs, ["t_starts", "t_ends", "sigmas", "rgbs", "render_bkgd", *kw],
                                 same_dtype=["t_starts", "t_ends", "sigmas", "rgbs"]))
    return inputs, dtype, bad


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_composite(backend):
    run(backend, composite_cases(), lambda c: check_case(
        "composite", lambda be, **kw: fastgen.composite(**kw, backend=be), backend, c[0], c[1], c[2],
        grad=("sigmas", "rgbs", "render_bkgd")))

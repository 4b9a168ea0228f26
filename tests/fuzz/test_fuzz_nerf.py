"""Fuzzed NeRF ops beyond render: sampling (sample_pdf, searchsorted, merge_sorted, distortion,
importance_sampling), marching (ray_aabb_intersect, traverse_grids) and hash_grid_encode."""
import pytest
import torch
from hypothesis import strategies as st

from fastgen import nerf
from fastgen._validate import tiles_samples
from tests.fuzz._harness import (
    FLOAT_DTYPES, FUZZ_BACKENDS, INVALID_PACKINGS, check_case, corruptions, is_finite, layouts, packings, run,
    values)
from tests.fuzz.test_fuzz_render import sample_layouts

IN_ORDER = ("tiling", "int32")  # the packings the sample ops accept (rays in order, back to back)


def sorted_rows(t):
    return torch.sort(t, -1).values if t.dim() == 2 else t


def packed_sorted(t, info):
    """t sorted within each ray of a tiling packing."""
    out = t.clone()
    for s, c in info.long().tolist():
        out[s:s + c] = torch.sort(t[s:s + c]).values
    return out


def call_op(fn):
    return lambda be, **kw: fn(**kw, backend=be)


@st.composite
def sample_pdf_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    r, s = draw(st.sampled_from(((0, 3), (1, 1), (4, 5), (3, 40), (200, 2))))
    bins = sorted_rows(draw(values((r, s + 1), 0.0, 2.0, dtype)))
    if draw(st.integers(0, 5)) == 0:
        bins = bins.flip(-1)  # decreasing
    weights = draw(layouts(draw(values((r, s), 0.0, 1.0, dtype))))
    inputs = dict(bins=draw(layouts(bins)), weights=weights, n_samples=draw(st.sampled_from((1, 4, 33))),
                  det=draw(st.booleans()))
    bad = draw(corruptions(inputs, ["bins", "weights"]))
    if draw(st.integers(0, 7)) == 0:
        inputs["n_samples"], bad = 0, bad + ("n_samples",)
    return inputs, dtype, bad


def sample_pdf_call(be, det, **kw):  # a fresh generator per call: the same u for both backends
    return nerf.sample_pdf(**kw, det=det, generator=torch.Generator().manual_seed(1), backend=be)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_sample_pdf(backend):
    # random u depend on the dtype: without det, compare with the reference in the input dtype
    run(backend, sample_pdf_cases(), lambda c: check_case(
        "sample_pdf", sample_pdf_call, backend, c[0], c[1], c[2], maybe=("bins", "weights"), factor=50.0,
        keep=() if c[0]["det"] else ("bins", "weights")))


@st.composite
def ray_packed(draw, dtype, lo=0.0, hi=1.0):
    """A packed sorted RayIntervals-like (vals, packing, bad) with any packed_info kind."""
    p = draw(packings(kinds=IN_ORDER + ("gaps", "shuffled", "overrun", "negative", "huge", "overlap")))
    vals = draw(values((p.n_samples,), lo, hi, dtype))
    in_order = p.kind in IN_ORDER or (p.kind in ("gaps", "shuffled") and tiles_samples(p.info, p.n_samples))
    if in_order:
        vals = packed_sorted(vals, p.info.long())
    return vals, p, () if in_order else ("packed_info",)


@st.composite
def searchsorted_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    if draw(st.booleans()):  # batched
        r = draw(st.sampled_from((0, 1, 5, 100)))
        seq = sorted_rows(draw(values((r, draw(st.sampled_from((1, 2, 7, 40)))), 0.0, 1.0, dtype)))
        v = draw(values((r, draw(st.sampled_from((0, 3, 9)))), -0.2, 1.2, dtype))
        inputs = dict(sorted_sequence=nerf.RayIntervals(draw(layouts(seq))), values=nerf.RaySamples(v))
        return inputs, dtype, ()
    seq, p, bad = draw(ray_packed(dtype))
    counts = [draw(st.integers(0, 4)) for _ in range(p.info.shape[0])]
    c = torch.tensor(counts, dtype=torch.long)
    v_info = torch.stack([torch.cumsum(c, 0) - c, c], 1) if counts else torch.zeros((0, 2), dtype=torch.long)
    v = draw(values((int(c.sum()),), -0.2, 1.2, dtype))
    return dict(sorted_sequence=nerf.RayIntervals(seq, packed_info=p.info),
                values=nerf.RaySamples(v, packed_info=v_info)), dtype, bad


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_searchsorted(backend):
    run(backend, searchsorted_cases(), lambda c: check_case(
        "searchsorted", call_op(nerf.searchsorted), backend, c[0], c[1], c[2], maybe=("sorted",)))


@st.composite
def merge_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    if draw(st.booleans()):
        r = draw(st.sampled_from((0, 1, 4, 100)))
        a = sorted_rows(draw(values((r, draw(st.sampled_from((0, 1, 5, 40)))), 0.0, 1.0, dtype)))
        b = sorted_rows(draw(values((r, draw(st.sampled_from((0, 2, 33)))), 0.0, 1.0, dtype)))
        if draw(st.integers(0, 5)) == 0:
            a = a.flip(-1)
        inputs = dict(a=draw(layouts(a)), b=draw(layouts(b)))
        return inputs, dtype, draw(corruptions(inputs, ["a", "b"]))
    a, p, bad = draw(ray_packed(dtype))
    c = torch.tensor([draw(st.integers(0, 5)) for _ in range(p.info.shape[0])], dtype=torch.long)
    b_info = torch.stack([torch.cumsum(c, 0) - c, c], 1) if c.numel() else torch.zeros((0, 2), dtype=torch.long)
    b = packed_sorted(draw(values((int(c.sum()),), 0.0, 1.0, dtype)), b_info)
    return dict(a=a, b=b, a_packed_info=p.info, b_packed_info=b_info), dtype, bad


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_merge_sorted(backend):
    run(backend, merge_cases(), lambda c: check_case(
        "merge_sorted", call_op(nerf.merge_sorted), backend, c[0], c[1], c[2], maybe=("a ", "b ", "a_packed_info"),
        grad=("a", "b")))


@st.composite
def distortion_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape, kw, bad, _ = draw(sample_layouts())
    t0 = draw(values(shape, 0.0, 1.0, dtype))
    if len(shape) > 1:
        t0 = sorted_rows(t0.reshape(-1, shape[-1])).reshape(shape) if shape[-1] else t0
    inputs = dict(weights=draw(layouts(draw(values(shape, 0.0, 1.0, dtype)))), t_starts=t0,
                  t_ends=t0 + draw(values(shape, 0.0, 0.2, dtype)), **kw)
    return inputs, dtype, bad + draw(corruptions(inputs, ["weights", "t_starts", "t_ends", *kw],
                                                 same_dtype=["weights", "t_starts", "t_ends"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_distortion(backend):
    run(backend, distortion_cases(), lambda c: check_case(
        "distortion", call_op(nerf.distortion), backend, c[0], c[1], c[2], grad=("weights", "t_starts", "t_ends"),
        factor=10.0))


@st.composite
def importance_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    r, s = draw(st.sampled_from(((0, 3), (1, 1), (4, 5), (3, 40), (100, 2))))
    t = sorted_rows(draw(values((r, s), 0.0, 1.0, dtype, specials=False)))
    cdfs = sorted_rows(draw(values((r, s), 0.0, 1.0, dtype, specials=False)))
    n = draw(st.sampled_from((1, 2, 7, 0, "tensor")))
    bad = ("n_intervals_per_ray",) if n == 0 else ()
    if n == "tensor":
        n = torch.tensor([draw(st.integers(0, 5)) for _ in range(r)], dtype=torch.long)
    inputs = dict(intervals=nerf.RayIntervals(draw(layouts(t))), cdfs=draw(layouts(cdfs)), n_intervals_per_ray=n,
                  stratified=draw(st.booleans()))
    return inputs, dtype, bad


def importance_call(be, **kw):
    return nerf.importance_sampling(**kw, generator=torch.Generator().manual_seed(2), backend=be)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_importance_sampling(backend):
    run(backend, importance_cases(), lambda c: check_case(
        "importance_sampling", importance_call, backend, c[0], c[1], c[2], factor=50.0,
        keep=("intervals", "cdfs") if c[0]["stratified"] else ()))


@st.composite
def ray_cases(draw, n_rays):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    o = draw(layouts(draw(values((n_rays, 3), -1.5, 1.5, dtype))))
    d = draw(layouts(draw(values((n_rays, 3), -1.0, 1.0, dtype))))
    bad = () if is_finite(o, d) else ("rays_o", "rays_d")
    if n_rays and bool((d.abs().sum(1) == 0).any()):
        bad = ("rays_d",)
    return dtype, o, d, bad


@st.composite
def aabb_cases(draw):
    dtype, o, d, bad = draw(ray_cases(draw(st.sampled_from((0, 1, 7, 300)))))
    lo = draw(values((draw(st.sampled_from((1, 3))), 3), -1.0, 0.0, dtype, specials=False))
    aabbs = torch.cat([lo, lo + draw(values(lo.shape, 0.1, 1.0, dtype, specials=False))], 1)
    if draw(st.integers(0, 7)) == 0:
        aabbs, bad = aabbs[:, [3, 4, 5, 0, 1, 2]], bad + ("aabbs",)  # min > max
    inputs = dict(rays_o=o, rays_d=d, aabbs=aabbs, near_plane=draw(st.sampled_from((0.0, -float("inf"), 0.5))))
    return inputs, dtype, bad + draw(corruptions(inputs, ["rays_o", "rays_d", "aabbs"], same_dtype=["rays_o", "rays_d"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_ray_aabb_intersect(backend):
    run(backend, aabb_cases(), lambda c: check_case(
        "ray_aabb_intersect", call_op(nerf.ray_aabb_intersect), backend, c[0], c[1], c[2], factor=10.0))


@st.composite
def traverse_cases(draw):
    dtype, o, d, bad = draw(ray_cases(draw(st.sampled_from((0, 1, 6, 64)))))
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-3) if is_finite(d) else d
    levels, res = draw(st.sampled_from((1, 2))), draw(st.sampled_from(((4, 4, 4), (1, 3, 2), (8, 5, 3))))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    binaries = torch.rand((levels, *res), generator=g) < draw(st.sampled_from((0.0, 0.3, 1.0)))
    aabbs = torch.tensor([[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]], dtype=dtype) * torch.tensor(
        [2.0 ** k for k in range(levels)], dtype=dtype)[:, None]
    inputs = dict(rays_o=o, rays_d=d, binaries=binaries, aabbs=aabbs,
                  step_size=draw(st.sampled_from((0.05, 0.3, 0.0))), cone_angle=draw(st.sampled_from((0.0, 0.1))))
    if inputs["step_size"] == 0.0:
        bad = bad + ("step_size",)
    if draw(st.booleans()):
        inputs["max_samples_per_ray"] = draw(st.sampled_from((1, 8)))
    return inputs, dtype, bad + draw(corruptions(inputs, ["rays_o", "rays_d"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_traverse_grids(backend):
    run(backend, traverse_cases(), lambda c: check_case(
        "traverse_grids", call_op(nerf.traverse_grids), backend, c[0], c[1], c[2], factor=10.0))


@st.composite
def hashgrid_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    dims = draw(st.sampled_from((2, 3, 3, 4)))
    shape = draw(st.sampled_from(((0,), (1,), (37,), (3, 5), (700,))))
    x = draw(layouts(draw(values((*shape, dims), -0.2, 1.2, dtype))))
    levels, log2_t, f = draw(st.sampled_from((1, 2, 4))), draw(st.sampled_from((4, 6, 10))), \
        draw(st.sampled_from((1, 2, 4, 8, 3)))
    table = draw(values((levels, 2 ** log2_t, f), -1.0, 1.0, dtype, specials=False))
    inputs = dict(x=x, table=draw(layouts(table)), base_resolution=draw(st.sampled_from((2, 16))),
                  per_level_scale=draw(st.sampled_from((1.0, 1.5, 2.0))))
    bad = (("x",) if dims == 4 else ()) + (("table", "features") if f == 3 else ())
    return inputs, dtype, bad + draw(corruptions(inputs, ["x", "table"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_hash_grid_encode(backend):
    run(backend, hashgrid_cases(), lambda c: check_case(
        "hash_grid_encode", call_op(nerf.hash_grid_encode), backend, c[0], c[1], c[2], grad=("table", "x")))

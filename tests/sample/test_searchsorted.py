"""searchsorted and importance_sampling on packed and batched rays, pinned to nerfacc 0.5's definitions:
hand-computed values, a scalar transcription of nerfacc's kernels, every backend against the float64
reference (forward and backward), segments never left, stratified mode one offset per ray."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import RayIntervals, RaySamples, importance_sampling, searchsorted
from fastgen.ops.sample import reference
from tests.conftest import assert_close_rel
from tests.sample._helpers import packed_sorted, packing, sorted_rows


# ---------------------------------------------------------------------------- nerfacc's definition, one value at a time
def _upper_bound_before_last(seq, s, e, v):
    """First index in [s, e - 1) whose entry is > v, else e - 1 (nerfacc never searches the last entry)."""
    return next((i for i in range(s, e - 1) if seq[i] > v), e - 1)


def _clamp(i, s, e):
    return max(min(i, e - 1), s)


def _nerfacc_searchsorted(seq, info, values, value_rays):
    left, right = [], []
    for v, r in zip(values.tolist(), value_rays.tolist()):
        s, e = int(info[r, 0]), int(info[r, 0] + info[r, 1])
        p = _upper_bound_before_last(seq.tolist(), s, e, v)
        left.append(_clamp(p - 1, s, e))
        right.append(_clamp(p, s, e))
    return torch.tensor(left), torch.tensor(right)


def _nerfacc_importance_sampling(t, c, info, n, bias):
    """Per ray: nerfacc's samples x_k and edges, written out from the formulas (fastgen's choices for
    n = 1 and rays without edges). Returns flat (edges, samples) lists."""
    t, c = t.tolist(), c.tolist()
    edges, samples = [], []
    for r in range(info.shape[0]):
        s, e, m, b = int(info[r, 0]), int(info[r, 0] + info[r, 1]), int(n[r]), float(bias[r])
        if m == 0:
            continue
        if e == s:
            samples += [0.0] * m
            edges += [0.0] * (m + 1)
            continue
        x = []
        for k in range(m):
            u = c[s] + (k + b) * (c[e - 1] - c[s]) / m
            p = _upper_bound_before_last(c, s, e, u)
            lo, hi = _clamp(p - 1, s, e), _clamp(p, s, e)
            if c[hi] - c[lo] < 1e-10:
                x.append((t[lo] + t[hi]) / 2)
            else:
                f = min(max((u - c[lo]) / (c[hi] - c[lo]), 0.0), 1.0)
                x.append(t[lo] + f * (t[hi] - t[lo]))
        if m == 1:
            ray_edges = [t[s], t[e - 1]]
        else:
            ray_edges = [max(x[0] - (x[1] - x[0]) / 2, t[s])] + [(x[k - 1] + x[k]) / 2 for k in range(1, m)] + \
                [min(x[-1] + (x[-1] - x[-2]) / 2, t[e - 1])]
        samples += x
        edges += ray_edges
    return torch.tensor(edges, dtype=torch.float64), torch.tensor(samples, dtype=torch.float64)


def _cdfs_of(counts, info, gen, flat_rays=()):
    """Per-ray cumulative sums of random weights (not normalised, not starting at 0)."""
    cdfs = torch.zeros(int(info[:, 1].sum()), dtype=torch.float64)
    for r, c in enumerate(counts):
        s = int(info[r, 0])
        w = torch.rand(c, generator=gen, dtype=torch.float64) * (r not in flat_rays)
        cdfs[s:s + c] = torch.cumsum(w, 0) + 0.3 * r
    return cdfs


def _packed_iv(t, info, device, dtype=None):
    return RayIntervals(vals=t.to(dtype or t.dtype).to(device), packed_info=info.to(device))


# ---------------------------------------------------------------------------- searchsorted
def test_searchsorted_nerfacc_values(backend, device):
    """Hand-worked: values below, inside and above a ray's range, one-entry and empty rays."""
    seq = RayIntervals(vals=torch.tensor([0., 1., 0., 1., 2., 5.]).to(device),
                       packed_info=torch.tensor([[0, 2], [2, 3], [5, 1], [6, 0]]).to(device))
    v = torch.tensor([-1., 0., .5, 1., 2., -1., .5, 1.5, 2., 3., 4., 6., 1.])
    vals = RaySamples(vals=v.to(device), packed_info=torch.tensor([[0, 5], [5, 5], [10, 2], [12, 1]]).to(device))
    left, right = searchsorted(seq, vals, backend=backend)
    assert left.tolist() == [0, 0, 0, 0, 0, 2, 2, 3, 3, 3, 5, 5, 6]
    assert right.tolist() == [0, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 5, 6]
    # the brief's check: ray [0, 1], value -1 -> (0, 0)
    one = searchsorted(RayIntervals(vals=torch.tensor([[0., 1.]]).to(device)),
                       RaySamples(vals=torch.tensor([[-1.]]).to(device)), backend=backend)
    assert [x.item() for x in one] == [0, 0]


def test_nerfacc_examples(backend, device):
    """nerfacc's documented examples."""
    seq = RayIntervals(vals=torch.tensor([0., 1., 0., 1., 2.]).to(device),
                       packed_info=torch.tensor([[0, 2], [2, 3]]).to(device))
    vals = RaySamples(vals=torch.tensor([0.5, 1.5, 2.5]).to(device),
                      packed_info=torch.tensor([[0, 1], [1, 2]]).to(device))
    left, right = searchsorted(seq, vals, backend=backend)
    assert left.tolist() == [0, 3, 3] and right.tolist() == [1, 4, 4]
    cdfs = torch.tensor([0., 0.5, 0., 0.5, 1.]).to(device)
    iv, s = importance_sampling(seq, cdfs, 2, backend=backend)
    assert torch.allclose(iv.vals.cpu(), torch.tensor([[0., .5, 1.], [0., 1., 2.]]))
    assert torch.allclose(s.vals.cpu(), torch.tensor([[.25, .75], [.5, 1.5]]))


def test_packed_searchsorted_matches_reference(backend, device, gen):
    seq, seq_info, _ = packed_sorted([4, 0, 1, 2, 30, 7], gen)
    vals, val_info, val_rays = packed_sorted([5, 3, 2, 0, 25, 9], gen)
    vals = vals * 1.4 - 0.8  # some values outside every ray's range
    left, right = searchsorted(RayIntervals(vals=seq.to(device), packed_info=seq_info.to(device)),
                               RaySamples(vals=vals.to(device), packed_info=val_info.to(device)), backend=backend)
    exp_l, exp_r = reference.searchsorted(seq.double(), seq_info, vals.double(), val_rays)
    assert torch.equal(left.cpu(), exp_l) and torch.equal(right.cpu(), exp_r)
    assert all(torch.equal(a, b) for a, b in zip((exp_l, exp_r), _nerfacc_searchsorted(seq, seq_info, vals, val_rays)))
    # never outside the value's own ray segment
    s, e = seq_info[val_rays, 0], seq_info[val_rays, 0] + seq_info[val_rays, 1]
    nonempty = e > s
    assert bool(((left.cpu() >= s) & (right.cpu() >= s) & ((right.cpu() < e) | ~nonempty)).all())
    # and it is torch.searchsorted capped below the last entry where the ray has >= 2 entries
    for r in range(seq_info.shape[0]):
        sr, cr = int(seq_info[r, 0]), int(seq_info[r, 1])
        sel = val_rays == r
        if cr >= 2 and bool(sel.any()):
            p = torch.searchsorted(seq[sr:sr + cr], vals[sel], right=True).clamp(max=cr - 1)
            assert torch.equal(right.cpu()[sel], p + sr)
            assert torch.equal(left.cpu()[sel], (p - 1).clamp(min=0) + sr)


def test_batched_searchsorted(backend, device, gen):
    seq = sorted_rows((4, 9), gen)
    vals = torch.rand((4, 6), generator=gen) * 1.2 - 0.1
    vals[:, 0] = seq[:, 0] - 0.5  # below every ray: (0, 0)
    left, right = searchsorted(RayIntervals(vals=seq.to(device)), RaySamples(vals=vals.to(device)),
                               backend=backend)
    p = torch.searchsorted(seq, vals, right=True).clamp(max=8)
    assert torch.equal(right.cpu(), p) and torch.equal(left.cpu(), (p - 1).clamp(min=0))
    assert bool((left[:, 0] == 0).all() and (right[:, 0] == 0).all())


# ---------------------------------------------------------------------------- importance_sampling: hand-worked values
def test_importance_sampling_nerfacc_values(backend, device):
    """Worked out from nerfacc's kernel: samples at u = (k + 1/2) / n of the CDF range, not midpoints
    of edges; edges between samples, the outer ones clamped to the ray's range."""
    iv, s = importance_sampling(RayIntervals(vals=torch.tensor([[0., 1., 2.]]).to(device)),
                                torch.tensor([[0., .9, 1.]]).to(device), 2, backend=backend)
    assert torch.allclose(s.vals.cpu(), torch.tensor([[.25 / .9, .75 / .9]]))  # 0.27778, 0.83333
    assert torch.allclose(iv.vals.cpu(), torch.tensor([[0., .5 / .9, 1. / .9]]))  # 0, 0.55556, 1.11111
    # a flat CDF: every sample at the midpoint of the LAST input interval
    iv, s = importance_sampling(RayIntervals(vals=torch.tensor([[0., 1., 2., 3.]]).to(device)),
                                torch.zeros(1, 4).to(device), 3, backend=backend)
    assert s.vals.tolist() == [[2.5] * 3] and iv.vals.tolist() == [[2.5] * 4]
    # n = 1 (fastgen's choice: the edges are the ray's range), packed, with one-edge and empty rays
    t = torch.tensor([0., 1., 2., 5., 0., 1.])
    c = torch.tensor([0., .9, 1., 0., 0., 1.])
    info = torch.tensor([[0, 3], [3, 1], [4, 0], [4, 2], [6, 0]])
    n = torch.tensor([1, 3, 2, 2, 0])
    iv, s = importance_sampling(_packed_iv(t, info, device), c.to(device), n.to(device), backend=backend)
    exp_s = [.5 / .9, 5., 5., 5., 0., 0., .25, .75]
    exp_e = [0., 2., 5., 5., 5., 5., 0., 0., 0., 0., .5, 1.]
    assert torch.allclose(s.vals.cpu(), torch.tensor(exp_s)) and torch.allclose(iv.vals.cpu(), torch.tensor(exp_e))
    assert s.packed_info.tolist() == [[0, 1], [1, 3], [4, 2], [6, 2], [8, 0]]
    assert iv.packed_info.tolist() == [[0, 2], [2, 4], [6, 3], [9, 3], [12, 0]]
    assert s.ray_indices.tolist() == [0, 1, 1, 1, 2, 2, 3, 3]
    assert iv.ray_indices.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert iv.is_left.tolist() == [1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    assert iv.is_right.tolist() == [0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1]


# ---------------------------------------------------------------------------- importance_sampling: against the reference
def test_reference_is_nerfaccs_definition(gen):
    """The float64 reference equals the scalar transcription of nerfacc's kernels (random data, with
    flat-CDF, one-edge and empty rays, n = 0 and n = 1), also with a per-ray stratified offset."""
    counts = [5, 0, 1, 2, 17, 8, 3, 1]
    t, info, _ = packed_sorted(counts, gen, torch.float64)
    cdfs = _cdfs_of(counts, info, gen, flat_rays=(3, 6))
    n = torch.tensor([3, 2, 0, 4, 11, 1, 2, 1])
    iv, s = importance_sampling(RayIntervals(vals=t, packed_info=info), cdfs, n, backend="reference")
    exp_e, exp_s = _nerfacc_importance_sampling(t, cdfs, info, n, torch.full((8,), 0.5))
    assert torch.allclose(iv.vals, exp_e, rtol=0, atol=1e-12) and torch.allclose(s.vals, exp_s, rtol=0, atol=1e-12)
    iv, s = importance_sampling(RayIntervals(vals=t, packed_info=info), cdfs, n, stratified=True,
                                generator=torch.Generator().manual_seed(3), backend="reference")
    bias = 1 - torch.rand(8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exp_e, exp_s = _nerfacc_importance_sampling(t, cdfs, info, n, bias)
    assert torch.allclose(iv.vals, exp_e, rtol=0, atol=1e-12) and torch.allclose(s.vals, exp_s, rtol=0, atol=1e-12)


def _loss_and_grad(iv, cdfs, n, backend, **kw):
    """Outputs and the gradient w.r.t. the input edges of a fixed random weighting of both outputs."""
    t = iv.vals.detach().clone().requires_grad_(True)
    out_iv, out_s = importance_sampling(RayIntervals(vals=t, packed_info=iv.packed_info), cdfs, n, backend=backend,
                                        **kw)
    g = torch.Generator().manual_seed(11)
    we = torch.randn(out_iv.vals.shape, generator=g, dtype=torch.float64).to(t.device, t.dtype)
    ws = torch.randn(out_s.vals.shape, generator=g, dtype=torch.float64).to(t.device, t.dtype)
    ((out_iv.vals * we).sum() + (out_s.vals * ws).sum()).backward()
    return out_iv, out_s, t.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_importance_sampling_matches_reference(backend, device, gen, dtype):
    counts = [5, 0, 1, 2, 17, 8]
    t, info, _ = packed_sorted(counts, gen, torch.float64)
    cdfs = _cdfs_of(counts, info, gen, flat_rays=(3,))
    t, cdfs = t.to(dtype).double(), cdfs.to(dtype).double()  # the same values in both dtypes
    n = torch.tensor([3, 2, 0, 4, 11, 1])
    out_iv, out_s, grad = _loss_and_grad(_packed_iv(t, info, device, dtype), cdfs.to(dtype).to(device), n.to(device),
                                         backend)
    ref_iv, ref_s, ref_grad = _loss_and_grad(_packed_iv(t, info, "cpu"), cdfs, n, "reference")
    assert_close_rel(out_iv.vals, ref_iv.vals, dtype, "edges")
    assert_close_rel(out_s.vals, ref_s.vals, dtype, "samples")
    assert_close_rel(grad, ref_grad, dtype, "grad of the input edges")
    assert torch.equal(out_iv.packed_info.cpu(), ref_iv.packed_info)
    assert out_iv.packed_info[:, 1].tolist() == [4, 3, 0, 5, 12, 2]
    assert torch.equal(out_s.packed_info.cpu()[:, 1], n)
    assert int(out_iv.is_left.sum()) == int(n.sum()) == int(out_iv.is_right.sum())
    # edges and samples stay inside each ray's input range and sorted, samples inside their edges
    for r in range(len(counts)):
        seg = out_iv.vals.cpu()[out_iv.ray_indices.cpu() == r].double()
        smp = out_s.vals.cpu()[out_s.ray_indices.cpu() == r].double()
        if seg.numel() and counts[r]:
            s = int(info[r, 0])
            assert bool((seg >= t[s] - 1e-6).all() and (seg <= t[s + counts[r] - 1] + 1e-6).all())
            assert bool((seg[1:] >= seg[:-1] - 1e-6).all())
            assert bool((smp >= seg[:-1] - 1e-6).all() and (smp <= seg[1:] + 1e-6).all())
    # batched, n = 1 and n = 7, not stratified
    tb = sorted_rows((3, 6), gen, dtype=dtype)
    cb = torch.cumsum(torch.rand((3, 6), generator=gen, dtype=torch.float64), -1).to(dtype)
    for m in (1, 7):
        out = importance_sampling(RayIntervals(vals=tb.to(device)), cb.to(device), m, backend=backend)
        ref = importance_sampling(RayIntervals(vals=tb.double()), cb.double(), m, backend="reference")
        assert out[0].vals.shape == (3, m + 1) and out[1].vals.shape == (3, m)
        assert_close_rel(out[0].vals, ref[0].vals, dtype, f"batched edges, n={m}")
        assert_close_rel(out[1].vals, ref[1].vals, dtype, f"batched samples, n={m}")
    assert bool((out[0].vals[:, 0].cpu() >= tb[:, 0]).all() and (out[0].vals[:, -1].cpu() <= tb[:, -1]).all())


@pytest.mark.parametrize("packed", [False, True])
def test_stratified_one_offset_per_ray(backend, device, packed):
    """With cdf = t the inverse CDF is the identity, so the samples are the u_k themselves: one offset
    b = 1 - torch.rand(n_rays, generator) per ray, in (0, 1], all gaps (c[e-1] - c[s]) / n."""
    n_rays, m = 5, 6
    t = torch.linspace(0, 1, 9, dtype=torch.float64)[None] * torch.arange(1, n_rays + 1)[:, None] + 0.25
    info, rays, _ = packing([9] * n_rays)
    n = torch.full((n_rays,), m).to(device) if packed else m
    iv = RayIntervals(vals=t.reshape(-1).to(device), packed_info=info.to(device)) if packed else \
        RayIntervals(vals=t.to(device))
    runs = [importance_sampling(iv, iv.vals, n, stratified=True, generator=torch.Generator().manual_seed(7),
                                backend=backend)[1].vals.cpu().view(n_rays, m) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])  # reproducible with a seeded generator
    x = runs[0]
    c0, c1 = t[:, :1], t[:, -1:]
    gap = (c1 - c0) / m
    assert torch.allclose(x[:, 1:] - x[:, :-1], gap.expand(n_rays, m - 1), rtol=0, atol=1e-12)
    b = (x[:, :1] - c0) / gap
    assert bool((b > 0).all() and (b <= 1 + 1e-12).all())
    exp_b = 1 - torch.rand(n_rays, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.allclose(b[:, 0], exp_b, rtol=0, atol=1e-9)
    other = importance_sampling(iv, iv.vals, n, stratified=True, generator=torch.Generator().manual_seed(8),
                                backend=backend)[1].vals.cpu().view(n_rays, m)
    assert not torch.equal(other, x)


def test_stratified_matches_reference(backend, device, gen):
    """Stratified, packed with n = 0 rays and batched: every backend draws the same offsets."""
    counts = [4, 0, 3, 6, 1]
    t, info, _ = packed_sorted(counts, gen, torch.float64)
    cdfs = _cdfs_of(counts, info, gen)
    n = torch.tensor([3, 2, 0, 5, 2])
    kw = dict(stratified=True)
    out = importance_sampling(_packed_iv(t, info, device), cdfs.to(device), n.to(device),
                              generator=torch.Generator().manual_seed(1), backend=backend, **kw)
    ref = importance_sampling(_packed_iv(t, info, "cpu"), cdfs, n, generator=torch.Generator().manual_seed(1),
                              backend="reference", **kw)
    assert_close_rel(out[0].vals, ref[0].vals, torch.float64, "stratified packed edges")
    assert_close_rel(out[1].vals, ref[1].vals, torch.float64, "stratified packed samples")
    tb = sorted_rows((3, 6), gen, dtype=torch.float64)
    cb = torch.cumsum(torch.rand((3, 6), generator=gen, dtype=torch.float64), -1)
    outs = [importance_sampling(RayIntervals(vals=tb.to(dev)), cb.to(dev), 7, generator=torch.Generator().manual_seed(5),
                                backend=be, **kw)[0].vals.cpu() for be, dev in ((backend, device), ("reference", "cpu"))]
    assert outs[0].shape == (3, 8) and bool((outs[0][:, 1:] >= outs[0][:, :-1]).all())
    assert_close_rel(outs[0], outs[1], torch.float64, "stratified batched edges")


def test_importance_sampling_gradient_wrt_edges(backend, device, gen):
    """Samples interpolate two input edges with CDF-given weights, edges follow from the samples:
    gradcheck w.r.t. the input edges (cdfs held constant), packed with a flat-CDF ray, an empty
    ray, a one-edge ray and n = 1, and batched."""
    counts = [4, 0, 3, 6, 1, 5]
    t, info, _ = packed_sorted(counts, gen, torch.float64)
    cdfs = _cdfs_of(counts, info, gen, flat_rays=(2,))
    n = torch.tensor([3, 2, 2, 5, 3, 1], device=device)

    def packed(tv):
        iv, smp = importance_sampling(RayIntervals(vals=tv, packed_info=info.to(device)), cdfs.to(device), n,
                                      backend=backend)
        return iv.vals, smp.vals

    assert torch.autograd.gradcheck(packed, (t.to(device).requires_grad_(True),))
    tb = sorted_rows((2, 5), gen, dtype=torch.float64).to(device).requires_grad_(True)
    cb = torch.cumsum(torch.rand((2, 5), generator=gen, dtype=torch.float64), -1).to(device)
    for m in (1, 4):
        assert torch.autograd.gradcheck(
            lambda x: importance_sampling(RayIntervals(vals=x), cb, m, backend=backend)[0].vals, (tb,))

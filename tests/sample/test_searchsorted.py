"""searchsorted and importance_sampling on packed and batched rays: searchsorted pinned to nerfacc 0.5's
definition (hand-computed values, a scalar transcription of nerfacc's kernel), against the float64
reference; segments are never left; stratified mode reproducible."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import RayIntervals, RaySamples, importance_sampling, searchsorted
from fastgen.ops.sample import reference
from tests.conftest import assert_close_rel
from tests.sample._helpers import packed_sorted, sorted_rows


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_importance_sampling_matches_reference(backend, device, gen, dtype):
    counts = [5, 0, 1, 2, 17, 8]
    t, info, rays = packed_sorted(counts, gen, torch.float64)
    w = torch.rand(t.shape, generator=gen, dtype=torch.float64)
    w[rays == 3] = 0  # a flat CDF: uniform in t
    cdfs = torch.zeros_like(t)
    for r, c in enumerate(counts):
        s = int(info[r, 0])
        cdfs[s:s + c] = torch.cumsum(w[s:s + c], 0)
    iv = RayIntervals(vals=t.to(dtype).to(device), packed_info=info.to(device))
    n = torch.tensor([3, 2, 0, 4, 11, 1])
    out_iv, out_s = importance_sampling(iv, cdfs.to(dtype).to(device), n.to(device), backend=backend)
    ref_iv, ref_s = importance_sampling(RayIntervals(vals=t, packed_info=info), cdfs, n, backend="reference")
    assert_close_rel(out_iv.vals, ref_iv.vals, dtype, "edges")
    assert_close_rel(out_s.vals, ref_s.vals, dtype, "samples")
    assert torch.equal(out_iv.packed_info.cpu(), ref_iv.packed_info)
    assert out_iv.packed_info[:, 1].tolist() == [4, 3, 0, 5, 12, 2]
    assert torch.equal(out_s.packed_info.cpu()[:, 1], n)
    assert int(out_iv.is_left.sum()) == int(n.sum()) == int(out_iv.is_right.sum())
    # edges stay inside each ray's input range and sorted
    for r in range(len(counts)):
        seg = out_iv.vals.cpu()[out_iv.ray_indices.cpu() == r].double()
        if seg.numel() and counts[r]:
            s = int(info[r, 0])
            assert bool((seg >= t[s] - 1e-6).all() and (seg <= t[s + counts[r] - 1] + 1e-6).all())
            assert bool((seg[1:] >= seg[:-1] - 1e-6).all())
    # batched, stratified: reproducible with a generator, sorted, and equal to the reference's
    tb = sorted_rows((3, 6), gen, dtype=dtype)
    cb = torch.cumsum(torch.rand((3, 6), generator=gen, dtype=torch.float64), -1).to(dtype)
    outs = [importance_sampling(RayIntervals(vals=tb.to(device)), cb.to(device), 7, stratified=True,
                                generator=torch.Generator().manual_seed(5), backend=be)[0].vals.cpu()
            for be in (backend, backend, "reference")]
    assert torch.equal(outs[0], outs[1])
    assert outs[0].shape == (3, 8) and bool((outs[0][:, 1:] >= outs[0][:, :-1]).all())
    assert_close_rel(outs[0], outs[2], dtype, "stratified edges")


def test_importance_sampling_gradient_wrt_edges(backend, device, gen):
    """Each new edge interpolates two input edges with CDF-given weights: gradcheck w.r.t. the
    input edges (cdfs held constant), packed with a flat-CDF ray and an empty ray, and batched."""
    t, info, rays = packed_sorted([4, 0, 3, 6], gen, torch.float64)
    cdfs = torch.zeros_like(t)
    for r, c in enumerate([4, 0, 3, 6]):
        s = int(info[r, 0])
        cdfs[s:s + c] = torch.cumsum(torch.rand(c, generator=gen, dtype=torch.float64), 0) * (r != 2)
    n = torch.tensor([3, 2, 2, 5], device=device)

    def packed(tv):
        iv, smp = importance_sampling(RayIntervals(vals=tv, packed_info=info.to(device)), cdfs.to(device), n,
                                      backend=backend)
        return iv.vals, smp.vals

    assert torch.autograd.gradcheck(packed, (t.to(device).requires_grad_(True),))
    tb = sorted_rows((2, 5), gen, dtype=torch.float64).to(device).requires_grad_(True)
    cb = torch.cumsum(torch.rand((2, 5), generator=gen, dtype=torch.float64), -1).to(device)
    assert torch.autograd.gradcheck(
        lambda x: importance_sampling(RayIntervals(vals=x), cb, 4, backend=backend)[0].vals, (tb,))

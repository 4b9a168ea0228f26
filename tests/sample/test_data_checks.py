"""The data checks of sample_pdf and merge_sorted (they read the values) on every backend: the
native kernels run them inside their pass over the data and report error bits, the others in
torch; the errors must be the same, and one bad ray among good ones must be found."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import merge_sorted, sample_pdf
from tests.sample._helpers import packed_sorted, sorted_rows


def _pdf_inputs(gen, n_rays=37):
    bins = sorted_rows((n_rays, 9), gen)
    return bins, torch.rand((n_rays, 8), generator=gen)


@pytest.mark.parametrize(("spoil", "match"), [
    (lambda bins, w: bins[23].copy_(bins[23].flip(0)), "bins must be non-decreasing"),
    (lambda bins, w: w[30, 5].fill_(-1e-3), "weights must be >= 0 and not NaN"),
    (lambda bins, w: w[0, 7].fill_(float("nan")), "weights must be >= 0 and not NaN"),
    (lambda bins, w: (bins[3].copy_(bins[3].flip(0)), w[3, 0].fill_(-1)), "bins must be non-decreasing"),
])
@pytest.mark.parametrize("det", [True, False])
def test_sample_pdf_bad_data(backend, device, gen, spoil, match, det):
    bins, w = _pdf_inputs(gen)
    spoil(bins, w)
    with pytest.raises(ValueError, match=f"sample_pdf: {match}"):
        sample_pdf(bins.to(device), w.to(device), 11, det=det, backend=backend)


def test_sample_pdf_good_data_passes(backend, device, gen):
    bins, w = _pdf_inputs(gen)
    w[:, 2] = 0  # zero weights and repeated edges are fine
    bins[:, 4] = bins[:, 3]
    assert sample_pdf(bins.to(device), w.to(device), 11, det=True, backend=backend).shape == (37, 11)


@pytest.mark.parametrize("which", ["a", "b"])
def test_merge_batched_bad_data(backend, device, gen, which):
    a, b = sorted_rows((33, 7), gen), sorted_rows((33, 12), gen)
    x = a if which == "a" else b
    x[17, 2], x[17, 3] = x[17, 3].item() + 1, x[17, 2].item()
    with pytest.raises(ValueError, match=f"merge_sorted: {which} must be sorted"):
        merge_sorted(a.to(device), b.to(device), backend=backend)


@pytest.mark.parametrize("which", ["a", "b"])
def test_merge_packed_bad_data(backend, device, gen, which):
    a, a_info, _ = packed_sorted([3, 0, 5, 1, 4], gen)
    b, b_info, _ = packed_sorted([2, 2, 0, 6, 1], gen)
    x = a if which == "a" else b
    s = int(a_info[2, 0]) if which == "a" else int(b_info[3, 0])
    x[s], x[s + 1] = x[s + 1].item() + 1, x[s].item()
    with pytest.raises(ValueError, match=f"merge_sorted: {which} must be sorted"):
        merge_sorted(a.to(device), b.to(device), a_info.to(device), b_info.to(device), backend=backend)


def test_merge_packed_unsorted_across_rays_is_fine(backend, device):
    # each ray is sorted; the flat array is not (ray 1 starts below ray 0's end)
    a, a_info = torch.tensor([2.0, 3.0, 0.0, 1.0]), torch.tensor([[0, 2], [2, 2]])
    b, b_info = torch.tensor([2.5, 0.5]), torch.tensor([[0, 1], [1, 1]])
    vals, _ = merge_sorted(a.to(device), b.to(device), a_info.to(device), b_info.to(device), backend=backend)
    assert torch.equal(vals.cpu(), torch.tensor([2.0, 2.5, 3.0, 0.0, 0.5, 1.0]))

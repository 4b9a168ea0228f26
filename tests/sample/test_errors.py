"""Bad input raises a clear error naming the op and what is wrong."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import RayIntervals, RaySamples, distortion, importance_sampling, merge_sorted, sample_pdf, \
    searchsorted

BINS = torch.tensor([[0.0, 1.0, 2.0]])
W = torch.tensor([[0.5, 0.5]])


@pytest.mark.parametrize(("call", "match"), [
    (lambda: sample_pdf(torch.tensor([[0.0, 2.0, 1.0]]), W, 4), "bins must be non-decreasing"),
    (lambda: sample_pdf(BINS, torch.tensor([[0.5, -0.1]]), 4), "weights must be >= 0 and not NaN"),
    (lambda: sample_pdf(BINS, torch.tensor([[0.5, float("nan")]]), 4), "weights must be >= 0 and not NaN"),
    (lambda: sample_pdf(BINS, W, 0), "n_samples must be an int >= 1"),
    (lambda: sample_pdf(BINS, W, 2.0), "n_samples must be an int >= 1"),
    (lambda: sample_pdf(BINS[:, :2], W, 4), r"bins must have shape \(n_rays, S \+ 1\)"),
    (lambda: sample_pdf(BINS, W.double(), 4), "dtype"),
    (lambda: sample_pdf(BINS[0], W[0], 4), "must have 2 dimension"),
    (lambda: sample_pdf(BINS, W, 4, eps=0.0), "eps must be a positive float"),
    (lambda: distortion(torch.rand(2, 3), torch.rand(2, 3), torch.rand(2, 4)), "must have the shape"),
    (lambda: distortion(torch.rand(3), torch.rand(3), torch.rand(3), ray_indices=torch.tensor([1, 0, 0]), n_rays=2),
     "sorted"),
    (lambda: distortion(torch.rand(3), torch.rand(3), torch.rand(3), ray_indices=torch.tensor([0, 0, 1])),
     "need n_rays"),
    (lambda: merge_sorted(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])), "a must be sorted"),
    (lambda: merge_sorted(torch.rand(2, 3), torch.rand(3, 3)), "batched a and b"),
    (lambda: merge_sorted(torch.rand(3), torch.rand(2), torch.tensor([[1, 2], [0, 1]]), torch.tensor([[0, 1], [1, 1]])),
     "in order and contiguously"),
    (lambda: merge_sorted(torch.rand(3), torch.rand(2), torch.tensor([[0, 3]]), None), "both a_packed_info"),
    (lambda: searchsorted(RayIntervals(vals=torch.tensor([0.0, 2.0, 1.0]), packed_info=torch.tensor([[0, 3]])),
                          RaySamples(vals=torch.tensor([0.5]), packed_info=torch.tensor([[0, 1]]))),
     "sorted_sequence.vals must be sorted"),
    (lambda: searchsorted(RayIntervals(vals=torch.rand(2, 3)), RaySamples(vals=torch.rand(3, 3))), "same n_rays"),
    (lambda: searchsorted(torch.rand(3), RaySamples(vals=torch.rand(3))), "must be a RayIntervals"),
    (lambda: searchsorted(RayIntervals(vals=torch.rand(3)), RaySamples(vals=torch.rand(3))), "needs packed_info"),
    (lambda: importance_sampling(RayIntervals(vals=torch.rand(2, 3).sort(-1).values), torch.rand(2, 4), 4),
     "must have the shape"),
    (lambda: importance_sampling(RayIntervals(vals=torch.rand(2, 3).sort(-1).values), torch.rand(2, 3).sort(-1).values,
                                 0), "n_intervals_per_ray must be an int >= 1"),
    (lambda: importance_sampling(RayIntervals(vals=torch.rand(2, 3).sort(-1).values), torch.tensor(
        [[0.0, 0.5, 0.2], [0.0, 0.1, 0.2]]), 4), "cdfs must be sorted"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()

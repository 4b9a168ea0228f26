"""reference._rays_of: the linear CPU path (a packing that covers every entry in order) and the
binary-search path (any other packing) give the ray ids of the same definition."""
from __future__ import annotations

import pytest
import torch

from fastgen.ops.sample import reference


def by_search(info, n):
    ends = info[:, 0] + info[:, 1]
    return torch.searchsorted(ends, torch.arange(n), right=True)


@pytest.mark.parametrize("counts, n", [([3, 0, 2, 1], 6), ([0, 0, 4], 4), ([5], 5), ([0], 0)])
def test_covering_packing(counts, n):
    c = torch.tensor(counts)
    info = torch.stack([torch.cumsum(c, 0) - c, c], 1)
    assert torch.equal(reference._rays_of(info, n), torch.repeat_interleave(torch.arange(len(counts)), c))
    assert torch.equal(reference._rays_of(info, n), by_search(info, n))


@pytest.mark.parametrize("info, n", [
    ([[0, 2], [2, 1]], 5),          # entries after the last ray: they get n_rays
    ([[0, 2], [3, 1]], 4),          # a gap between rays
    ([[1, 2], [3, 1]], 4),          # the first ray does not start at 0
])
def test_other_packings_take_the_search(info, n):
    info = torch.tensor(info)
    assert torch.equal(reference._rays_of(info, n), by_search(info, n))

"""Opt-in (``-m bigmem``): composite and hash_grid_encode on CPU tensors of more than 2^31
elements. The tensors are numpy-allocated zeros (calloc: pages are committed only where written),
and only the far end is filled with data, so the run needs about 1 GB although the tensors span
~12 GB; the far rays / the far level are then checked against the same data near offset 0 and
against the reference."""
import numpy as np
import pytest
import torch

import fastgen
from fastgen import nerf
from tests.conftest import assert_close_rel

pytestmark = pytest.mark.bigmem
BIG = 2**31


def lazy_zeros(*shape):
    """A float32 CPU tensor of zeros whose pages are committed only when written."""
    return torch.from_numpy(np.zeros(shape, dtype=np.float32))


def test_composite_rgbs_past_2_31():
    ray_len, gap = 1023, 1024  # ray r covers samples [1024 r, 1024 r + 1023): t_ends = t[i + 1]
    n_rays = -(-BIG // (3 * gap)) + 4  # rgbs (N, 3) with 3 N > 2^31
    n = n_rays * gap
    t = lazy_zeros(n + 1)
    rgbs = lazy_zeros(n, 3)
    assert rgbs.numel() > BIG
    gen = torch.Generator().manual_seed(0)
    far = slice((n_rays - 3) * gap, n)  # the last 3 rays: rgbs offsets > 2^31
    t[far] = torch.arange(3 * gap, dtype=torch.float32).remainder(gap) * 0.01
    rgbs[far] = torch.rand((3 * gap, 3), generator=gen)
    info = torch.stack([torch.arange(n_rays) * gap, torch.full((n_rays,), ray_len)], 1)
    # t_starts, t_ends and sigmas are views of one buffer (contiguous: no copies)
    rgb, opacity, depth = fastgen.composite(t[:-1], t[1:], t[1:], rgbs, packed_info=info, backend="cpu")
    small = slice(far.start, far.stop + 1)
    t_s, rgbs_s = t[small].clone(), rgbs[far].clone()
    info_s = info[-3:] - info[-3, 0] * torch.tensor([1, 0])
    for backend in ("cpu", "reference"):
        expected = fastgen.composite(t_s[:-1], t_s[1:], t_s[1:], rgbs_s, packed_info=info_s, backend=backend)
        for got, exp in zip((rgb, opacity, depth), expected):
            assert_close_rel(got[-3:], exp, torch.float32, f"far rays vs {backend}")
    assert float(opacity[-1]) > 0.5 and bool((opacity[:-3] == 0).all())


def test_hash_grid_encode_table_past_2_31():
    levels, log2_t, f = 17, 27, 1  # 17 * 2^27 rows of one feature: level 16 starts at 2^31
    table = lazy_zeros(levels, 2**log2_t, f)
    assert table.numel() > BIG
    gen = torch.Generator().manual_seed(1)
    table[-1] = torch.rand((2**log2_t, f), generator=gen) * 2 - 1
    x = torch.rand((4096, 3), generator=gen)
    kw = dict(base_resolution=16, per_level_scale=1.5)
    out = nerf.hash_grid_encode(x, table, **kw, backend="cpu")
    expected = nerf.hash_grid_encode(x, table, **kw, backend="reference")
    assert_close_rel(out[:, -f:], expected[:, -f:], torch.float32, "level 16")
    assert float(out[:, -f:].abs().sum()) > 0 and bool((out[:, :-f] == 0).all())

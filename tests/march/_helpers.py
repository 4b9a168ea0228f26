"""Random ray-marching scenes for the march tests: nested or free boxes, random grids, and rays
of every kind (from outside, from inside, along an axis, grazing a face, missing)."""
from __future__ import annotations

import torch

ROI = (-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)


def nested_aabbs(levels, roi=ROI):
    roi = torch.tensor(roi, dtype=torch.float64)
    mid, half = (roi[:3] + roi[3:]) / 2, (roi[3:] - roi[:3]) / 2
    return torch.stack([torch.cat([mid - half * 2**i, mid + half * 2**i]) for i in range(levels)])


def unit(d):
    return d / d.norm(dim=-1, keepdim=True)


def rays(gen, n, extent=1.0, dtype=torch.float32):
    """n rays: a quarter from a sphere of radius 3 * extent aimed at points in the box, a quarter
    from inside the box in random directions, a quarter along an axis (zero components), and the
    rest grazing a face (origin on the plane y = extent, direction in that plane) or missing."""
    n1, n2, n3 = n // 4, n // 4, n // 4
    n4 = n - n1 - n2 - n3
    far = unit(torch.randn(n1, 3, generator=gen, dtype=torch.float64)) * 3 * extent
    aim = (torch.rand(n1, 3, generator=gen, dtype=torch.float64) * 2 - 1) * extent
    o1, d1 = far, unit(aim - far)
    o2 = (torch.rand(n2, 3, generator=gen, dtype=torch.float64) * 2 - 1) * extent
    d2 = unit(torch.randn(n2, 3, generator=gen, dtype=torch.float64))
    o3 = (torch.rand(n3, 3, generator=gen, dtype=torch.float64) * 4 - 2) * extent
    axis = torch.randint(0, 3, (n3,), generator=gen)
    sign = torch.randint(0, 2, (n3,), generator=gen).double() * 2 - 1
    d3 = torch.zeros(n3, 3, dtype=torch.float64)
    d3[torch.arange(n3), axis] = sign
    o4 = (torch.rand(n4, 3, generator=gen, dtype=torch.float64) * 4 - 2) * extent
    o4[:, 1] = extent * torch.where(torch.rand(n4, generator=gen) < 0.5, 1.0, 3.0)  # on the face, or above (miss)
    d4 = torch.randn(n4, 3, generator=gen, dtype=torch.float64)
    d4[:, 1] = 0
    d4 = unit(d4)
    o = torch.cat([o1, o2, o3, o4]).to(dtype)
    d = torch.cat([d1, d2, d3, d4])
    return o, unit(d).to(dtype)


def grid(gen, levels, res=(16, 8, 12), density=0.3):
    return torch.rand(levels, *res, generator=gen) < density


def assert_same_samples(out, ref, what=""):
    """Packed (t_starts, t_ends, ray_indices, packed_info): equal membership and t values."""
    names = ("t_starts", "t_ends", "ray_indices", "packed_info")
    o_info, r_info = out[3].cpu(), ref[3].cpu()
    diff = torch.nonzero(o_info[:, 1] != r_info[:, 1])[:, 0]
    assert diff.numel() == 0, (f"{what}: {diff.numel()} rays have other sample counts than the reference, "
                               f"e.g. ray {int(diff[0])}: {int(o_info[diff[0], 1])} vs {int(r_info[diff[0], 1])}")
    for name, a, b in zip(names, out, ref):
        a, b = a.cpu(), b.cpu()
        assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {name} {a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
        if not torch.equal(a, b):
            bad = int(torch.nonzero(a != b)[0, 0]) if a.dim() == 1 else -1
            raise AssertionError(f"{what}: {name} differs from the reference (first at {bad}: "
                                 f"{a.flatten()[bad].item() if bad >= 0 else ''} vs {b.flatten()[bad].item() if bad >= 0 else ''})")

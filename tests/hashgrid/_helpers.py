"""Configurations, point generators and the forward+backward comparison of the hashgrid tests.

Sizes are small: the Triton interpreter runs every (point block, level) program in Python.
"""
from __future__ import annotations

import torch

from fastgen.ops.hashgrid import level_info
from tests.conftest import assert_close_rel

# 2D: T = 2^8, resolutions 4, 6, 11, 19, 33: levels 0-2 dense ((res+1)^2 <= 256), 3-4 hashed.
# 3D: T = 2^8, resolutions 4, 6, 11, 19: level 0 dense (125 <= 256), 1-3 hashed.
CONFIGS = {2: dict(n_levels=5, log2_hashmap_size=8, base_resolution=4, per_level_scale=1.7),
           3: dict(n_levels=4, log2_hashmap_size=8, base_resolution=4, per_level_scale=1.7)}


def config(dims: int, **overrides) -> dict:
    return {**CONFIGS[dims], **overrides}


def levels(dims: int, cfg: dict) -> tuple:
    return level_info("test", dims, cfg["n_levels"], cfg["log2_hashmap_size"], cfg["base_resolution"],
                      cfg["per_level_scale"])


def make_table(cfg: dict, features: int, gen, dtype=torch.float32, scale=1.0):
    """A random table of the configuration (values O(scale), so that errors are visible)."""
    shape = (cfg["n_levels"], 1 << cfg["log2_hashmap_size"], features)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def edge_points(dims: int, cfg: dict, gen, n_random=150, dtype=torch.float32):
    """Random points plus the edges: 0 and 1 in every coordinate, exact cell borders k / res of
    every level, and points outside [0, 1]^D (clamped)."""
    x = [torch.rand(n_random, dims, generator=gen, dtype=torch.float64)]
    x.append(torch.tensor([[0.0] * dims, [1.0] * dims, [0.0, 1.0, 0.0][:dims], [1.0, 0.0, 1.0][:dims]]))
    for res, _ in levels(dims, cfg):
        k = torch.randint(0, res + 1, (6, dims), generator=gen, dtype=torch.float64)
        x.append(k / res)  # every coordinate on a border of this level
        mixed = torch.rand(6, dims, generator=gen, dtype=torch.float64)
        mixed[:, 0] = k[:, 0] / res  # one coordinate on a border
        x.append(mixed)
    x.append(torch.rand(8, dims, generator=gen, dtype=torch.float64) * 3.0 - 1.0)  # mostly outside
    return torch.cat(x).to(dtype)


def interior_points(dims: int, cfg: dict, gen, n=120, dtype=torch.float32, margin=1e-3):
    """Random points of (0, 1)^D at least ``margin`` (in cells) from every cell border of every
    level, where the x-gradient is smooth, so float32 and float64 land in the same cell."""
    x = torch.rand(4 * n, dims, generator=gen, dtype=torch.float64)
    ok = torch.ones(x.shape[0], dtype=torch.bool)
    for res, _ in levels(dims, cfg):
        frac = x * res - torch.floor(x * res)
        ok &= ((frac > margin) & (frac < 1 - margin)).all(1)
    return x[ok][:n].to(dtype)


def encode_fn(cfg, backend):
    from fastgen.nerf import hash_grid_encode

    return lambda x, table: hash_grid_encode(x, table, backend=backend, **cfg)


def fwd_bwd(fn, x, table, coeff, x_grad=True, table_grad=True):
    """Outputs of fn(x, table) and the gradients of <coeff, output> w.r.t. x and table."""
    x = x.detach().clone().requires_grad_(x_grad)
    table = table.detach().clone().requires_grad_(table_grad)
    out = fn(x, table)
    wanted = [t for t, w in ((x, x_grad), (table, table_grad)) if w]
    grads = torch.autograd.grad((out.double() * coeff.to(out.device)).sum(), wanted) if wanted else ()
    it = iter(grads)
    return out, (next(it) if x_grad else None), (next(it) if table_grad else None)


def check_vs_reference(backend, device, x, table, cfg, gen, x_grad=True, dtype=None, what=""):
    """``backend`` on (x, table) moved to ``device`` against the reference in float64 on the same
    values: output, table gradient and (when x_grad) input gradient of a random functional."""
    dtype = dtype or table.dtype
    n_out = cfg["n_levels"] * table.shape[2]
    coeff = torch.randn(*x.shape[:-1], n_out, generator=gen, dtype=torch.float64)
    ref = fwd_bwd(encode_fn(cfg, "reference"), x.double(), table.double(), coeff, x_grad)
    got = fwd_bwd(encode_fn(cfg, backend), x.to(device), table.to(device), coeff, x_grad)
    assert got[0].dtype == table.dtype and got[0].device.type == device.type
    assert_close_rel(got[0], ref[0], dtype, f"{what} output")
    assert got[2].dtype == table.dtype
    assert_close_rel(got[2], ref[2], dtype, f"{what} table gradient")
    if x_grad:
        assert got[1].dtype == x.dtype
        assert_close_rel(got[1], ref[1], dtype, f"{what} x gradient")
    return got


def vertex_rows(vertices: torch.Tensor, res: int, table_size: int) -> list:
    """The issue's indexing written out with Python ints: dense c0 + c1 (res+1) + c2 (res+1)^2
    when (res+1)^D <= T, else (c0 * 1 ^ c1 * 2654435761 ^ c2 * 805459861) mod 2^32 mod T."""
    dims = vertices.shape[1]
    rows = []
    for v in vertices.tolist():
        v = [int(c) for c in v]
        if (res + 1) ** dims <= table_size:
            rows.append(sum(c * (res + 1) ** d for d, c in enumerate(v)))
        else:
            h = 0
            for c, p in zip(v, (1, 2654435761, 805459861)):
                h ^= (c * p) % (1 << 32)
            rows.append(h % table_size)
    return rows


def n_dense(dims, cfg):
    return sum(1 for _, stride in levels(dims, cfg) if stride)


def n_hashed(dims, cfg):
    return len(levels(dims, cfg)) - n_dense(dims, cfg)


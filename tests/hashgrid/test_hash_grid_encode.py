"""hash_grid_encode: every backend against the float64 reference, forward and backward (table and
input gradients), on random points with the edges (0, 1, cell borders, outside [0, 1]); dense and
hashed levels; the indexing convention written out; half-precision tables; determinism of the
table gradient; gradcheck in float64; shapes and the module."""
from __future__ import annotations

import pytest
import torch

import fastgen.nerf as nerf
from fastgen.backend import registered_ops
from tests.conftest import TOL, assert_close_rel, rel_err, skip_unless_available
from tests.hashgrid._helpers import (
    check_vs_reference, config, edge_points, encode_fn, fwd_bwd, interior_points, levels, make_table, n_dense,
    n_hashed, vertex_rows,
)

# (D, F): both dimensions, every feature count.
SHAPES = [(3, 2), (2, 1), (3, 4), (2, 8)]


def test_registered():
    ops = {op.name: op for op in registered_ops()}
    assert ops["hash_grid_encode"].family == "hashgrid"
    assert {"hash_grid_encode", "HashGridEncoding"} <= set(nerf.__all__)


@pytest.mark.parametrize("dims", [2, 3])
def test_configs_have_dense_and_hashed_levels(dims):
    cfg = config(dims)
    assert n_dense(dims, cfg) >= 1 and n_hashed(dims, cfg) >= 1


@pytest.mark.parametrize(("dims", "features"), SHAPES)
def test_edges_vs_reference(backend, device, gen, dims, features):
    """Output and table gradient on random points, 0, 1, exact cell borders and points outside
    (the encoding is continuous there, so float32 and float64 agree); the input gradient on the
    random points and 0 / 1 only (it jumps at interior cell borders)."""
    cfg = config(dims)
    table = make_table(cfg, features, gen)
    x = edge_points(dims, cfg, gen)
    check_vs_reference(backend, device, x, table, cfg, gen, x_grad=False, what="edges")
    inner = torch.cat([interior_points(dims, cfg, gen, n=60), x[150:154]])  # + the 0 / 1 corners
    check_vs_reference(backend, device, inner, table, cfg, gen, what="interior")


@pytest.mark.parametrize("dims", [2, 3])
def test_indexing_convention(backend, device, gen, dims):
    """At a vertex (frac = 0) the output is exactly table[l, row(vertex)], with row() written out
    from the issue's formulas (dense levels and hashed levels), float64."""
    cfg = config(dims)
    table = make_table(cfg, 1, gen, torch.float64)
    t = 1 << cfg["log2_hashmap_size"]
    for level, (res, _) in enumerate(levels(dims, cfg)):
        vertices = torch.randint(0, res, (20, dims), generator=gen)
        vertices[0] = 0
        vertices[1] = res - 1  # the last cell's lower vertex; x = 1 gives its upper one below
        x = (vertices.double() / res).to(device)
        out = nerf.hash_grid_encode(x, table.to(device), backend=backend, **cfg)
        expected = table[level, vertex_rows(vertices, res, t), 0]
        torch.testing.assert_close(out[:, level].cpu(), expected, rtol=0, atol=1e-12)
        one = nerf.hash_grid_encode(torch.ones(1, dims, dtype=torch.float64, device=device), table.to(device),
                                    backend=backend, **cfg)
        top = table[level, vertex_rows(torch.full((1, dims), res), res, t), 0]
        torch.testing.assert_close(one[:, level].cpu(), top, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_table(backend, device, gen, dtype):
    """float16 / bfloat16 tables with float32 points: computed in float32, output and table
    gradient in the table's dtype."""
    cfg = config(3)
    table = make_table(cfg, 2, gen, dtype)
    check_vs_reference(backend, device, interior_points(3, cfg, gen, n=80), table, cfg, gen, dtype=dtype,
                       what=str(dtype))


def random_bits_table(cfg, features, dtype, gen):
    """A 16-bit table of random finite bit patterns (subnormals and the largest values included)."""
    shape = (cfg["n_levels"], 1 << cfg["log2_hashmap_size"], features)
    bits = torch.randint(-(1 << 15), 1 << 15, shape, generator=gen, dtype=torch.int32).to(torch.int16)
    table = bits.view(dtype)
    return torch.where(torch.isfinite(table), table, torch.zeros((), dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("dims", "features"), SHAPES)
def test_half_table_as_float32(dims, features, dtype, gen):
    """A float16 / bfloat16 table computes bit for bit what the float32 table of the same values
    does on the cpu backend (the loads are exact; on x86 with F16C float16 rows are converted by
    the hardware): the output rounded once to the table's dtype, and the input gradient. Table
    values are random bit patterns: subnormals and the largest finite values included."""
    skip_unless_available("cpu")
    cfg = config(dims)
    table = random_bits_table(cfg, features, dtype, gen)
    x = edge_points(dims, cfg, gen)
    grad_out = torch.randn(x.shape[0], cfg["n_levels"] * features, generator=gen).to(dtype)
    outs = []
    for t in (table, table.float()):
        xg = x.float().requires_grad_()
        out = nerf.hash_grid_encode(xg, t, backend="cpu", **cfg)
        (grad_x,) = torch.autograd.grad(out, xg, grad_out.to(out.dtype))
        outs.append((out, grad_x))
    (out_h, gx_h), (out_f, gx_f) = outs
    assert torch.equal(out_h.view(torch.int16), out_f.to(dtype).view(torch.int16))
    assert torch.equal(gx_h.view(torch.int32), gx_f.view(torch.int32))  # NaN / inf included


@pytest.mark.parametrize(("dims", "features"), SHAPES)
def test_float16_portable_conversion(dims, features, gen, monkeypatch):
    """``FASTGEN_NO_F16C=1`` makes the cpu backend convert float16 tables by bit manipulation
    (the path of CPUs without F16C) on any machine: output, table gradient and input gradient are
    bit for bit those of the default path (F16C where the CPU has it), on random finite bit
    patterns (subnormals and the largest values included), and the portable path matches the
    reference."""
    skip_unless_available("cpu")
    cfg = config(dims)
    table = random_bits_table(cfg, features, torch.float16, gen)
    x = edge_points(dims, cfg, gen)
    coeff = torch.randn(x.shape[0], cfg["n_levels"] * features, generator=gen, dtype=torch.float64)
    runs = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("FASTGEN_NO_F16C", flag)
        runs[flag] = fwd_bwd(encode_fn(cfg, "cpu"), x, table, coeff)
    for what, f16c, portable in zip(("output", "x gradient", "table gradient"), runs["0"], runs["1"]):
        int_type = torch.int16 if f16c.dtype == torch.float16 else torch.int32
        assert torch.equal(portable.view(int_type), f16c.view(int_type)), what
    # monkeypatch keeps FASTGEN_NO_F16C=1 until the end of the test
    check_vs_reference("cpu", torch.device("cpu"), interior_points(dims, cfg, gen, n=80),
                       make_table(cfg, features, gen, torch.float16), cfg, gen, what="portable float16")


def test_table_gradient_deterministic(backend, device, gen):
    """Two backward passes (the CPU with different thread counts) give the same table gradient:
    bitwise on the reference and cpu backends in float64, within float64 rounding elsewhere
    (atomic adds in any order). Many points share few rows: a 2^4-row table."""
    cfg = config(3, log2_hashmap_size=4, n_levels=3)
    table = make_table(cfg, 2, gen, torch.float64).to(device)
    x = torch.rand(300, 3, generator=gen, dtype=torch.float64).to(device)
    coeff = torch.randn(300, 6, generator=gen, dtype=torch.float64)
    fn = encode_fn(cfg, backend)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = fwd_bwd(fn, x, table, coeff, x_grad=False)[2]
        torch.set_num_threads(max(2, threads))
        second = fwd_bwd(fn, x, table, coeff, x_grad=False)[2]
    finally:
        torch.set_num_threads(threads)
    if backend in ("reference", "cpu"):
        assert torch.equal(first, second)
    else:
        assert rel_err(first, second) <= TOL[torch.float64]


@pytest.mark.parametrize("dims", [2, 3])
def test_gradcheck(backend, device, gen, dims):
    """torch.autograd.gradcheck in float64 of the table and input gradients (points away from
    cell borders, where the encoding is smooth); 2^4-row tables with dense and hashed levels."""
    cfg = dict(n_levels=3, log2_hashmap_size=4, base_resolution=1, per_level_scale=2.0)
    assert n_dense(dims, cfg) >= 1 and n_hashed(dims, cfg) >= 1
    x = interior_points(dims, cfg, gen, n=6, dtype=torch.float64, margin=0.05).to(device).requires_grad_()
    table = make_table(cfg, 2, gen, torch.float64).to(device).requires_grad_()
    # fast mode (random projections of the Jacobian) under the slow Triton interpreter
    assert torch.autograd.gradcheck(encode_fn(cfg, backend), (x, table), fast_mode=backend == "triton")


def test_nan_and_inf_points(backend, device, gen):
    """Coordinates are clamped to [0, 1]: -inf and NaN act as 0, +inf as 1; their x-gradient is 0."""
    cfg = config(3)
    table = make_table(cfg, 2, gen).to(device)
    x = torch.tensor([[float("nan"), 0.3, 0.7], [float("-inf"), float("inf"), 0.5], [2.0, -1.0, 0.5]])
    clamped = torch.tensor([[0.0, 0.3, 0.7], [0.0, 1.0, 0.5], [1.0, 0.0, 0.5]])
    leaf = x.to(device).requires_grad_()
    out = nerf.hash_grid_encode(leaf, table, backend=backend, **cfg)
    torch.testing.assert_close(out, nerf.hash_grid_encode(clamped.to(device), table, backend=backend, **cfg))
    (gx,) = torch.autograd.grad(out.sum(), leaf)
    outside = torch.tensor([[True, False, False], [True, True, False], [True, True, False]])
    assert bool(gx.cpu()[outside].eq(0).all()) and bool(gx.cpu()[~outside].ne(0).all())


def test_shapes_and_empty(backend, device, gen):
    """(..., D) in, (..., L*F) out; zero points; only one of the two gradients requested."""
    cfg = config(2)
    table = make_table(cfg, 2, gen).to(device)
    x = torch.rand(2, 7, 2, generator=gen).to(device)
    out = nerf.hash_grid_encode(x, table, backend=backend, **cfg)
    assert out.shape == (2, 7, 10)
    flat = nerf.hash_grid_encode(x.reshape(-1, 2), table, backend=backend, **cfg)
    torch.testing.assert_close(out.reshape(-1, 10), flat)
    coeff = torch.randn(2, 7, 10, generator=gen, dtype=torch.float64)
    for x_grad, table_grad in ((True, False), (False, True)):
        _, gx, gt = fwd_bwd(encode_fn(cfg, backend), x, table, coeff, x_grad, table_grad)
        assert (gx is None) != x_grad and (gt is None) != table_grad
    empty = torch.zeros(0, 2, device=device, requires_grad=True)
    leaf = table.clone().requires_grad_()
    out = nerf.hash_grid_encode(empty, leaf, backend=backend, **cfg)
    assert out.shape == (0, 10)
    gx, gt = torch.autograd.grad(out.sum(), (empty, leaf), allow_unused=True)
    assert gx.shape == (0, 2) and not gt.any()


def test_module(backend, device, gen):
    """HashGridEncoding: table shape, initialisation, forward equal to the functional op."""
    enc = nerf.HashGridEncoding(n_input_dims=3, n_levels=4, n_features_per_level=2, log2_hashmap_size=8,
                                base_resolution=4, per_level_scale=1.7).to(device)
    assert enc.table.shape == (4, 256, 2) and enc.n_output_dims == 8
    assert enc.table.abs().max() <= 1e-4 and enc.table.std() > 1e-5
    assert enc.resolutions == [res for res, _ in levels(3, config(3))]
    x = torch.rand(50, 3, generator=gen).to(device)
    y = enc(x, backend=backend)
    assert y.shape == (50, 8) and y.dtype == torch.float32
    y.sum().backward()
    assert enc.table.grad is not None and enc.table.grad.shape == enc.table.shape
    assert_close_rel(y, nerf.hash_grid_encode(x, enc.table, backend="reference", **config(3)),
                     torch.float32, "module")


def test_module_defaults():
    """The issue's defaults: 16 levels x 2^19 rows x 2 features, float16 tables on request."""
    enc = nerf.HashGridEncoding()
    assert enc.table.shape == (16, 1 << 19, 2) and enc.table.dtype == torch.float32
    assert enc.n_output_dims == 32 and enc.resolutions[0] == 16
    assert enc.table.detach().abs().max() <= 1e-4
    half = nerf.HashGridEncoding(n_levels=2, log2_hashmap_size=10, dtype=torch.float16)
    assert half.table.dtype == torch.float16
    assert half(torch.rand(5, 3), backend="reference").dtype == torch.float16


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_values_exact(backend, device, dtype):
    """Every finite float16 / bfloat16 value (but -0) is read and written back exactly: a point on
    a vertex of a dense level outputs that vertex's row (checks the CPU's bitwise conversions)."""
    bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    values = bits.view(dtype)
    values = values[torch.isfinite(values.float()) & (bits != -(1 << 15))]
    if backend == "triton":  # the interpreter is slow, and flushes bfloat16 subnormals to 0
        values = values[::16]
        values = values[(values.float().abs() >= torch.finfo(dtype).tiny) | (values == 0)]
    n, res = values.numel(), 255  # 256^2 vertices = 2^16 rows: a dense level
    table = torch.zeros(1, 1 << 16, 1, dtype=dtype)
    table[0, :n, 0] = values
    idx = torch.arange(n)
    x = torch.stack([idx % 256, idx // 256], 1).float() / res
    out = nerf.hash_grid_encode(x.to(device), table.to(device), base_resolution=res, per_level_scale=1.0,
                                backend=backend)
    assert torch.equal(out[:, 0].cpu().view(torch.int16), values.view(torch.int16))

"""fastgen.compat.tcnn's encodings, each against a float64 reference of tiny-cuda-nn's documented
formula written independently here (SphericalHarmonics: associated Legendre functions by their
three-term recurrence in spherical coordinates; OneBlob: numerical integration of the quartic
kernel; TriangleWave: 2/pi asin(cos(2 pi v))), through the public Encoding module (float32)."""
from __future__ import annotations

import math

import pytest
import torch

import fastgen.compat.tcnn as tcnn
from fastgen.ops.hashgrid import hash_grid_encode
from tests.conftest import assert_close_rel

F32 = torch.float32


def _encode(n_dims, config, x):
    enc = tcnn.Encoding(n_dims, config, dtype=torch.float32)
    out = enc(x.float())
    assert out.dtype == torch.float32 and out.shape == (x.shape[0], enc.n_output_dims)
    return enc, out


def _points(n, dims, seed=0):
    return torch.rand(n, dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_identity_scale_offset():
    x = _points(37, 4) * 4 - 2
    _, out = _encode(4, {"otype": "Identity", "scale": 2.5, "offset": -0.5}, x)
    assert_close_rel(out, x * 2.5 - 0.5, F32)


@pytest.mark.parametrize("n_frequencies", [1, 4, 7])
def test_frequency_sin_cos_layout(n_frequencies):
    x = _points(53, 3)
    _, out = _encode(3, {"otype": "Frequency", "n_frequencies": n_frequencies}, x)
    expected = torch.empty(53, 3, n_frequencies, 2, dtype=torch.float64)
    for d in range(3):
        for k in range(n_frequencies):  # tcnn: sin(2^k pi x), cos(2^k pi x) for each input dim in turn
            expected[:, d, k, 0] = torch.sin(2 ** k * math.pi * x[:, d])
            expected[:, d, k, 1] = torch.cos(2 ** k * math.pi * x[:, d])
    assert_close_rel(out, expected.reshape(53, -1), F32, factor=5)


def test_triangle_wave():
    x = _points(41, 2)
    n = 6
    _, out = _encode(2, {"otype": "TriangleWave", "n_frequencies": n}, x)
    k = torch.arange(n, dtype=torch.float64)
    v = x[:, :, None] * 2.0 ** (k - 1) + k / 4
    expected = (2 / math.pi * torch.asin(torch.cos(2 * math.pi * v))).reshape(41, -1)
    assert_close_rel(out, expected, F32, factor=5)
    assert out.abs().max() <= 1


@pytest.mark.parametrize("n_bins", [4, 16])
def test_one_blob_is_the_kernel_mass_per_bin(n_bins):
    x = torch.cat([_points(20, 1), torch.tensor([[0.0], [1.0], [0.5], [1 / n_bins]], dtype=torch.float64)])
    _, out = _encode(1, {"otype": "OneBlob", "n_bins": n_bins}, x)
    # numerical integral over each bin of the wrapped quartic kernel n 15/16 (1 - (n t)^2)^2
    t = torch.linspace(0, 1, 200 * n_bins + 1, dtype=torch.float64)
    dist = t[None, :] - x
    dist = dist - torch.round(dist)  # periodic distance in [-1/2, 1/2]
    u = (dist * n_bins).clamp(-1, 1)
    density = n_bins * 15 / 16 * (1 - u * u) ** 2
    mass = [torch.trapezoid(density[:, (t >= k / n_bins - 1e-12) & (t <= (k + 1) / n_bins + 1e-12)],
                            dx=float(t[1] - t[0])) for k in range(n_bins)]
    assert_close_rel(out, torch.stack(mass, 1), F32, factor=50)
    assert torch.allclose(out.sum(1), torch.ones(out.shape[0]), atol=1e-5)


def _associated_legendre(l, m, z):
    """P_l^m(z) with the Condon-Shortley phase, by the standard recurrence in l."""
    pmm = (-1) ** m * math.prod(range(1, 2 * m, 2)) * (1 - z * z) ** (m / 2)
    if l == m:
        return pmm
    pm1 = z * (2 * m + 1) * pmm
    for ll in range(m + 2, l + 1):
        pmm, pm1 = pm1, ((2 * ll - 1) * z * pm1 - (ll + m - 1) * pmm) / (ll - m)
    return pm1


def _real_sh(l, m, d):
    theta, phi = torch.acos(d[:, 2].clamp(-1, 1)), torch.atan2(d[:, 1], d[:, 0])
    am = abs(m)
    k = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - am) / math.factorial(l + am))
    p = _associated_legendre(l, am, torch.cos(theta))
    if m == 0:
        return k * p
    return math.sqrt(2) * k * p * (torch.cos(am * phi) if m > 0 else torch.sin(am * phi))


@pytest.mark.parametrize("degree", range(1, 9))
def test_spherical_harmonics_every_degree(degree):
    d = torch.randn(64, 3, generator=torch.Generator().manual_seed(degree), dtype=torch.float64)
    d = torch.cat([d, torch.eye(3, dtype=torch.float64), -torch.eye(3, dtype=torch.float64)])
    d = d / d.norm(dim=1, keepdim=True)
    _, out = _encode(3, {"otype": "SphericalHarmonics", "degree": degree}, (d + 1) / 2)
    assert out.shape[1] == degree ** 2
    expected = torch.stack([_real_sh(l, m, d) for l in range(degree) for m in range(-l, l + 1)], 1)
    assert_close_rel(out, expected, F32, factor=5)


def test_spherical_harmonics_known_values():
    """tiny-cuda-nn's own first coefficients (signs included) at one direction."""
    x, y, z = 0.48, 0.6, 0.64
    _, out = _encode(3, {"otype": "SphericalHarmonics", "degree": 3},
                     (torch.tensor([[x, y, z]], dtype=torch.float64) + 1) / 2)
    c0, c1, c2 = 0.28209479177387814, 0.48860251190291987, 1.0925484305920792
    expected = [c0, -c1 * y, c1 * z, -c1 * x, c2 * x * y, -c2 * y * z,
                0.94617469575755997 * z * z - 0.31539156525251999, -c2 * x * z, 0.54627421529603959 * (x * x - y * y)]
    assert_close_rel(out[0], torch.tensor(expected, dtype=torch.float64), F32)


@pytest.mark.parametrize("otype", ["HashGrid", "Grid"])
def test_hash_grid_on_fastgen_hash_grid_encode(otype):
    config = {"otype": otype, "n_levels": 4, "n_features_per_level": 2, "log2_hashmap_size": 10,
              "base_resolution": 4, "per_level_scale": 1.5, "interpolation": "Linear"}
    if otype == "Grid":
        config["type"] = "Hash"
    x = _points(29, 3)
    enc, out = _encode(3, config, x)
    assert enc.params.shape == (4 * 1024 * 2,) and enc.params.abs().max() <= 1e-4
    table = enc.params.detach().double().view(4, 1024, 2).uniform_(-1, 1)  # visible values
    with torch.no_grad():
        enc.params.copy_(table.flatten())
    expected = hash_grid_encode(x, table, base_resolution=4, per_level_scale=1.5, backend="reference")
    assert_close_rel(enc(x.float()), expected, F32)


def test_dense_grid_is_bilinear_interpolation():
    config = {"otype": "DenseGrid", "n_levels": 2, "n_features_per_level": 1, "base_resolution": 3,
              "per_level_scale": 2.0}
    x = torch.cat([_points(31, 2), torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 0.25]], dtype=torch.float64)])
    enc = tcnn.Encoding(2, config, dtype=torch.float32)
    rows = 1 << enc._encoding.log2
    with torch.no_grad():
        enc.params.uniform_(-1, 1)
    table = enc.params.detach().double().view(2, rows)
    expected = []
    for level, res in enumerate((3, 6)):  # dense: vertex (i, j) is row i + j (res + 1)
        grid = table[level, :(res + 1) ** 2].view(res + 1, res + 1)  # [j, i]
        p = x * res
        c = p.floor().clamp(max=res - 1)
        t, c = p - c, c.long()
        v = lambda di, dj: grid[c[:, 1] + dj, c[:, 0] + di]  # noqa: E731
        expected.append((1 - t[:, 0]) * (1 - t[:, 1]) * v(0, 0) + t[:, 0] * (1 - t[:, 1]) * v(1, 0)
                        + (1 - t[:, 0]) * t[:, 1] * v(0, 1) + t[:, 0] * t[:, 1] * v(1, 1))
    assert_close_rel(enc(x.float()), torch.stack(expected, 1), F32)


def test_composite_splits_the_input_dims_in_order():
    config = {"otype": "Composite", "nested": [
        {"otype": "SphericalHarmonics", "degree": 2, "n_dims_to_encode": 3},
        {"otype": "Frequency", "n_frequencies": 2, "n_dims_to_encode": 1},
        {"otype": "Composite", "n_dims_to_encode": 3, "nested": [
            {"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6, "base_resolution": 2,
             "n_dims_to_encode": 2},
            {"otype": "OneBlob", "n_bins": 2}]},
        {"otype": "Identity", "scale": 3.0}]}  # the last takes the remaining 2 dims
    x = _points(23, 9)
    enc, out = _encode(9, config, x)
    assert enc.n_output_dims == 4 + 4 + 4 + 2 + 2 and enc.params.numel() == 2 * 64 * 2
    grid = tcnn.Encoding(2, config["nested"][2]["nested"][0], dtype=torch.float32)
    with torch.no_grad():
        grid.params.copy_(enc.params)
    parts = [tcnn.Encoding(3, config["nested"][0])(x[:, :3].float()),
             tcnn.Encoding(1, config["nested"][1])(x[:, 3:4].float()),
             grid(x[:, 4:6].float()),
             tcnn.Encoding(1, config["nested"][2]["nested"][1])(x[:, 6:7].float()),
             x[:, 7:] * 3]
    assert_close_rel(out, torch.cat([p.double() for p in parts], 1), F32)


def test_gradients_reach_the_input_and_the_table():
    config = {"otype": "Composite", "nested": [
        {"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6, "n_dims_to_encode": 3},
        {"otype": "SphericalHarmonics", "degree": 4, "n_dims_to_encode": 3},
        {"otype": "OneBlob", "n_bins": 8}]}
    enc = tcnn.Encoding(7, config, dtype=torch.float32)
    x = _points(17, 7).float().requires_grad_()
    enc(x).square().sum().backward()
    assert enc.params.grad is not None and enc.params.grad.abs().sum() > 0
    assert x.grad is not None and x.grad[:, 3:].abs().sum() > 0


def test_float16_output_on_request():
    enc = tcnn.Encoding(3, {"otype": "Frequency", "n_frequencies": 3}, dtype=torch.float16)
    assert enc.dtype == torch.float16 and enc(torch.rand(5, 3)).dtype == torch.float16


def test_empty_batch():
    config = {"otype": "Composite", "nested": [{"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6,
                                                "n_dims_to_encode": 3},
                                               {"otype": "SphericalHarmonics", "n_dims_to_encode": 3},
                                               {"otype": "OneBlob", "n_bins": 4, "n_dims_to_encode": 1},
                                               {"otype": "TriangleWave"}]}
    enc = tcnn.Encoding(8, config, dtype=torch.float32)
    assert enc(torch.rand(0, 8)).shape == (0, enc.n_output_dims)


@pytest.mark.parametrize("reduction", ["Sum", "Product"])
def test_composite_sum_and_product(reduction):
    nested = [{"otype": "Frequency", "n_frequencies": 2, "n_dims_to_encode": 1},
              {"otype": "TriangleWave", "n_frequencies": 4}]
    x = _points(19, 2)
    _, out = _encode(2, {"otype": "Composite", "reduction": reduction, "nested": nested}, x)
    a = tcnn.Encoding(1, nested[0])(x[:, :1].float()).double()
    b = tcnn.Encoding(1, nested[1])(x[:, 1:].float()).double()
    assert_close_rel(out, a + b if reduction == "Sum" else a * b, F32)

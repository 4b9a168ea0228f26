"""Bad input: every check of hash_grid_encode and HashGridEncoding raises ValueError/TypeError with
a message that says what was wrong, before any kernel (or the reference) runs."""
from __future__ import annotations

import pytest
import torch

import fastgen.nerf as nerf
from fastgen.ops.hashgrid import _library, reference
from tests.conftest import forbid_kernels

CFG = dict(n_levels=4, n_features_per_level=2, log2_hashmap_size=8)


@pytest.fixture
def no_kernels(monkeypatch):
    """Make the kernel modules and the reference raise if called."""
    forbid_kernels(monkeypatch, _library, reference, ("hash_grid_encode",))


def other_device(device):
    return torch.device("cpu") if device.type == "cuda" else torch.device(
        "cuda" if torch.cuda.is_available() else "meta")


def table(d, shape=(4, 256, 2), dtype=torch.float32):
    return torch.zeros(shape, dtype=dtype, device=d)


def x3(d, n=5, dtype=torch.float32):
    return torch.rand(n, 3, dtype=dtype, device=d)


def enc(x, t, **kw):
    return nerf.hash_grid_encode(x, t, **kw)


# (id, exception type, regex of the message, call(device, backend))
CASES = [
    ("x_not_tensor", TypeError, r"hash_grid_encode: x must be a torch\.Tensor, got list",
     lambda d, b: enc([[0.5, 0.5, 0.5]], table(d), backend=b)),
    ("x_width_4", ValueError, r"x must have shape \(\.\.\., D\) with D = 2 or 3 .* got shape \(5, 4\)",
     lambda d, b: enc(torch.rand(5, 4, device=d), table(d), backend=b)),
    ("x_width_1", ValueError, r"D = 2 or 3 .* got shape \(5, 1\)",
     lambda d, b: enc(torch.rand(5, 1, device=d), table(d), backend=b)),
    ("x_scalar", ValueError, r"got shape \(\)", lambda d, b: enc(torch.tensor(0.5, device=d), table(d), backend=b)),
    ("x_int", TypeError, r"x must have dtype in \(float32, float64\), got int64",
     lambda d, b: enc(torch.zeros(5, 3, dtype=torch.long, device=d), table(d), backend=b)),
    ("x_half", TypeError, r"x must have dtype in \(float32, float64\), got float16",
     lambda d, b: enc(x3(d, dtype=torch.float16), table(d), backend=b)),
    ("x64_table32", TypeError, r"x is float64 but table is float32",
     lambda d, b: enc(x3(d, dtype=torch.float64), table(d), backend=b)),
    ("x32_table64", TypeError, r"x is float32 but table is float64",
     lambda d, b: enc(x3(d), table(d, dtype=torch.float64), backend=b)),
    ("table_int", TypeError, r"table must have dtype in .*got int32",
     lambda d, b: enc(x3(d), table(d, dtype=torch.int32), backend=b)),
    ("table_2d", ValueError, r"table must have 3 dimension\(s\), got shape \(256, 2\)",
     lambda d, b: enc(x3(d), table(d, (256, 2)), backend=b)),
    ("table_levels", ValueError, r"table has 4 levels .* but n_levels=5",
     lambda d, b: enc(x3(d), table(d), **{**CFG, "n_levels": 5}, backend=b)),
    ("table_rows", ValueError, r"table has 256 rows per level .* but log2_hashmap_size=9 needs 2\^9 = 512",
     lambda d, b: enc(x3(d), table(d), **{**CFG, "log2_hashmap_size": 9}, backend=b)),
    ("table_features", ValueError, r"table has 2 features per level .* but n_features_per_level=4",
     lambda d, b: enc(x3(d), table(d), **{**CFG, "n_features_per_level": 4}, backend=b)),
    ("features_3", ValueError, r"n_features_per_level must be one of \(1, 2, 4, 8\), got 3",
     lambda d, b: enc(x3(d), table(d, (4, 256, 3)), n_features_per_level=3, backend=b)),
    ("table_features_3", ValueError, r"last dimension \(features per level\) must be one of \(1, 2, 4, 8\)",
     lambda d, b: enc(x3(d), table(d, (4, 256, 3)), backend=b)),
    ("table_rows_not_pow2", ValueError, r"rows per level \(dimension 1\) must be 2\^log2_hashmap_size .* "
     r"got shape \(4, 300, 2\)", lambda d, b: enc(x3(d), table(d, (4, 300, 2)), backend=b)),
    ("table_rows_too_few", ValueError, r"log2_hashmap_size in \[4, 30\], got shape \(4, 8, 2\)",
     lambda d, b: enc(x3(d), table(d, (4, 8, 2)), backend=b)),
    ("table_no_levels", ValueError, r"table must have 1\.\.65535 levels",
     lambda d, b: enc(x3(d), table(d, (0, 256, 2)), backend=b)),
    ("log2_too_small", ValueError, r"log2_hashmap_size must be an int in \[4, 30\], got 3",
     lambda d, b: enc(x3(d), table(d, (4, 8, 2)), log2_hashmap_size=3, backend=b)),
    ("log2_too_large", ValueError, r"log2_hashmap_size must be an int in \[4, 30\], got 31",
     lambda d, b: enc(x3(d), table(d), log2_hashmap_size=31, backend=b)),
    ("log2_float", ValueError, r"log2_hashmap_size must be an int in \[4, 30\], got 8\.0",
     lambda d, b: enc(x3(d), table(d), log2_hashmap_size=8.0, backend=b)),
    ("n_levels_zero", ValueError, r"n_levels must be an int in \[1, 65535\], got 0",
     lambda d, b: enc(x3(d), table(d), n_levels=0, backend=b)),
    ("base_resolution", ValueError, r"base_resolution must be a finite number >= 1\.0, got 0",
     lambda d, b: enc(x3(d), table(d), base_resolution=0, backend=b)),
    ("per_level_scale_nan", ValueError, r"per_level_scale must be a finite number >= 1\.0, got nan",
     lambda d, b: enc(x3(d), table(d), per_level_scale=float("nan"), backend=b)),
    ("per_level_scale_small", ValueError, r"per_level_scale must be a finite number >= 1\.0, got 0\.5",
     lambda d, b: enc(x3(d), table(d), per_level_scale=0.5, backend=b)),
    ("resolution_huge", ValueError, r"level 3 has resolution 16000000000 > 2\^24",
     lambda d, b: enc(x3(d), table(d), base_resolution=16, per_level_scale=1000.0, backend=b)),
    ("interpolation", ValueError, r"interpolation 'smoothstep' is not supported; only 'linear'",
     lambda d, b: enc(x3(d), table(d), interpolation="smoothstep", backend=b)),
    ("devices", ValueError, r"all tensors must be on one device",
     lambda d, b: enc(x3(d), table(other_device(d)), backend=b)),
    ("unknown_backend", ValueError, r"hash_grid_encode: unknown backend 'fast'",
     lambda d, b: enc(x3(d), table(d), backend="fast")),
    ("module_width", ValueError, r"HashGridEncoding: x must have shape \(\.\.\., 3\) \(n_input_dims=3\), got "
     r"shape \(5, 2\)", lambda d, b: nerf.HashGridEncoding(**CFG).to(d)(torch.rand(5, 2, device=d), backend=b)),
]


@pytest.mark.parametrize(("exc", "match", "call"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input(backend, device, no_kernels, exc, match, call):
    with pytest.raises(exc, match=match):
        call(device, backend)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(n_input_dims=4), r"n_input_dims must be 2 or 3, got 4"),
    (dict(n_levels=0), r"n_levels must be an int in \[1, 65535\], got 0"),
    (dict(n_features_per_level=3), r"n_features_per_level must be one of \(1, 2, 4, 8\), got 3"),
    (dict(log2_hashmap_size=31), r"log2_hashmap_size must be an int in \[4, 30\], got 31"),
    (dict(log2_hashmap_size=2), r"log2_hashmap_size must be an int in \[4, 30\], got 2"),
    (dict(per_level_scale=0.9), r"per_level_scale must be a finite number >= 1\.0, got 0\.9"),
    (dict(interpolation="nearest"), r"interpolation 'nearest' is not supported"),
])
def test_bad_module_config(kwargs, match):
    with pytest.raises(ValueError, match=f"HashGridEncoding: {match}"):
        nerf.HashGridEncoding(**{**CFG, **kwargs})


def test_bad_module_dtype():
    with pytest.raises(TypeError, match=r"HashGridEncoding: dtype must be one of float32, float16"):
        nerf.HashGridEncoding(**CFG, dtype=torch.int32)


def test_non_contiguous_inputs(backend, device):
    """Non-contiguous x and table are legal and give the contiguous result."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 20, generator=g).to(device).t()[:, :3]  # (20, 3), strided
    t = torch.randn(2, 4, 256, generator=g).to(device).permute(1, 2, 0)  # (4, 256, 2), strided
    assert not x.is_contiguous() and not t.is_contiguous()
    got = nerf.hash_grid_encode(x, t, backend=backend)
    expected = nerf.hash_grid_encode(x.contiguous(), t.contiguous(), backend="reference")
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)

"""The tiled kernel (csrc/gan/upfirdn2d.h, upfirdn2d_tile_*) at its edges: output sizes that are
not multiples of the tile, tiny images and 1x1 outputs, tiles lying wholly in the padding, large
crops, up/down 4, 1-tap and large filters, many planes per block (and a partial last group),
the StyleGAN fast paths on several tiles, and the direct fallback for filters too large for a
tile. Every case is compared with the float64 reference; the cpu launcher runs the same tile
code as the CUDA kernel (see tests/upfirdn2d/conftest.py)."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from tests.conftest import assert_close_rel
from tests.upfirdn2d._helpers import fwd_bwd, make_filter

# (name, (n, c, h, w), taps, separable, up, down, padding)
CASES = [
    ("out not a tile multiple, 1 plane", (1, 1, 37, 70), 3, False, 1, 1, [1, 1, 1, 1]),
    ("up=2 over several 64x32 tiles", (1, 2, 19, 35), 4, False, 2, 1, [2, 1, 2, 1]),
    ("down=2 odd sizes", (1, 2, 67, 45), 4, False, 1, 2, [1, 1, 2, 0]),
    ("tiny image, 1x1 input", (1, 3, 1, 1), 3, False, 1, 1, [2, 2, 1, 3]),
    ("1x1 output", (2, 2, 4, 4), 4, False, 1, 1, [0, 0, 0, 0]),
    ("1x1 output with down=4", (1, 2, 6, 5), 3, False, 1, 4, [0, -2, 1, -3]),
    ("tiles wholly in the padding", (1, 1, 5, 6), 3, False, 1, 1, [40, 3, 2, 37]),
    ("large crop", (1, 2, 50, 46), 5, False, 1, 1, [-20, -3, -7, -30]),
    ("up=4", (1, 1, 9, 13), 7, False, 4, 1, [3, 2, 1, 4]),
    ("down=4", (1, 1, 45, 70), 9, False, 1, 4, [2, 3, 4, 1]),
    ("up=4 down=4", (1, 2, 11, 17), 6, False, 4, 4, [1, 2, 3, 0]),
    ("up=4 down=2, 12 taps", (1, 1, 10, 9), 12, True, 4, 2, [5, 6, 6, 5]),
    ("1-tap", (1, 2, 33, 40), 1, False, 1, 1, [0, 0, 0, 0]),
    ("1-tap up=2", (1, 1, 20, 33), 1, False, 2, 1, [1, 0, 0, 1]),
    ("1-tap down=2 with padding", (1, 1, 35, 21), 1, False, 1, 2, [3, -1, 0, 2]),
    ("many planes, 4x4 images", (3, 50, 4, 4), 3, False, 1, 1, [1, 1, 1, 1]),
    ("many planes, up=2 to 8x8", (2, 37, 4, 4), 4, False, 2, 1, [2, 1, 2, 1]),
    ("many planes, down=2 to 2x2", (5, 13, 4, 4), 4, False, 1, 2, [1, 1, 1, 1]),
    ("asymmetric up/down", (1, 2, 21, 34), 5, False, (2, 1), (1, 4), [2, 0, 1, 3]),
    ("wide short, 1 output row", (1, 1, 2, 130), 3, False, 1, 1, [1, 1, 1, 0]),
    ("tall narrow, 1 output column", (1, 1, 100, 1), 3, False, 1, 1, [1, 0, 1, 1]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_tile_edges(kernel_backend, device, gen, case):
    """Forward and dx in float64 (dx runs the op again with up and down swapped)."""
    _, shape, taps, separable, up, down, pad = case
    f = make_filter(taps, separable, gen).to(device)
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(device)

    def run(be):
        return lambda x: gan.upfirdn2d(x, f, up=up, down=down, padding=pad, gain=1.5, backend=be)

    y, gx, dy = fwd_bwd(run(kernel_backend), x, gen=gen)
    ry, rgx, _ = fwd_bwd(run("reference"), x, dy)
    assert_close_rel(y, ry, torch.float64, case[0])
    assert_close_rel(gx, rgx, torch.float64, case[0] + " dx")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("taps, up, down", [(4, 2, 1), (4, 1, 2), (4, 1, 1), (12, 2, 1), (12, 1, 2)])
def test_fast_paths_on_many_tiles(kernel_backend, device, gen, dtype, taps, up, down):
    """The compile-time StyleGAN paths on outputs spanning several tiles with partial edge tiles
    and several planes, and on a tiny image that packs planes into one block."""
    f = gan.setup_filter(torch.rand(taps, generator=gen) + 0.1, separable=taps == 12).to(device)
    pad = [taps // 2 + up - 1, taps // 2 - 1 + up - 1, taps // 2 + up - 1, taps // 2 - 1 + up - 1]
    for shape in ((1, 3, 35, 70), (4, 20, 3, 5)):
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype).to(device)
        kw = dict(up=up, down=down, padding=pad)
        y = gan.upfirdn2d(x, f, backend=kernel_backend, **kw)
        assert_close_rel(y, gan.upfirdn2d(x.double(), f, backend="reference", **kw), dtype, f"{shape}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_filters(kernel_backend, device, gen, dtype):
    """Filters that shrink the tile below 32x32 to fit the scratch (40x40 taps in float64) and
    one too large for any tile (90x90: the direct path)."""
    acc_bytes = 8 if dtype == torch.float64 else 4
    for taps, shape, pad, tiled in ((40, (1, 2, 75, 72), [3, 5, 2, 4], True),
                                    (90, (1, 1, 70, 75), [12, 10, 15, 9], False)):
        f = torch.rand(taps, taps, generator=gen).to(device) / taps ** 2
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype).to(device)
        y = gan.upfirdn2d(x, f, padding=pad, backend=kernel_backend)
        tile = _tile(2, y.shape[2], y.shape[3], taps, taps, 1, 1, acc_bytes)
        assert (tile is not None) == tiled, tile
        if tiled and dtype == torch.float64:
            assert tile["th"] * tile["tw"] < 32 * 32, tile  # shrunk to fit 48 KB
        assert_close_rel(y, gan.upfirdn2d(x.double(), f, padding=pad, backend="reference"), dtype, f"{taps} taps")


def _tile(planes, out_h, out_w, kh, kw, up, down, acc_bytes, separable=False):
    from fastgen._ext import get_ext

    return get_ext().upfirdn2d_tile_shape(planes, out_h, out_w, kh, kw, up, up, down, down, acc_bytes, separable)


def test_tile_shapes():
    """The shapes both launchers pick: the preferred 32x32 / 64x32 tiles, planes packed when the
    output is small, the scratch within 48 KB of shared memory, shrinking for large filters, and
    None (the direct path) when even an 8x8 tile does not fit."""
    pytest.importorskip("fastgen._C")
    t = _tile(8, 256, 256, 4, 4, 2, 1, 4)  # StyleGAN upsample 128 -> 256
    assert (t["tp"], t["th"], t["tw"], t["in_th"], t["in_tw"]) == (1, 32, 64, 18, 34)
    t = _tile(8, 128, 128, 12, 12, 1, 2, 4)
    assert (t["th"], t["tw"], t["in_th"], t["in_tw"]) == (32, 32, 74, 74)
    t = _tile(512, 4, 4, 3, 3, 1, 1, 4)
    assert (t["tp"], t["th"], t["tw"]) == (64, 4, 4) and t["n_tiles"] == 8
    for args in ((1, 500, 500, 12, 12, 1, 4, 8), (1, 300, 300, 40, 40, 1, 1, 8), (64, 9, 9, 7, 7, 4, 4, 8),
                 (1000, 2, 2, 1, 1, 1, 1, 4)):
        t = _tile(*args)
        assert t["scratch_bytes"] <= t["max_scratch_bytes"] == 48 * 1024, (args, t)
        assert min(t["th"], t["tw"]) >= min(8, args[1], args[2]), (args, t)
    assert _tile(1, 300, 300, 90, 90, 1, 1, 4) is None


# (name, (n, c, h, w), taps, up, down, padding)
SEPARABLE_CASES = [
    ("12 taps down=2 over several tiles", (1, 2, 75, 70), 12, 1, 2, [5, 6, 6, 5]),
    ("12 taps up=2 over several tiles", (1, 2, 21, 37), 12, 2, 1, [6, 5, 6, 5]),
    ("4 taps up=2 many planes", (3, 30, 4, 5), 4, 2, 1, [2, 1, 2, 1]),
    ("7 taps plain filter, crop", (1, 1, 40, 36), 7, 1, 1, [-5, 3, 3, -9]),
    ("5 taps up=4 down=2", (1, 1, 9, 12), 5, 4, 2, [2, 3, 1, 0]),
    ("9 taps up=2 down=4", (1, 2, 30, 23), 9, 2, 4, [4, 4, 4, 4]),
    ("asymmetric up/down", (1, 1, 13, 22), 6, (1, 3), (2, 1), [1, 2, 0, 3]),
    ("1 tap", (1, 2, 5, 40), 1, 2, 2, [0, 1, 1, 0]),
    ("tiles wholly in the padding", (1, 1, 4, 4), 3, 1, 1, [38, 1, 2, 36]),
    ("1x1 output", (2, 3, 6, 6), 12, 1, 2, [3, 4, 4, 3]),
]


@pytest.mark.parametrize("case", SEPARABLE_CASES, ids=[c[0] for c in SEPARABLE_CASES])
def test_separable_two_pass(kernel_backend, device, gen, case):
    """1D (separable) filters, which the tiled C++ kernel applies in two passes through the
    scratch (x into an intermediate, then y): forward and dx in float64, and forward in float32;
    and the 2D filter outer(f, f) (the one-pass path) on the same case."""
    name, shape, taps, up, down, pad = case
    f = torch.rand(taps, generator=gen).to(device) + 0.1
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(device)

    def run(be, filt=f):
        return lambda x: gan.upfirdn2d(x, filt, up=up, down=down, padding=pad, gain=2.0, backend=be)

    y, gx, dy = fwd_bwd(run(kernel_backend), x, gen=gen)
    ry, rgx, _ = fwd_bwd(run("reference"), x, dy)
    assert_close_rel(y, ry, torch.float64, name)
    assert_close_rel(gx, rgx, torch.float64, name + " dx")
    f2 = torch.outer(f, f)  # rounded to float32: compare with the reference on the same taps
    assert_close_rel(run(kernel_backend, f2)(x), run("reference", f2)(x), torch.float64, name + " as 2D")
    if kernel_backend != "triton":
        assert_close_rel(run(kernel_backend)(x.float()), ry, torch.float32, name + " float32")


def test_separable_tile_shapes():
    """The two-pass scratch adds the intermediate (in_th x tw per plane) and still fits 48 KB."""
    pytest.importorskip("fastgen._C")
    t = _tile(8, 128, 128, 12, 12, 1, 2, 4, separable=True)  # StyleGAN3 downsampling, float32
    assert (t["th"], t["tw"], t["in_th"], t["in_tw"]) == (32, 32, 74, 74)
    assert t["scratch_bytes"] == (12 + 74 * 74 + 74 * 32) * 4
    t = _tile(8, 128, 128, 12, 12, 1, 2, 8, separable=True)  # float64: shrinks
    assert t["scratch_bytes"] <= 48 * 1024 and t["th"] * t["tw"] < 32 * 32

"""filtered_lrelu against the float64 reference (StyleGAN3's composition of upfirdn2d and
bias_act): up, down in {1, 2, 4}, filters of 1..12 taps, separable and 2D, bias, clamp,
padding incl. negative, flip_filter, odd sizes, batch 1; every dtype; gradients of first and
second order."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

import fastgen.gan as gan
from tests.conftest import assert_close_rel
from tests.filtered_lrelu._helpers import FACTORS, arguments, cases, fwd_bwd, image, make_filter


@pytest.mark.parametrize("up", FACTORS)
@pytest.mark.parametrize("down", FACTORS)
def test_matches_reference(kernel_backend, device, gen, up, down):
    """float64 forward, dx and db of every kernel backend = the reference, over the case grid. The
    Triton interpreter runs the first case of each (up, down) in float32: the tiled kernel, which
    float64 with a factor of 4 leaves to the direct one (tested below)."""
    backend, grid = kernel_backend, list(cases(up, down))
    dtype = torch.float32 if backend == "triton" else torch.float64
    for case in grid[:1] if backend == "triton" else grid:
        fu, fd, kw = arguments(case, up, down, gen, device)
        x = image(gen, dtype, device, n=1 + case["bias"], h=5 + case["taps_u"] % 4, w=7)
        b = torch.randn(x.shape[1], generator=gen, dtype=torch.float64).to(dtype).to(device) if case["bias"] else None

        def run(be):
            return lambda x, b: gan.filtered_lrelu(x, fu, fd, b, backend=be, **kw)

        y, gx, gb, dy = fwd_bwd(run(backend), x, b, gen=gen)
        ry, rgx, rgb, _ = fwd_bwd(run("reference"), x.double(), None if b is None else b.double(), dy)
        what = f"{case}"
        assert_close_rel(y, ry, dtype, what)
        assert_close_rel(gx, rgx, dtype, what + " dx")
        if b is not None:
            assert_close_rel(gb, rgb, dtype, what + " db")


@pytest.mark.parametrize("up,down", [(2, 2), (1, 4)])
def test_triton_direct_kernel(monkeypatch, gen, up, down):
    """The Triton fallback for windows too large for the tiled kernel, forced on small filters
    (float64, bias, clamp, 2D and separable filters), forward and backward."""
    from fastgen.ops.filtered_lrelu import triton as triton_kernels
    from tests.conftest import backend_device, skip_unless_available

    device = backend_device(skip_unless_available("triton"))
    monkeypatch.setattr(triton_kernels, "_MAX_WINDOW", 0)
    fu, fd = make_filter(3, False, gen).to(device), make_filter(2, True, gen).to(device)
    x = image(gen, torch.float64, device, n=1, c=2, h=5, w=4)
    b = torch.randn(2, generator=gen, dtype=torch.float64).to(device)
    kw = dict(up=up, down=down, padding=[1, 2, 0, 1], clamp=1.0)
    y, gx, gb, dy = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, fu, fd, b, backend="triton", **kw), x, b, gen=gen)
    ry, rgx, rgb, _ = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, fu, fd, b, backend="reference", **kw), x, b, dy)
    for got, want, what in ((y, ry, "y"), (gx, rgx, "dx"), (gb, rgb, "db")):
        assert_close_rel(got, want, torch.float64, what)


def test_output_size_is_stylegan3s(gen):
    """(H * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down rows, likewise columns."""
    for up, down, fu_taps, fd_taps, pad in ((2, 2, 12, 12, [10, 9, 11, 8]), (4, 4, 24, 24, [8, 2, 5, 0]),
                                            (1, 2, 5, 3, [0, 1, 2, 3]), (2, 4, 7, 6, [4, 4, -1, -1])):
        fu, fd = torch.ones(fu_taps), torch.ones(fd_taps)
        x = torch.randn(1, 1, 13, 10, generator=gen)
        y = gan.filtered_lrelu(x, fu, fd, up=up, down=down, padding=pad, backend="reference")
        h = (13 * up + pad[2] + pad[3] - (fu_taps - 1) - (fd_taps - 1) + down - 1) // down
        w = (10 * up + pad[0] + pad[1] - (fu_taps - 1) - (fd_taps - 1) + down - 1) // down
        assert y.shape == (1, 1, h, w)


@pytest.mark.parametrize("taps", [6, 12])
def test_stylegan3_configs(kernel_backend, device, gen, taps):
    """StyleGAN3's layer configurations (up=2/down=2 with 6- and 12-tap separable filters and
    up=1/down=1, in float32; up=4/down=4 with 24 taps on the C++ backends), odd sizes, bias."""
    backend = kernel_backend
    f = gan.setup_filter(torch.rand(taps, generator=gen) + 0.1, separable=True).to(device)
    configs = [(2, 2, f, f), (1, 1, f, f)]
    if backend != "triton":
        f4 = gan.setup_filter(torch.rand(2 * taps, generator=gen) + 0.1, separable=True).to(device)
        configs.append((4, 4, f4, f4))
    for up, down, fu, fd in configs:
        pad = (fu.shape[0] + fd.shape[0] - 2) // 2 + 1
        x = image(gen, torch.float32, device, n=2, c=3, h=9, w=6)
        b = torch.randn(3, generator=gen).to(device)
        kw = dict(up=up, down=down, padding=pad, clamp=1.5)
        y, gx, gb, dy = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, fu, fd, b, backend=backend, **kw), x, b, gen=gen)
        ry, rgx, rgb, _ = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, fu, fd, b, backend="reference", **kw),
                                  x.double(), b.double(), dy)
        for got, want, what in ((y, ry, "y"), (gx, rgx, "dx"), (gb, rgb, "db")):
            assert_close_rel(got, want, torch.float32, f"up={up} down={down} taps={taps} {what}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(backend, device, gen, dtype):
    """float16 / bfloat16 = the float64 reference on the same (rounded) inputs; outputs and
    gradients keep x's dtype."""
    f = gan.setup_filter(torch.rand(12, generator=gen) + 0.1).to(device)
    x = image(gen, dtype, device, n=2, c=2, h=7, w=8)
    b = torch.randn(2, generator=gen).to(dtype).to(device)
    kw = dict(up=2, down=2, padding=10, clamp=2.0)
    y, gx, gb, dy = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, f, f, b, backend=backend, **kw), x, b, gen=gen)
    ry, rgx, rgb, _ = fwd_bwd(lambda x, b: gan.filtered_lrelu(x, f, f, b, backend="reference", **kw),
                              x.double(), b.double(), dy)
    assert y.dtype == gx.dtype == gb.dtype == dtype
    for got, want, what in ((y, ry, "y"), (gx, rgx, "dx"), (gb, rgb, "db")):
        assert_close_rel(got, want, dtype, what)


def test_gradcheck_gradgradcheck(backend, device, gen):
    """gradcheck and gradgradcheck in float64 with respect to x and b (the reference and the
    Triton interpreter run one case: autograd's wiring is the same for all)."""
    all_cases = ((2, 2, 4, True, 3, False, 0.8), (4, 1, 5, False, 4, True, None))
    for up, down, tu, su, td, sd, clamp in all_cases if backend == "cpu" else all_cases[:1]:
        fu, fd = make_filter(tu, su, gen).to(device), make_filter(td, sd, gen).to(device)
        w = 2 if backend == "triton" else 3
        x = image(gen, torch.float64, device, n=1, c=1, h=3, w=w).requires_grad_(True)
        b = torch.randn(1, generator=gen, dtype=torch.float64).to(device).requires_grad_(True)

        def fn(x, b):
            return gan.filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=[2, 1, 1, 2], clamp=clamp,
                                      backend=backend)

        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


def test_double_backward_float32(backend, device, gen):
    """An R1-style second derivative (the gradient of a function of the gradient) in float32 =
    the float64 reference's."""
    f = gan.setup_filter(torch.rand(6, generator=gen) + 0.1, separable=True).to(device)
    x = image(gen, torch.float32, device, n=1, c=2, h=6, w=5)
    b = torch.randn(2, generator=gen).to(device)
    u = torch.randn(x.shape, generator=gen).to(device)

    def second(x, b, be):
        x = x.detach().clone().requires_grad_(True)
        b = b.detach().clone().requires_grad_(True)
        y = gan.filtered_lrelu(x, f, f, b, up=2, down=2, padding=5, backend=be)
        (gx,) = torch.autograd.grad(y.square().sum(), [x], create_graph=True)
        return torch.autograd.grad((gx * u.to(gx.dtype)).sum(), [x, b])

    got, want = second(x, b, backend), second(x.double(), b.double(), "reference")
    assert_close_rel(got[0], want[0], torch.float32, "d2x", factor=5)
    assert_close_rel(got[1], want[1], torch.float32, "d2b", factor=5)


def test_known_values():
    """Identity filters, no up/down: y = clamp(lrelu(x + b) * gain); a box filter's sums."""
    x = torch.tensor([[[[-2.0, -0.5], [1.0, 3.0]]]])
    for be in ("reference", "cpu"):
        y = gan.filtered_lrelu(x, b=torch.tensor([0.5]), gain=2.0, slope=0.25, clamp=5.0, backend=be)
        assert torch.allclose(y, torch.tensor([[[[-0.75, 0.0], [3.0, 5.0]]]]))
        box = gan.filtered_lrelu(x.abs(), fd=torch.ones(2), down=2, gain=1.0, backend=be)
        assert torch.allclose(box, torch.tensor([[[[6.5]]]]))


def test_auto_picks_cpu():
    from fastgen.backend import resolve

    assert resolve("filtered_lrelu", "auto", torch.device("cpu")) in ("cpu", "reference")
    assert math.isclose(inspect.signature(gan.filtered_lrelu).parameters["gain"].default, math.sqrt(2))

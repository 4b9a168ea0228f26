"""upfirdn2d against the float64 reference: up/down in {1, 2, 4}, filters of 1..12 taps (odd,
even, separable, 2D), asymmetric and negative padding, flip_filter, gain, odd sizes, batch 1,
every dtype; gradients of first and second order; custom-op checks."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from fastgen.ops.upfirdn2d import _library  # noqa: F401  (registers torch.ops.fastgen.upfirdn2d)
from tests.conftest import assert_close_rel
from tests.upfirdn2d._helpers import fwd_bwd, make_filter

FACTORS = (1, 2, 4)
PADDINGS = ([0, 0, 0, 0], [2, 1, 3, 0], [-1, 2, 1, -2], [3, -2, -1, 4])


def _cases(up: int, down: int):
    """(taps, separable, padding, flip_filter, gain) covering 1..12 taps across the 9 (up, down)."""
    start = 3 * FACTORS.index(up) + FACTORS.index(down)  # 0..8
    for k in range(4):
        taps = 1 + (start + 3 * k) % 12
        yield taps, k % 2 == 1, PADDINGS[(start + k) % 4], (start + k) % 3 == 0, (1.0, 2.5)[k % 2]


def _image(gen, dtype, device, n=1, c=2, h=7, w=9):
    return torch.randn(n, c, h, w, generator=gen, dtype=torch.float64).to(dtype).to(device)


@pytest.mark.parametrize("up", FACTORS)
@pytest.mark.parametrize("down", FACTORS)
def test_matches_reference(backend, device, gen, up, down):
    """float64 forward and backward of every backend = the reference, over the case grid."""
    for taps, separable, pad, flip, gain in _cases(up, down):
        f = make_filter(taps, separable, gen).to(device)
        x = _image(gen, torch.float64, device, h=7 + taps, w=9 + taps)

        def run(be):
            return lambda x: gan.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain,
                                           backend=be)

        y, gx, dy = fwd_bwd(run(backend), x, gen=gen)
        ry, rgx, _ = fwd_bwd(run("reference"), x, dy)
        what = f"taps={taps} separable={separable} pad={pad} flip={flip} gain={gain}"
        assert_close_rel(y, ry, torch.float64, what)
        assert_close_rel(gx, rgx, torch.float64, what + " dx")


@pytest.mark.parametrize("taps", [4, 12])
def test_stylegan_fast_paths(backend, device, gen, taps):
    """The compile-time specialised paths of the C++/CUDA kernels (4- and 12-tap filters, up=2,
    down=2 or plain filtering), through StyleGAN's helpers, on odd sizes and with extra padding,
    in float64 and float32."""
    f = gan.setup_filter(torch.rand(taps, generator=gen) + 0.1, separable=taps == 12).to(device)
    cases = ((gan.upsample2d, {}), (gan.downsample2d, {}), (gan.filter2d, {}),
             (gan.upsample2d, dict(padding=[1, -1, 0, 2])), (gan.downsample2d, dict(flip_filter=True)))
    dtypes = (torch.float64, torch.float32)
    if backend == "triton":  # no special paths there (every shape compiles specialised); keep it cheap
        cases, dtypes = cases[:2], dtypes[1:]
    for fn, kw in cases:
        for dtype in dtypes:
            x = _image(gen, dtype, device, h=5 + taps, w=2 + taps)
            y, gx, dy = fwd_bwd(lambda x: fn(x, f, backend=backend, **kw), x, gen=gen)
            ry, rgx, _ = fwd_bwd(lambda x: fn(x, f, backend="reference", **kw), x.double(), dy)
            assert_close_rel(y, ry, dtype, f"{fn.__name__} {kw}")
            assert_close_rel(gx, rgx, dtype, f"{fn.__name__} {kw} dx")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtypes(backend, device, gen, dtype):
    """Low precision inputs = the float64 reference on the same (rounded) inputs."""
    f4 = gan.setup_filter([1, 3, 3, 1]).to(device)
    f12 = gan.setup_filter(torch.rand(12, generator=gen) + 0.1).to(device)  # separable (>= 8 taps)
    for f, up, down, pad in ((f4, 2, 1, [2, 1, 2, 1]), (f4, 1, 2, [1, 1, 1, 1]), (f12, 2, 2, [5, 6, 6, 5]),
                             (f4, (2, 1), (1, 2), [1, 2, 3, 0])):
        x = _image(gen, dtype, device, n=2, c=1, h=11, w=8)
        kw = dict(up=up, down=down, padding=pad)
        y, gx, dy = fwd_bwd(lambda x: gan.upfirdn2d(x, f, backend=backend, **kw), x, gen=gen)
        ry, rgx, _ = fwd_bwd(lambda x: gan.upfirdn2d(x, f, backend="reference", **kw), x.double(), dy)
        assert y.dtype == dtype and gx.dtype == dtype
        assert_close_rel(y, ry, dtype, f"up={up} down={down}")
        assert_close_rel(gx, rgx, dtype, f"up={up} down={down} dx")


def test_gradcheck_gradgradcheck(backend, device, gen):
    """gradcheck and gradgradcheck in float64 (the op is linear: its backward is itself). The
    Triton interpreter runs one case: the wiring is the same for all, test_matches_reference
    covers the rest."""
    cases = ((3, True, 2, 1, [2, 1, 2, 0]), (3, False, 1, 2, [1, 0, -1, 2]), (5, False, (1, 2), (2, 1), [0, 3, 2, 0]))
    for taps, separable, up, down, pad in cases[:1] if backend == "triton" else cases:
        f = make_filter(taps, separable, gen).to(device)
        x = _image(gen, torch.float64, device, c=1, h=4, w=5).requires_grad_(True)

        def fn(x):
            return gan.upfirdn2d(x, f, up=up, down=down, padding=pad, gain=1.5, backend=backend)

        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_double_backward_float32(backend, device, gen):
    """R1-style second derivative through a nonlinearity in float32 = the float64 reference."""
    f = gan.setup_filter([1, 3, 3, 1]).to(device)
    x = _image(gen, torch.float32, device, n=2, c=3, h=6, w=5)
    u = torch.randn(x.shape, generator=gen).to(device)

    def second(x, be):
        x = x.detach().clone().requires_grad_(True)
        y = gan.upsample2d(x, f, backend=be)
        z = gan.downsample2d(y.square(), f, backend=be)  # square: the gradient depends on x
        (gx,) = torch.autograd.grad(z.sum(), [x], create_graph=True)
        return torch.autograd.grad((gx * u.to(gx.dtype)).sum(), [x])[0]

    assert_close_rel(second(x, backend), second(x.double(), "reference"), torch.float32, "d2x", factor=5)


def test_opcheck(kernel_backend, device, gen):
    """torch.library.opcheck on fastgen::upfirdn2d (schema, fake tensors, autograd)."""
    x = _image(gen, torch.float32, device, c=2, h=5, w=7).requires_grad_(True)
    k = torch.rand(3, 4, generator=gen).to(device)
    for args in ((2, 2, 1, 1, 2, 1, 1, 2), (1, 2, 2, 1, -1, 0, 3, 1)):
        torch.library.opcheck(torch.ops.fastgen.upfirdn2d.default, (x, k, *args, kernel_backend))


def test_stylegan_identities(gen):
    """Known values: the identity filter, zero insertion, and a box filter's sums."""
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    assert torch.equal(gan.upfirdn2d(x, None, backend="reference"), x)
    up = gan.upfirdn2d(x, None, up=2, backend="reference")
    assert up.shape == (1, 1, 6, 8) and torch.equal(up[..., ::2, ::2], x) and float(up[..., 1::2, :].abs().sum()) == 0
    crop = gan.upfirdn2d(x, None, padding=[-1, 0, 0, -1], backend="reference")
    assert torch.equal(crop, x[..., :2, 1:])
    box = gan.upfirdn2d(x, torch.ones(2), down=2, backend="reference")  # separable 2x2 sums
    assert torch.equal(box, torch.tensor([[[[10.0, 18.0]]]]))


def test_cpu_tensors_run_the_reference():
    """No "cpu" backend is registered (the reference is faster on CPU): auto picks the reference."""
    from fastgen.backend import BackendUnavailableError, resolve

    for op in ("upfirdn2d", "upsample2d", "conv2d_resample"):
        assert resolve(op, "auto", torch.device("cpu")) == "reference"
    with pytest.raises(BackendUnavailableError, match="does not implement this op"):
        gan.upfirdn2d(torch.zeros(1, 1, 4, 4), None, backend="cpu")

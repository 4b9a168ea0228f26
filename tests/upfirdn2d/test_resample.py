"""setup_filter, filter2d / upsample2d / downsample2d (StyleGAN's padding conventions) and
conv2d_resample against its definition, with first and second derivatives."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from fastgen.compat.stylegan import conv2d_resample as sg_conv2d_resample
from fastgen.compat.stylegan import upfirdn2d as sg_upfirdn2d
from tests.conftest import assert_close_rel


def test_setup_filter():
    f = gan.setup_filter([1, 3, 3, 1])
    assert f.dtype == torch.float32 and f.shape == (4, 4)
    assert torch.allclose(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    assert gan.setup_filter([1, 3, 3, 1], separable=True).shape == (4,)
    sep = gan.setup_filter(torch.arange(1.0, 9.0))  # >= 8 taps: separable by default
    assert sep.shape == (8,) and torch.allclose(sep.sum(), torch.tensor(1.0))
    assert torch.allclose(gan.setup_filter([1, 3, 3, 1], gain=4).sum(), torch.tensor(4.0))
    assert torch.allclose(gan.setup_filter([1, 3, 3, 1], separable=True, gain=4).sum(), torch.tensor(2.0))
    assert torch.equal(gan.setup_filter([1, 2, 3], normalize=False, flip_filter=True, separable=True),
                       torch.tensor([3.0, 2, 1]))
    assert gan.setup_filter(None).shape == (1, 1)
    with pytest.raises(ValueError, match="setup_filter: f must be a number or non-empty 1D/2D taps"):
        gan.setup_filter(torch.zeros(2, 2, 2))


@pytest.mark.parametrize("taps, separable", [(4, False), (3, False), (12, True), (1, False)])
def test_resampling_helpers(backend, device, gen, taps, separable):
    """filter2d keeps the size, upsample2d doubles it, downsample2d halves it (plus padding), and
    every backend matches the reference."""
    f = gan.setup_filter(torch.rand(taps, generator=gen) + 0.1, separable=separable).to(device)
    x = torch.randn(1, 2, 8, 6, generator=gen, dtype=torch.float64).to(device)
    for fn, kw, size in ((gan.filter2d, {}, (8, 6)), (gan.upsample2d, {}, (16, 12)),
                         (gan.downsample2d, {}, (4, 3)), (gan.upsample2d, dict(up=(4, 2)), (16, 24)),
                         (gan.filter2d, dict(padding=[1, 0, 0, 2]), (10, 7))):
        y = fn(x, f, backend=backend, **kw)
        assert y.shape[2:] == size, (fn.__name__, kw)
        assert_close_rel(y, fn(x, f, backend="reference", **kw), torch.float64, f"{fn.__name__} {kw}")
    if taps == 1:  # [1] is no interpolation filter: upsampling by it leaves the inserted zeros
        return
    # A normalized interpolation filter keeps a constant image constant away from the borders.
    f = gan.setup_filter({3: [1, 2, 1], 4: [1, 3, 3, 1], 12: [1] * 12}[taps], separable=separable).to(device)
    ones = torch.ones(1, 1, 12, 12, dtype=torch.float64, device=device)
    inner = slice(taps, -taps)
    for fn in (gan.upsample2d, gan.downsample2d, gan.filter2d):
        y = fn(ones, f, backend=backend)
        assert torch.allclose(y[..., inner, inner], torch.ones_like(y[..., inner, inner])), fn.__name__


# (kernel size, up, down, padding, groups, flip_weight, flip_filter, filter taps)
CONV_CASES = [
    (3, 2, 1, 1, 1, True, False, [1, 3, 3, 1]),
    (3, 1, 2, 1, 1, True, False, [1, 3, 3, 1]),
    (1, 2, 1, 0, 1, False, False, [1, 3, 3, 1]),
    (1, 1, 2, 0, 2, True, True, [1, 2, 1]),
    (3, 1, 1, [1, 0, 2, -1], 2, False, False, None),
    (3, 1, 1, 1, 1, True, False, None),
    (4, 2, 2, [0, 1, 1, 0], 1, False, True, [1, 3, 3, 1]),
    (3, 4, 1, 1, 1, True, False, [1, 2, 3, 2, 1]),
    (2, 1, 4, 0, 1, True, False, [1, 1, 1, 1, 1, 1, 1, 1]),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_resample(backend, device, gen, case):
    """The fused paths of every backend = the definition (upsample, conv, downsample), forward
    and gradients with respect to x and w, in float64."""
    k, up, down, padding, groups, flip_weight, flip_filter, taps = case
    f = None if taps is None else gan.setup_filter(taps).to(device)
    x = torch.randn(2, 4, 7, 6, generator=gen, dtype=torch.float64).to(device)
    w = torch.randn(6, 4 // groups, k, k, generator=gen, dtype=torch.float64).to(device)
    kw = dict(f=f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight,
              flip_filter=flip_filter)

    def run(be):
        def fn(xw):
            return gan.conv2d_resample(xw[0], xw[1], backend=be, **kw)
        return fn

    outs = {}
    for be in (backend, "reference"):
        leaves = [x.clone().requires_grad_(True), w.clone().requires_grad_(True)]
        y = run(be)(leaves)
        if be == backend:
            dy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(device)
        outs[be] = (y, *torch.autograd.grad((y * dy).sum(), leaves))
    for got, want, name in zip(outs[backend], outs["reference"], ("y", "dx", "dw")):
        assert_close_rel(got, want, torch.float64, f"case {case} {name}")


def test_conv2d_resample_double_backward(backend, device, gen):
    """R1 through an upsampling conv, a nonlinearity and a downsampling conv, in float32."""
    f = gan.setup_filter([1, 3, 3, 1]).to(device)
    x = torch.randn(1, 2, 5, 5, generator=gen).to(device)
    w1 = torch.randn(3, 2, 3, 3, generator=gen).to(device)
    w2 = torch.randn(2, 3, 3, 3, generator=gen).to(device)

    def r1(x, w1, w2, be):
        x = x.detach().clone().requires_grad_(True)
        w1 = w1.detach().clone().requires_grad_(True)
        h = gan.conv2d_resample(x, w1, f, up=2, padding=1, backend=be)
        h = gan.bias_act(h, None, act="lrelu", backend="reference")
        y = gan.conv2d_resample(h, w2, f, down=2, padding=1, backend=be)
        (gx,) = torch.autograd.grad(y.sum(), [x], create_graph=True)
        return torch.autograd.grad(gx.square().sum(), [w1])[0]

    want = r1(x.double(), w1.double(), w2.double(), "reference")
    assert_close_rel(r1(x, w1, w2, backend), want, torch.float32, "d(|dx|^2)/dw1", factor=5)


def test_stylegan_compat_modules(gen):
    """StyleGAN's module names and signatures, impl='ref' / 'cuda', private helpers."""
    f = sg_upfirdn2d.setup_filter([1, 3, 3, 1])
    x = torch.randn(1, 3, 6, 6, generator=gen)
    want = gan.upsample2d(x, f, backend="reference")
    assert_close_rel(sg_upfirdn2d.upsample2d(x, f, impl="ref"), want, torch.float32)
    assert_close_rel(sg_upfirdn2d.upsample2d(x, f), want, torch.float32)
    assert sg_upfirdn2d._parse_padding([1, 2]) == [1, 1, 2, 2]
    assert sg_upfirdn2d._parse_scaling(2) == [2, 2]
    assert sg_upfirdn2d._get_filter_size(f) == (4, 4)
    w = torch.randn(4, 3, 3, 3, generator=gen)
    y = sg_conv2d_resample.conv2d_resample(x, w, f, up=2, padding=1)
    assert_close_rel(y, gan.conv2d_resample(x, w, f, up=2, padding=1, backend="reference"), torch.float32)
    with pytest.raises(ValueError, match="impl must be 'cuda' or 'ref'"):
        sg_upfirdn2d.filter2d(x, f, impl="triton")


@pytest.mark.slow
def test_compile_fullgraph(kernel_backend, device, gen):
    """upsample2d + conv2d_resample, forward and backward, under torch.compile(fullgraph=True)."""
    torch._dynamo.reset()
    f = gan.setup_filter([1, 3, 3, 1]).to(device)
    w = torch.randn(3, 2, 3, 3, generator=gen).to(device)

    def fn(x):
        y = gan.upsample2d(x, f, backend=kernel_backend)
        return gan.conv2d_resample(y, w, f, down=2, padding=1, backend=kernel_backend)

    x = torch.randn(1, 2, 5, 6, generator=gen).to(device)
    xe, xc = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ye, yc = fn(xe), torch.compile(fn, fullgraph=True)(xc)
    assert_close_rel(yc, ye, torch.float32, "compiled output")
    (ge,), (gc,) = torch.autograd.grad(ye.square().sum(), [xe]), torch.autograd.grad(yc.square().sum(), [xc])
    assert_close_rel(gc, ge, torch.float32, "compiled grad")

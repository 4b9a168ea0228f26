"""modulated_conv2d: fused == non-fused == the grouped-convolution definition on the reference,
and the triton / cuda backends == the reference, forward and backward, over up/down, demodulation, batch
sizes, input gain, noise and the grouped-conv edge cases (one input or output channel, odd sizes)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastgen.gan as gan
from tests.conftest import assert_close_rel
from tests.modconv._helpers import fir, grads_of, make_inputs

# (n, i, o, h, w, k): batch 1 and 4, one input / output channel, odd sizes, 1x1 and 3x3 kernels.
SHAPES = [(1, 3, 5, 7, 6, 3), (4, 2, 3, 5, 5, 3), (2, 1, 4, 6, 5, 3), (3, 4, 1, 5, 7, 1)]
RESAMPLE = [(1, 1), (2, 1), (1, 2)]


def _args(gen, shape, up, down, device="cpu", dtype=torch.float64, noise=True):
    n, i, o, h, w, k = shape
    inputs = make_inputs(gen, n, i, o, h, w, k, dtype, device, up=up, down=down, noise=noise, bias=False)
    del inputs["bias"]
    kw = dict(up=up, down=down, padding=k // 2, resample_filter=fir(device) if up > 1 or down > 1 else None)
    return inputs, kw


def _explicit(x, weight, styles, demodulate):
    """The definition written out, 1x1-kernel up=down=1 only: y[n, o] = sum_i w[o, i] s[n, i] d[n, o] x[n, i]."""
    w = weight[None, :, :, 0, 0] * styles[:, None, :]
    if demodulate:
        w = w * (w.square().sum(-1, keepdim=True) + 1e-8).rsqrt()
    return torch.einsum("noi,nihw->nohw", w, x)


@pytest.mark.parametrize("up, down", RESAMPLE)
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_equals_non_fused(gen, up, down, demodulate):
    """The two reference formulations agree in float64 (and with a grouped conv's explicit sum)."""
    for shape in SHAPES:
        inputs, kw = _args(gen, shape, up, down)
        gain = torch.rand(shape[0], shape[1], generator=gen, dtype=torch.float64) + 0.5
        ys = [gan.modulated_conv2d(**inputs, **kw, demodulate=demodulate, fused_modconv=fused, input_gain=gain,
                                   backend="reference") for fused in (True, False)]
        assert_close_rel(ys[1], ys[0], torch.float64, f"{shape} up={up} down={down}")
        if shape[-1] == 1 and up == down == 1:
            want = _explicit(inputs["x"] * gain[:, :, None, None], inputs["weight"], inputs["styles"], demodulate)
            assert_close_rel(ys[0], want + inputs["noise"], torch.float64, "explicit")


@pytest.mark.parametrize("up, down", RESAMPLE)
def test_backend_matches_reference(modconv_backend, mdevice, gen, up, down):
    """Every backend = the float64 reference (fused), forward and first derivatives, with and
    without demodulation, with input_gain (fewer cases under the slow Triton interpreter)."""
    cases = [(shape, demod) for shape in SHAPES[:3] for demod in (True, False)]
    if modconv_backend == "triton":
        cases = cases[::3] if up == down == 1 else cases[:1]
    for shape, demodulate in cases:
        inputs, kw = _args(gen, shape, up, down)
        gain = torch.rand(shape[0], 1, generator=gen, dtype=torch.float64) + 0.5
        y_ref = gan.modulated_conv2d(**inputs, **kw, demodulate=demodulate, input_gain=gain, backend="reference")
        dy, g_ref = grads_of(y_ref, inputs.values(), gen)
        dev = {k: v.detach().to(mdevice).requires_grad_(True) for k, v in inputs.items()}
        kw_dev = dict(kw, resample_filter=None if kw["resample_filter"] is None else fir(mdevice))
        y = gan.modulated_conv2d(**dev, **kw_dev, demodulate=demodulate, input_gain=gain.to(mdevice),
                                 fused_modconv=False, backend=modconv_backend)
        got = torch.autograd.grad((y.double() * dy.to(mdevice)).sum(), list(dev.values()))
        what = f"{shape} up={up} down={down} demod={demodulate}"
        assert_close_rel(y, y_ref, torch.float64, what)
        for g, r, name in zip(got, g_ref, dev):
            if name == "styles" and demodulate and shape[1] == 1:
                # one input channel: demodulation cancels the style (up to eps), the gradient is
                # ~0 and its relative error meaningless
                assert float(g.abs().max()) < 1e-5 and float(r.abs().max()) < 1e-5
                continue
            assert_close_rel(g, r, torch.float64, f"{what} d{name}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_low_precision(modconv_backend, mdevice, gen, dtype):
    """float32 / float16 x (float32 weight and styles, as StyleGAN2's layers keep them) = the
    float64 reference; float16 runs the overflow guard, whose scales demodulation cancels."""
    inputs, kw = _args(gen, (2, 5, 4, 6, 7, 3), 1, 1, noise=False)
    y_ref = gan.modulated_conv2d(**inputs, **kw, backend="reference")
    x = inputs["x"].detach().to(dtype).to(mdevice)
    w, s = (inputs[k].detach().float().to(mdevice) for k in ("weight", "styles"))
    for fused in (True, False):
        y = gan.modulated_conv2d(x, w * 1e3, s * 1e2, **kw, fused_modconv=fused, backend=modconv_backend)
        assert y.dtype == dtype
        assert_close_rel(y, y_ref, dtype, f"fused={fused}", factor=2)


def test_float16_guard_matters(gen):
    """Without the guard, float16 modulated weights of large weights and styles overflow; with it
    the result is finite and right (the guard is on exactly when x is float16 and demodulating)."""
    inputs, kw = _args(gen, (2, 8, 4, 5, 5, 3), 1, 1, noise=False)
    w, s = inputs["weight"].detach() * 300, inputs["styles"].detach() * 300
    y_ref = gan.modulated_conv2d(inputs["x"].detach(), w, s, **kw, backend="reference")
    y = gan.modulated_conv2d(inputs["x"].detach().half(), w.half(), s.half(), **kw, backend="reference")
    assert_close_rel(y, y_ref, torch.float16, "guarded", factor=2)
    # Unguarded (the same formula without the rescaling): (300 * 300)^2 * 72 overflows float16.
    wm = w.half()[None] * s.half()[:, None, :, None, None]
    assert not torch.isfinite(wm.square().sum([2, 3, 4])).all()


def test_unfused_matches_grouped_conv2d(gen):
    """fused_modconv=True is one grouped F.conv2d over batch x out-channel groups."""
    inputs, kw = _args(gen, (3, 2, 4, 5, 6, 3), 1, 1, noise=False)
    x, w, s = (inputs[k].detach() for k in ("x", "weight", "styles"))
    y = gan.modulated_conv2d(x, w, s, padding=1, demodulate=False, backend="reference")
    ws = (w[None] * s[:, None, :, None, None]).reshape(-1, 2, 3, 3)
    want = F.conv2d(x.reshape(1, -1, 5, 6), ws, padding=1, groups=3).reshape(3, 4, 5, 6)
    assert_close_rel(y, want, torch.float64)

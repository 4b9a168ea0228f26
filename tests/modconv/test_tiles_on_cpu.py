"""The cuda backend's tile code (csrc/modconv/modconv.h) run on the CPU: the extension's CPU
launchers execute the same __host__ __device__ tiles, staging and micro-tile products the GPU
kernels do, with one "thread" per tile. Each pass of fastgen/ops/modconv/native.py is compared
with the float64 reference (ragged channel counts that cross the 16-channel K step and the
64-channel tile, ragged pixel counts, every activation, clamp, noise, up / down = 2), then the
whole modconv_block / modulated_conv2d composition runs on those passes, forward and backward.

No ``cpu`` backend is registered for modconv (torch's oneDNN convolution is faster), so these
tests call the native module directly; on a GPU the parametrised files run ``cuda`` itself."""
from __future__ import annotations

import types

import pytest
import torch

import fastgen.gan as gan
import fastgen.ops.modconv as M
from fastgen._ext import ext_reason
from fastgen.ops import upfirdn2d as U
from fastgen.ops.bias_act import ACTIVATIONS
from fastgen.ops.modconv import native, reference
from tests.conftest import assert_close_rel
from tests.modconv._helpers import detached, fir, grads_of, make_inputs, path_length_grads

pytestmark = pytest.mark.skipif(ext_reason() is not None, reason=f"fastgen._C unavailable: {ext_reason()}")

F64 = torch.float64


def _rnd(gen, *shape, shift=0.0):
    return torch.randn(*shape, generator=gen, dtype=F64) + shift


def _problem(gen, n, ci, co, h, w, k, up, down):
    """x, wk, pre, post and the convolution geometry (pad, out size) of a 'same' layer."""
    pad = k // 2
    oh, ow = (h * up + 2 * pad - k) // down + 1, (w * up + 2 * pad - k) // down + 1
    return (_rnd(gen, n, ci, h, w), _rnd(gen, k, k, ci, co), _rnd(gen, n, ci, shift=1.0).abs(),
            _rnd(gen, n, co).abs() + 0.5, pad, oh, ow)


GEOMETRY = [(2, 19, 67, 5, 7, 3, 1, 1), (1, 5, 3, 9, 4, 3, 2, 1), (2, 17, 6, 7, 6, 3, 1, 2), (1, 3, 2, 4, 5, 1, 2, 1),
            (1, 2, 3, 3, 3, 4, 2, 1)]


@pytest.mark.parametrize("n,ci,co,h,w,k,up,down", GEOMETRY)
def test_conv_and_dx_reduction(gen, n, ci, co, h, w, k, up, down):
    """Epilogue 0: y = conv(x * pre, wk) * post and red_out = sum_p conv(x * pre, wk) * red."""
    x, wk, pre, post, pad, oh, ow = _problem(gen, n, ci, co, h, w, k, up, down)
    red = _rnd(gen, n, co, oh, ow)
    y, r = native.conv(x, wk, pre, post, up, down, pad, pad, oh, ow, red=red)
    c = reference.conv(x, wk, pre, up, down, pad, pad, oh, ow)
    assert_close_rel(y, c * post[:, :, None, None], F64, "y")
    assert_close_rel(r, (c * red).sum([2, 3]), F64, "red_out")
    y1, r1 = native.conv(x, wk, None, None, up, down, pad, pad, oh, ow)
    assert r1 is None
    assert_close_rel(y1, reference.conv(x, wk, None, up, down, pad, pad, oh, ow), F64, "no scales")


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("up", [1, 2])
def test_block_every_activation(gen, act, up):
    """Epilogue 1 (noise + bias + act + gain + clamp) and the saved raw convolution; the
    stand-alone epilogue pass on that c gives the same y."""
    n, ci, co, h, w = 2, 18, 5, 5, 6
    x, wk, pre, post, pad, oh, ow = _problem(gen, n, ci, co, h, w, 3, up, 1)
    spec = ACTIVATIONS[act]
    for clamp, noise in ((-1.0, _rnd(gen, n, 1, oh, ow)), (0.5, _rnd(gen, 1, co, oh, ow)), (0.5, None)):
        bias = _rnd(gen, co)
        args = (post, noise, bias)
        y, c = native.conv_block(x, wk, pre, *args, up, 1, pad, pad, oh, ow, spec.code, spec.alpha, 1.3, clamp, True)
        want = reference.block(x, wk, pre, *args, up, 1, pad, pad, oh, ow, act, spec.alpha, 1.3, clamp)
        what = f"{act} clamp={clamp} noise={None if noise is None else tuple(noise.shape)}"
        assert_close_rel(y, want, F64, what)
        assert_close_rel(c, reference.conv(x, wk, pre, up, 1, pad, pad, oh, ow), F64, what + " c")
        assert_close_rel(native.epilogue(c, *args, spec.code, spec.alpha, 1.3, clamp), want, F64, what + " epilogue")
        if clamp >= 0:
            assert float(y.abs().max()) <= clamp


@pytest.mark.parametrize("act", ["lrelu", "swish", "selu", "tanh"])
def test_epilogue_grad(gen, act):
    """dz, d post and d bias of the epilogue = autograd of the reference epilogue."""
    spec = ACTIVATIONS[act]
    c, post, noise, bias = _rnd(gen, 2, 3, 7, 5), _rnd(gen, 2, 3) + 1, _rnd(gen, 2, 1, 7, 5), _rnd(gen, 3)
    dy = _rnd(gen, 2, 3, 7, 5)
    for clamp in (-1.0, 0.6):
        dz, dpost, dbias = native.epilogue_grad(dy, c, post, noise, bias, spec.code, spec.alpha, 1.2, clamp)
        leaves = [t.clone().requires_grad_(True) for t in (c, post, bias)]
        y = reference.epilogue(leaves[0], leaves[1], noise, leaves[2], act, spec.alpha, 1.2, clamp)
        dc, dp, db = torch.autograd.grad(y, leaves, dy)
        assert_close_rel(dz * post[:, :, None, None], dc, F64, f"{act} clamp={clamp} dc")
        assert_close_rel(dpost, dp, F64, f"{act} clamp={clamp} dpost")
        assert_close_rel(dbias, db, F64, f"{act} clamp={clamp} dbias")


@pytest.mark.parametrize("n,ci,co,h,w,k,up,down", GEOMETRY)
def test_dweight(gen, n, ci, co, h, w, k, up, down):
    """d wk of <g * g_scale, conv(x * pre, wk)> = autograd of the reference convolution."""
    x, wk, pre, gs, pad, oh, ow = _problem(gen, n, ci, co, h, w, k, up, down)
    g = _rnd(gen, n, co, oh, ow)
    leaf = wk.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(reference.conv(x, leaf, pre, up, down, pad, pad, oh, ow), leaf,
                                  g * gs[:, :, None, None])
    assert_close_rel(native.dweight(x, pre, g, gs, up, down, pad, pad, k, k), want, F64, "dwk")
    (want,) = torch.autograd.grad(reference.conv(x, leaf, None, up, down, pad, pad, oh, ow), leaf, g)
    assert_close_rel(native.dweight(x, None, g, None, up, down, pad, pad, k, k), want, F64, "dwk without scales")


def test_float32_widened_half(gen):
    """float32 and float16 storage (widened on the CPU) against float64, forward."""
    x, wk, pre, post, pad, oh, ow = _problem(gen, 2, 20, 9, 6, 6, 3, 1, 1)
    want = reference.conv(x, wk, pre, 1, 1, pad, pad, oh, ow) * post[:, :, None, None]
    for dtype in (torch.float32, torch.float16):
        y, _ = native.conv(x.to(dtype), wk.to(dtype), pre.float(), post.float(), 1, 1, pad, pad, oh, ow)
        assert y.dtype == dtype
        assert_close_rel(y, want, dtype, str(dtype), factor=2)


@pytest.fixture
def native_on_cpu(monkeypatch):
    """The public ops with their kernel passes on native.py's CPU launchers: the backend choice
    returns "cuda" (whose kernel module is native.py) and the FIR of the resampling paths runs
    on the reference (upfirdn2d has no cpu backend)."""
    monkeypatch.setattr(M, "_backend", lambda op, backend, x, up, down: "cuda")
    shim = types.SimpleNamespace(**{k: getattr(U, k) for k in ("filter_size", "_check_filter")})
    shim.upfirdn2d = lambda *a, backend, **kw: U.upfirdn2d(*a, backend="reference", **kw)
    monkeypatch.setattr(M, "U", shim)


@pytest.mark.parametrize("up", [1, 2])
def test_block_forward_backward(native_on_cpu, gen, up):
    """modconv_block on the native passes = the float64 reference: forward, every gradient, and the
    path-length step's second derivatives."""
    f = fir() if up > 1 else None
    inputs = make_inputs(gen, 2, 17, 5, 5, 4, up=up)
    kw = dict(up=up, resample_filter=f, act="lrelu", gain=0.8, clamp=0.4)
    y_ref = gan.modconv_block(**inputs, backend="reference", **kw)
    dy, g_ref = grads_of(y_ref, inputs.values(), gen)
    dev = detached(inputs)
    y = gan.modconv_block(**dev, backend="auto", **kw)
    assert_close_rel(y, y_ref, F64, "y")
    got = torch.autograd.grad((y * dy).sum(), list(dev.values()))
    for g, r, name in zip(got, g_ref, dev):
        assert_close_rel(g, r, F64, f"up={up} d{name}")
    # the path-length step: the native forward, then the differentiable composition's gradients
    pl_noise = torch.randn(y_ref.shape, generator=gen, dtype=F64)
    _, pl_ref, gg_ref = path_length_grads(lambda **t: gan.modconv_block(**t, backend="reference", **kw), inputs,
                                          pl_noise)
    _, pl, gg = path_length_grads(lambda **t: gan.modconv_block(**t, backend="auto", **kw), dev, pl_noise)
    assert_close_rel(pl, pl_ref, F64, f"up={up} path-length grad")
    for g, r, name in zip(gg, gg_ref, dev):
        assert_close_rel(g, r, F64, f"up={up} d2{name}")


def test_modulated_conv2d_down_and_gradcheck(native_on_cpu, gen):
    """modulated_conv2d with down = 2 and input_gain on the native passes; gradcheck of the
    hand-written backward at up = 1."""
    inputs = make_inputs(gen, 2, 4, 3, 8, 7, bias=False, noise=False)
    inputs.pop("bias")
    inputs.pop("noise")
    gain_in = torch.rand(2, 4, generator=gen, dtype=F64) + 0.5
    kw = dict(down=2, padding=1, resample_filter=fir(), input_gain=gain_in)
    y_ref = gan.modulated_conv2d(**inputs, backend="reference", **kw)
    dy, g_ref = grads_of(y_ref, inputs.values(), gen)
    dev = detached(inputs)
    y = gan.modulated_conv2d(**dev, backend="auto", **kw)
    assert_close_rel(y, y_ref, F64, "y")
    for g, r, name in zip(torch.autograd.grad((y * dy).sum(), list(dev.values())), g_ref, dev):
        assert_close_rel(g, r, F64, f"d{name}")
    small = make_inputs(gen, 1, 3, 2, 3, 4)
    names = list(small)

    def fn(*tensors):
        return gan.modconv_block(**dict(zip(names, tensors)), act="swish", clamp=0.7)

    assert torch.autograd.gradcheck(fn, tuple(small.values()), fast_mode=True)

"""modconv_block: forward, backward and the path-length double backward of every backend against
the float64 reference composition (modulated_conv2d + bias_act), up = 1 and 2; gradcheck and
gradgradcheck in float64; opcheck of the custom ops; torch.compile(fullgraph=True)."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from fastgen.ops.modconv import _library  # noqa: F401  (registers torch.ops.fastgen.modconv_*)
from tests.conftest import assert_close_rel
from tests.modconv._helpers import detached, fir, grads_of, make_inputs, path_length_grads


def _layer(up, device, **kw):
    f = fir(device) if up > 1 else None
    return lambda **inp: gan.modconv_block(**inp, up=up, resample_filter=f, **kw)


@pytest.mark.parametrize("up", [1, 2])
def test_forward_backward_double_backward(modconv_backend, mdevice, gen, up):
    """y, the first derivatives and the path-length step's second derivatives = the reference."""
    cases = ((2, 3, 5, 5, 6, "lrelu", 0.8), (1, 2, 1, 4, 3, "swish", None))
    # up=2 under the (slow) Triton interpreter: the smaller case only
    for n, i, o, h, w, act, clamp in cases[1:] if up > 1 and modconv_backend == "triton" else cases:
        inputs = make_inputs(gen, n, i, o, h, w, up=up)
        kw = dict(act=act, clamp=clamp, gain=0.7)
        y_ref = _layer(up, "cpu", backend="reference", **kw)(**inputs)
        dy, g_ref = grads_of(y_ref, inputs.values(), gen)
        pl_noise = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64)
        _, pl_ref, gg_ref = path_length_grads(_layer(up, "cpu", backend="reference", **kw), inputs, pl_noise)
        dev = detached(inputs, device=mdevice)
        fn = _layer(up, mdevice, backend=modconv_backend, **kw)
        y = fn(**dev)
        got = torch.autograd.grad((y.double() * dy.to(mdevice)).sum(), list(dev.values()))
        what = f"up={up} {act} clamp={clamp} n={n} i={i} o={o}"
        assert_close_rel(y, y_ref, torch.float64, what)
        for g, r, name in zip(got, g_ref, dev):
            assert_close_rel(g, r, torch.float64, f"{what} d{name}")
        _, pl, gg = path_length_grads(fn, dev, pl_noise.to(mdevice))
        assert_close_rel(pl, pl_ref, torch.float64, f"{what} path-length grad")
        for g, r, name in zip(gg, gg_ref, dev):
            assert_close_rel(g, r, torch.float64, f"{what} d2{name}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_low_precision(modconv_backend, mdevice, gen, dtype):
    """float32 / float16 activations with float32 parameters = the float64 reference, fwd + bwd."""
    inputs = make_inputs(gen, 2, 5, 4, 6, 5)
    y_ref = _layer(1, "cpu", backend="reference")(**inputs)
    dy, g_ref = grads_of(y_ref, [inputs["x"], inputs["weight"]], gen)
    dev = detached(inputs, device=mdevice)
    dev["x"] = dev["x"].detach().to(dtype).requires_grad_(True)
    for k in ("weight", "styles", "bias"):
        dev[k] = dev[k].detach().float().requires_grad_(True)
    dev["noise"] = dev["noise"].detach().to(dtype)
    y = _layer(1, mdevice, backend=modconv_backend)(**dev)
    assert y.dtype == dtype
    got = torch.autograd.grad((y.double() * dy.to(mdevice)).sum(), [dev["x"], dev["weight"]])
    assert_close_rel(y, y_ref, dtype, "y", factor=2)
    for g, r, name in zip(got, g_ref, ("dx", "dweight")):
        assert_close_rel(g, r, dtype, name, factor=3)


def test_gradcheck_gradgradcheck(modconv_backend, mdevice, gen):
    """torch.autograd.gradcheck / gradgradcheck in float64 (tiny: finite differences)."""
    # Under the Triton interpreter: up=1 only. The kernel backends' double backward is the
    # reference's, compared with it in test_forward_backward_double_backward.
    for up in (1,) if modconv_backend == "triton" else (1, 2):
        inputs = make_inputs(gen, 1, 2, 1, 3, 2, device=mdevice, up=up)
        names = list(inputs)
        fn = _layer(up, mdevice, act="swish", backend=modconv_backend)

        def f(*tensors):
            return fn(**dict(zip(names, tensors)))

        # fast mode (random projections of the Jacobians): full Jacobians take minutes under the
        # Triton interpreter; the element-wise comparisons above cover the rest.
        assert torch.autograd.gradcheck(f, tuple(inputs.values()), fast_mode=True)
        if modconv_backend == "reference":
            assert torch.autograd.gradgradcheck(f, tuple(inputs.values()), fast_mode=True)


def test_no_bias_no_noise_linear(modconv_backend, mdevice, gen):
    inputs = make_inputs(gen, 2, 3, 4, 5, 5, bias=False, noise=False, device=mdevice)
    for demodulate in (True, False):
        y = gan.modconv_block(**inputs, act="linear", demodulate=demodulate, backend=modconv_backend)
        want = gan.modulated_conv2d(**{k: v for k, v in inputs.items() if k not in ("bias", "noise")}, padding=1,
                                    demodulate=demodulate, backend="reference")
        assert_close_rel(y, want, torch.float64)


def _op_args(gen, device, backend):
    inputs = make_inputs(gen, 1, 2, 2, 3, 3, device=device)
    x, w, s, b, noise = (inputs[k].detach() for k in ("x", "weight", "styles", "bias", "noise"))
    wk = w.permute(2, 3, 1, 0).contiguous()
    post = torch.rand(1, 2, generator=gen, dtype=torch.float64).to(device) + 0.5
    return x, wk, s.contiguous(), post, noise, b


@pytest.mark.parametrize("backend", ["triton", "cuda"])
def test_opcheck_custom_ops(gen, backend):
    """torch.library.opcheck (schema, fake tensors, autograd registration) on the five ops."""
    from tests.conftest import skip_unless_available
    skip_unless_available(backend)
    from tests.conftest import backend_device
    dev = backend_device(backend)
    x, wk, pre, post, noise, b = _op_args(gen, dev, backend)
    ops = torch.ops.fastgen
    req = lambda t: t.clone().requires_grad_(True)  # noqa: E731
    torch.library.opcheck(ops.modconv_block_fused.default,
                          (req(x), req(wk), req(pre), req(post), req(noise), req(b), 1, 1, 1, 1, 3, 3, 2, 0.2, 1.4,
                           0.9, True, backend))
    torch.library.opcheck(ops.modconv_conv.default, (req(x), req(wk), req(pre), 2, 1, 2, 2, 6, 6, backend))
    c = torch.randn(1, 2, 3, 3, generator=gen, dtype=torch.float64).to(dev)
    torch.library.opcheck(ops.modconv_epilogue.default, (req(c), req(post), req(noise), req(b), 8, 0.0, 1.4, -1.0,
                                                         backend))
    torch.library.opcheck(ops.modconv_epilogue_grad.default, (c, c, post, noise, b, 2, 0.2, 1.4, 0.9, backend))
    torch.library.opcheck(ops.modconv_conv_grad.default, (c, x, wk, pre, post, 1, 1, 1, 1, True, True, backend))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["triton", "cuda"])
def test_compile_fullgraph(gen, backend):
    """The block's forward + backward under torch.compile(fullgraph=True) = eager."""
    from tests.conftest import backend_device, skip_unless_available

    skip_unless_available(backend)
    dev = backend_device(backend)
    torch._dynamo.reset()
    inputs = make_inputs(gen, 2, 3, 4, 4, 4, device=dev)
    fn = _layer(1, dev, backend=backend, clamp=0.9)
    compiled = torch.compile(lambda **kw: fn(**kw), fullgraph=True)
    a, b = detached(inputs), detached(inputs)
    ye, yc = fn(**a), compiled(**b)
    assert_close_rel(yc, ye, torch.float64, "compiled output")
    ge = torch.autograd.grad(ye.square().sum(), list(a.values()))
    gc = torch.autograd.grad(yc.square().sum(), list(b.values()))
    for g, e in zip(gc, ge):
        assert_close_rel(g, e, torch.float64, "compiled grad")

"""bias_act against the float64 reference: every activation x bias x clamp x dim, every dtype,
first and second derivatives, gradcheck / gradgradcheck, custom-op checks and bad input."""
from __future__ import annotations

import math

import pytest
import torch

import fastgen.gan as gan
from fastgen.compat.stylegan import bias_act as sg_bias_act
from fastgen.ops.bias_act import _library  # noqa: F401  (registers torch.ops.fastgen.bias_act*)
from fastgen.ops.bias_act import reference as bias_act_reference
from tests.conftest import assert_close_rel

ACTS = list(gan.ACTIVATIONS)
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
# (x shape, dim): the bias along channels of NCHW, along the last axis, the first, and a 1D x.
LAYOUTS = [((2, 5, 3, 7), 1), ((4, 33), -1), ((6, 2, 3), 0), ((37,), 0)]
CLAMP = 0.7  # small enough to be active on part of every activation's range


def _inputs(shape, dim, gen, dtype, bias=True, device="cpu"):
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 2).to(dtype).to(device)
    b = (torch.randn(shape[dim], generator=gen, dtype=torch.float64)).to(dtype).to(device) if bias else None
    return x, b


def _away_from_clamp(dy, x, b, dim, act, clamp):
    """dy zeroed where |act(x + b) * gain| is within 0.02 of the clamp: there, rounding in a low
    precision dtype may legitimately decide differently whether the clamp (and its zero
    gradient) applies."""
    if clamp is None:
        return dy
    spec = gan.ACTIVATIONS[act]
    y = bias_act_reference.bias_act(x.double().cpu(), None if b is None else b.double().cpu(), dim % x.dim(), act,
                                    spec.alpha, spec.gain, None)
    return torch.where((y.abs() - clamp).abs() < 0.02, 0.0, dy)


def _fwd_bwd(x, b, backend, dy, **kw):
    """Output and the gradients with respect to x (and b) of <dy, y>."""
    x = x.detach().clone().requires_grad_(True)
    b = None if b is None else b.detach().clone().requires_grad_(True)
    y = gan.bias_act(x, b, backend=backend, **kw)
    grads = torch.autograd.grad((y.double() * dy.to(y.device)).sum(), [x] + ([b] if b is not None else []))
    return y, grads


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference(backend, device, gen, act, dtype):
    """Forward and first derivatives in every dtype = the float64 reference on the same inputs."""
    for shape, dim in LAYOUTS:
        for bias in (True, False):
            for clamp in (None, CLAMP):
                x, b = _inputs(shape, dim, gen, dtype, bias, device)
                dy = _away_from_clamp(torch.randn(shape, generator=gen, dtype=torch.float64), x, b, dim, act,
                                      clamp)
                kw = dict(dim=dim, act=act, clamp=clamp)
                y, grads = _fwd_bwd(x, b, backend, dy, **kw)
                ry, rgrads = _fwd_bwd(x.double(), None if b is None else b.double(), "reference", dy, **kw)
                what = f"{act} bias={bias} clamp={clamp} shape={shape} dim={dim}"
                assert y.dtype == dtype
                assert_close_rel(y, ry, dtype, what)
                for g, r, name in zip(grads, rgrads, ("dx", "db")):
                    assert g.dtype == dtype
                    # db sums many products: one more rounding per term in low precision.
                    assert_close_rel(g, r, dtype, f"{what} {name}", factor=1 if name == "dx" else 2)


def _second_order(x, b, backend, dy, u, v, **kw):
    """R1-style double backward: d/d(x, b) of <u, dL/dx> + <v, dL/db> with L = <dy, y>."""
    x = x.detach().clone().requires_grad_(True)
    b = b.detach().clone().requires_grad_(True)
    y = gan.bias_act(x, b, backend=backend, **kw)
    gx, gb = torch.autograd.grad((y * dy).sum(), [x, b], create_graph=True)
    r1 = (gx * u).sum() + (gb * v).sum()
    if not r1.requires_grad:  # linear: the gradient does not depend on x or b
        return torch.zeros_like(x), torch.zeros_like(b)
    return torch.autograd.grad(r1, [x, b], allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("act", ACTS)
def test_double_backward_float32(backend, device, gen, act):
    """Second derivatives (through the fused backward) in float32 = the float64 reference."""
    for clamp in (None, CLAMP):
        x, b = _inputs((2, 4, 3, 5), 1, gen, torch.float32, device=device)
        dy, u = (torch.randn(x.shape, generator=gen).to(device) for _ in range(2))
        v = torch.randn(b.shape, generator=gen).to(device)
        got = _second_order(x, b, backend, dy, u, v, act=act, clamp=clamp)
        want = _second_order(x.double(), b.double(), "reference", dy.double(), u.double(), v.double(), act=act,
                             clamp=clamp)
        for g, w, name in zip(got, want, ("d2x", "d2b")):
            assert_close_rel(g, w, torch.float32, f"{act} clamp={clamp} {name}", factor=5)


def _gradcheck_acts(backend):
    # Every activation on the reference and C++ backends; a representative set under the (slow)
    # Triton interpreter: piecewise linear, exponential and sigmoid-based.
    return ACTS if backend != "triton" else ["lrelu", "elu", "swish"]


def test_gradcheck_gradgradcheck(backend, device, gen):
    """torch.autograd.gradcheck and gradgradcheck in float64, with and without clamp and bias."""
    for act in _gradcheck_acts(backend):
        x, b = _inputs((2, 3, 2), 1, gen, torch.float64, device=device)
        # Keep z = x + b away from the kinks of relu / lrelu / elu and the clamp edge, where
        # finite differences straddle the discontinuity of the derivative.
        x = x + torch.where((x + b[:, None]).abs() < 0.05, 0.2, 0.0)
        x.requires_grad_(True)
        b.requires_grad_(True)
        for clamp in (None, 1.3):
            fn = lambda x, b: gan.bias_act(x, b, act=act, clamp=clamp, backend=backend)  # noqa: E731
            y = fn(x, b).detach()
            if clamp is not None and bool(((y.abs() - clamp).abs() < 1e-3).any()):
                continue
            assert torch.autograd.gradcheck(fn, (x, b)), act
            assert torch.autograd.gradgradcheck(fn, (x, b)), act
        fn = lambda x: gan.bias_act(x, None, act=act, gain=0.5, backend=backend)  # noqa: E731
        assert torch.autograd.gradgradcheck(fn, (x,)), act
    # Only b requires grad (x is data): the R1-style path through the bias alone.
    x, b = _inputs((3, 2), 1, gen, torch.float64, device=device)
    b.requires_grad_(True)
    fn = lambda b: gan.bias_act(x, b, act="swish", alpha=None, gain=0.7, backend=backend)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, (b,))


def test_defaults_and_linear_passthrough(gen):
    x = torch.randn(3, 4, generator=gen)
    assert gan.bias_act(x) is x  # linear, no bias, gain 1, no clamp: nothing to do
    assert gan.ACTIVATIONS["lrelu"].alpha == 0.2 and gan.ACTIVATIONS["lrelu"].gain == math.sqrt(2)
    y = gan.bias_act(x, act="lrelu", backend="reference")
    assert torch.allclose(y, torch.where(x > 0, x, 0.2 * x) * math.sqrt(2))
    y = gan.bias_act(x, act="relu", gain=1.0, clamp=0.1, backend="reference")
    assert torch.allclose(y, torch.relu(x).clamp(max=0.1))


def test_opcheck_custom_ops(kernel_backend, device, gen):
    """torch.library.opcheck (schema, fake tensors, autograd registration) on the three ops."""
    x, b = _inputs((2, 3, 4), 1, gen, torch.float32, device=device)
    dy = torch.randn(x.shape, generator=gen).to(device)
    code, alpha, gain = 2, 0.2, math.sqrt(2)
    ops = torch.ops.fastgen
    for bias in (b, None):
        args = (dim := 1, code, alpha, gain, 0.7, kernel_backend)
        torch.library.opcheck(ops.bias_act.default, (x.clone().requires_grad_(True),
                                                     None if bias is None else bias.clone().requires_grad_(True),
                                                     *args))
        torch.library.opcheck(ops.bias_act_grad.default, (dy.clone().requires_grad_(True),
                                                          x.clone().requires_grad_(True), bias, *args))
        torch.library.opcheck(ops.bias_act_grad2.default, (dy, dy, x, bias, *args))
    assert dim == 1


def test_empty_tensor(backend, device):
    x = torch.zeros(0, 3, device=device, requires_grad=True)
    b = torch.zeros(3, device=device, requires_grad=True)
    y = gan.bias_act(x, b, act="lrelu", backend=backend)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3) and float(b.grad.abs().sum()) == 0.0


def test_stylegan_compat(gen):
    """StyleGAN's signature: impl='ref'/'cuda', clamp=-1 meaning none, activation_funcs."""
    x, b = _inputs((2, 3, 4, 4), 1, gen, torch.float32)
    want = gan.bias_act(x, b, act="lrelu", backend="reference")
    assert_close_rel(sg_bias_act.bias_act(x, b, act="lrelu", clamp=-1, impl="ref"), want, torch.float32)
    assert_close_rel(sg_bias_act.bias_act(x, b, act="lrelu", impl="cuda"), want, torch.float32)
    assert sg_bias_act.activation_funcs["swish"].def_gain == math.sqrt(2)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(act="gelu"), ValueError, "unknown activation 'gelu'"),
    (dict(b=torch.zeros(4)), ValueError, "b must have x.shape\\[dim\\] = 3"),
    (dict(b=torch.zeros(3, 1)), ValueError, "b must have 1 dimension"),
    (dict(b=torch.zeros(3, dtype=torch.float64)), TypeError, "b has dtype float64 but x has float32"),
    (dict(dim=3), ValueError, "dim=3 is out of range"),
    (dict(clamp=-1.0), ValueError, "clamp must be a finite number >= 0"),
    (dict(gain="2"), TypeError, "gain must be a number"),
    (dict(backend="gpu"), ValueError, "unknown backend 'gpu'"),
])
def test_bad_input(kwargs, exc, match):
    x = torch.zeros(2, 3, 4)
    with pytest.raises(exc, match=match):
        gan.bias_act(x, **kwargs)


def test_bad_x():
    with pytest.raises(TypeError, match="x must have dtype"):
        gan.bias_act(torch.zeros(2, 3, dtype=torch.int64), act="relu")
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        gan.bias_act([1.0, 2.0], act="relu")


@pytest.mark.slow
def test_compile_fullgraph(kernel_backend, device, gen):
    """bias_act forward + double backward under torch.compile(fullgraph=True) equals eager."""
    torch._dynamo.reset()
    x, b = _inputs((2, 3, 4), 1, gen, torch.float32, device=device)

    def fn(x, b):
        return gan.bias_act(x, b, act="lrelu", clamp=0.7, backend=kernel_backend)

    compiled = torch.compile(fn, fullgraph=True)
    xe, be_ = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
    xc, bc = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ye, yc = fn(xe, be_), compiled(xc, bc)
    assert_close_rel(yc, ye, torch.float32, "compiled output")
    ge = torch.autograd.grad(ye.square().sum(), [xe, be_])
    gc = torch.autograd.grad(yc.square().sum(), [xc, bc])
    for g, e in zip(gc, ge):
        assert_close_rel(g, e, torch.float32, "compiled grad")


def test_cpu_tensors_run_the_reference():
    """No "cpu" backend is registered (the reference is as fast on CPU): auto picks the reference
    and asking for "cpu" says so."""
    from fastgen.backend import BackendUnavailableError, resolve

    assert resolve("bias_act", "auto", torch.device("cpu")) == "reference"
    with pytest.raises(BackendUnavailableError, match="does not implement this op"):
        resolve("bias_act", "cpu", torch.device("cpu"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_packed_path_on_cpu(gen, dtype):
    """The CUDA kernel's 16-byte pack path (bias_act_pack: aligned float16 / bfloat16 on the GPU)
    run on the CPU for float32 / float64, through a test-only launcher: every activation and
    order, with and without bias, sizes that leave a tail, and views whose storage offset breaks
    the alignment (element by element then), = the element-wise CPU launcher bit for bit."""
    ext = pytest.importorskip("fastgen._C")
    from fastgen.ops._native import dtype_code

    for act, spec in gan.ACTIVATIONS.items():
        for n, inner, offset in ((211, 7, 0), (128, 1, 0), (5, 1, 0), (133, 4, 1), (96, 3, 3)):
            base = (torch.randn(n + offset, generator=gen, dtype=torch.float64) * 2).to(dtype)
            x = base[offset:]
            b = torch.randn(5, generator=gen, dtype=torch.float64).to(dtype)
            dy = torch.randn(n + offset, generator=gen, dtype=torch.float64).to(dtype)[offset:]
            ddx = torch.randn(n + offset, generator=gen, dtype=torch.float64).to(dtype)[offset:]
            for order in (0, 1, 2):
                for bias in (b, None):
                    outs = []
                    for launcher in (ext.bias_act_packed_cpu, ext.bias_act_cpu):
                        out = torch.empty(n + offset, dtype=dtype)[offset:]
                        launcher(x.data_ptr(), 0 if bias is None else bias.data_ptr(),
                                 dy.data_ptr() if order >= 1 else 0, ddx.data_ptr() if order == 2 else 0,
                                 out.data_ptr(), n, 5, inner, dtype_code(dtype), spec.code, order,
                                 float(spec.alpha), float(spec.gain), 0.7, 2)
                        outs.append(out)
                    assert torch.equal(outs[0], outs[1]), (act, n, inner, offset, order, bias is None)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_unaligned_views(backend, device, gen, dtype):
    """x a view with a storage offset (contiguous but not 16-byte aligned: the CUDA kernel falls
    back from 16-byte packs to elements) = the reference, forward and backward."""
    base = (torch.randn(1 + 4 * 37, generator=gen, dtype=torch.float64) * 2).to(dtype).to(device)
    b = torch.randn(37, generator=gen, dtype=torch.float64).to(dtype).to(device)
    dy = torch.randn(4, 37, generator=gen, dtype=torch.float64)

    def run(base, backend):
        base = base.detach().clone().requires_grad_(True)
        x = base[1:].view(4, 37)  # the view itself reaches the kernel (it is contiguous)
        y = gan.bias_act(x, b.to(base.dtype), dim=1, act="lrelu", backend=backend)
        (gx,) = torch.autograd.grad((y.double() * dy.to(y.device)).sum(), [base])
        return y, gx

    y, gx = run(base, backend)
    ry, rgx = run(base.double(), "reference")
    assert_close_rel(y, ry, dtype, "y")
    assert_close_rel(gx, rgx, dtype, "dx")

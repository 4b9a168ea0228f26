"""filtered_lrelu as a PyTorch citizen: opcheck on both custom ops of each kernel backend,
torch.compile(fullgraph=True) forward and backward, and every Triton kernel configuration the
StyleGAN3 benchmarks launch compiled with Triton's real compiler for sm_80 and sm_90."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as gan
from fastgen.ops.filtered_lrelu import _library, correlation_taps
from tests.conftest import assert_close_rel
from tests.filtered_lrelu._helpers import fwd_bwd, image, make_filter


def test_custom_ops_registered():
    for name in ("filtered_lrelu", "filtered_lrelu_linear"):
        assert hasattr(torch.ops.fastgen, name), f"torch.ops.fastgen.{name} is not registered"


def test_opcheck(kernel_backend, device, gen):
    """opcheck (schema, fake tensors, autograd registration, AOT dispatch) of the forward (with
    and without bias, 2D and separable filters) and of the linear pass it saves for backward."""
    x = image(gen, torch.float32, device, n=1, c=2, h=5, w=6).requires_grad_(True)
    b = torch.randn(2, generator=gen).to(device).requires_grad_(True)
    ku = correlation_taps(make_filter(4, True, gen).to(device), False, 4.0, torch.float32, device)
    kd = correlation_taps(make_filter(3, False, gen).to(device), False, 1.0, torch.float32, device)
    fwd = torch.ops.fastgen.filtered_lrelu.default
    for bias, clamp in ((b, 0.8), (None, -1.0)):
        torch.library.opcheck(fwd, (x, bias, ku, kd, 2, 2, 2, 1, 1, 2, 1.4, 0.2, clamp, True, kernel_backend))
    _, mask = fwd(x.detach(), b.detach(), ku, kd, 2, 2, 2, 1, 1, 2, 1.4, 0.2, 0.8, True, kernel_backend)
    cfg = _library.transposed((5, 6), ku, kd, 2, 2, 2, 1, 0, 0)
    dy = torch.randn(1, 2, 5, 5, generator=gen).to(device).requires_grad_(True)
    torch.library.opcheck(torch.ops.fastgen.filtered_lrelu_linear.default, (dy, mask, *cfg, 1.4, 0.2, kernel_backend))


@pytest.mark.slow
def test_compile_fullgraph(kernel_backend, device, gen):
    """filtered_lrelu's custom ops under torch.compile(fullgraph=True): the eager outputs and
    gradients."""
    backend = kernel_backend
    torch._dynamo.reset()
    f = gan.setup_filter(torch.rand(6, generator=gen) + 0.1, separable=True).to(device)
    x = image(gen, torch.float32, device, n=1, c=2, h=6, w=5)
    b = torch.randn(2, generator=gen).to(device)

    def fn(x, b):
        return gan.filtered_lrelu(x, f, f, b, up=2, down=2, padding=5, clamp=1.0, backend=backend)

    y, gx, gb, dy = fwd_bwd(fn, x, b, gen=gen)
    cy, cgx, cgb, _ = fwd_bwd(torch.compile(fn, fullgraph=True), x, b, dy)
    for got, want, what in ((cy, y, "y"), (cgx, gx, "dx"), (cgb, gb, "db")):
        assert_close_rel(got, want, torch.float32, f"compiled {what}")


_TRITON_TYPES = {torch.float32: "fp32", torch.float64: "fp64", torch.float16: "fp16", torch.bfloat16: "bf16",
                 torch.uint8: "u8"}
_SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}


def _benchmark_plans():
    """The launch plans (kernel, args, constexprs) of the StyleGAN3 benchmark cases: forward with
    the mask, and the backward's linear pass, up=2/down=2 with 12-tap separable filters, in
    float16 and float32 (the sizes are runtime arguments: tiny tensors give the same kernels)."""
    from fastgen.ops.filtered_lrelu import triton as T

    f = gan.setup_filter(torch.ones(12))
    for dtype in (torch.float16, torch.float32):
        x, y = torch.zeros(1, 2, 8, 8, dtype=dtype), torch.zeros(1, 2, 8, 8, dtype=dtype)
        b = torch.zeros(2, dtype=dtype)
        ku = correlation_taps(f, False, 4.0, torch.float32, "cpu")
        mask = torch.zeros(1, 2, 16, 16, dtype=torch.uint8)
        yield str(dtype), "fwd", T.launch_plan(x, b, mask, y, ku, ku, 2, 2, 10, 10, 0, 0, 16, 16, 0, 1.4, 0.2, 256.0)
        cfg = _library.transposed((8, 8), ku, ku, 2, 2, 10, 10, 0, 0)
        k1, k2, up, down, p1x, p1y, p2x, p2y = cfg[:8]
        yield str(dtype), "bwd", T.launch_plan(y, None, mask, x, k1, k2, up, down, p1x, p1y, p2x, p2y, 16, 16, 1,
                                               1.4, 0.2, -1.0)


@pytest.mark.slow
@pytest.mark.parametrize("arch", [80, 90])
def test_triton_kernels_compile_for_gpus(arch):
    """triton.compile (the real compiler, not the interpreter) accepts the benchmark configs for
    sm_80 / sm_90 and their shared memory fits the architecture."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget

    for dtype, what, (kernel, _grid, args, consts) in _benchmark_plans():
        sig = {name: "*" + _TRITON_TYPES[a.dtype] if isinstance(a, torch.Tensor) else "i32"
               for name, a in zip(kernel.arg_names, args)}
        sig.update({name: "constexpr" for name in consts})
        compiled = triton.compile(triton.compiler.ASTSource(kernel, sig, consts), target=GPUTarget("cuda", arch, 32))
        assert "cubin" in compiled.asm, f"{dtype} {what}: no cubin"
        assert compiled.metadata.shared <= _SHARED_LIMIT[arch], f"{dtype} {what}: {compiled.metadata.shared} B shared"

"""filtered_lrelu as a PyTorch citizen: opcheck on both custom ops of each kernel backend,
torch.compile(fullgraph=True) forward and backward, and every Triton kernel configuration the
StyleGAN3 benchmarks launch compiled with Triton's real compiler for sm_80 and sm_90."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

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


@pytest.mark.slow
def test_triton_kernels_compile_for_gpus():
    """triton.compile (the real compiler, not the interpreter) accepts the StyleGAN3 benchmark
    configurations for sm_80 and sm_90 and their shared memory fits each architecture. Run in a
    fresh process without TRITON_INTERPRET, whose kernels (and the jit helpers they call) are
    interpreter objects the compiler cannot take."""
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = pathlib.Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "tests.filtered_lrelu._gpu_compile"], env=env, cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok") == 8, done.stdout

"""The hashgrid family as PyTorch citizens: torch.library.opcheck on both custom ops of each kernel
backend, and torch.compile(fullgraph=True) of the public op, forward and backward (slow: marked)."""
from __future__ import annotations

import pytest
import torch

import fastgen.nerf as nerf
from fastgen.ops.hashgrid import _level_info_tensor, _library  # noqa: F401  (registers torch.ops.fastgen.*)
from tests.conftest import assert_close_rel
from tests.hashgrid._helpers import config, fwd_bwd, interior_points, levels, make_table


def test_custom_ops_registered():
    for name in ("hash_grid_encode_forward", "hash_grid_encode_backward"):
        assert hasattr(torch.ops.fastgen, name), f"torch.ops.fastgen.{name} is not registered"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_opcheck(kernel_backend, device, gen, dtype):
    """opcheck (schema, fake tensors, autograd registration, AOT dispatch) of the forward with
    both gradients, and of the backward with each combination of requested gradients."""
    cfg = config(3)
    info = _level_info_tensor(levels(3, cfg), device)
    x_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    x = interior_points(3, cfg, gen, n=40, dtype=x_dtype).to(device)
    table = make_table(cfg, 2, gen, dtype).to(device)
    fwd = torch.ops.fastgen.hash_grid_encode_forward.default
    torch.library.opcheck(fwd, (x.clone().requires_grad_(), table.clone().requires_grad_(), info, kernel_backend))
    grad = torch.randn(40, 8, generator=gen, dtype=x_dtype).to(device)
    for table_grad, x_grad in ((True, True), (True, False), (False, True)):
        torch.library.opcheck(torch.ops.fastgen.hash_grid_encode_backward.default,
                              (grad, x, table, info, table_grad, x_grad, kernel_backend))


def test_opcheck_empty(kernel_backend, device, gen):
    cfg = config(2)
    info = _level_info_tensor(levels(2, cfg), device)
    table = make_table(cfg, 4, gen).to(device).requires_grad_()
    torch.library.opcheck(torch.ops.fastgen.hash_grid_encode_forward.default,
                          (torch.zeros(0, 2, device=device, requires_grad=True), table, info, kernel_backend))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["reference", "cpu", "cuda", "triton"], indirect=True)
def test_compile_fullgraph(backend, device, gen):
    """hash_grid_encode under torch.compile(fullgraph=True): the same outputs and gradients."""
    torch._dynamo.reset()
    cfg = config(3)
    x = interior_points(3, cfg, gen, n=50).to(device)
    table = make_table(cfg, 2, gen).to(device)

    def fn(x, table):
        return nerf.hash_grid_encode(x, table, backend=backend, **cfg)

    coeff = torch.randn(50, 8, generator=gen, dtype=torch.float64)
    eager = fwd_bwd(fn, x, table, coeff)
    compiled = fwd_bwd(torch.compile(fn, fullgraph=True), x, table, coeff)
    for got, expected, what in zip(compiled, eager, ("output", "x gradient", "table gradient")):
        assert_close_rel(got, expected, torch.float32, f"compiled {what}")

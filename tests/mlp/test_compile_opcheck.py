"""fused_mlp as a PyTorch citizen: torch.library.opcheck of both custom ops on the triton backend,
and torch.compile(fullgraph=True) of the public op, forward and backward (slow: marked)."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import fused_mlp
from fastgen.ops.mlp import _library  # noqa: F401  (registers torch.ops.fastgen.fused_mlp_*)
from tests.conftest import assert_close_rel, skip_unless_available
from tests.mlp._helpers import fwd_bwd, make_weights, make_x


@pytest.fixture
def triton_device():
    from tests.conftest import backend_device

    skip_unless_available("triton")
    return backend_device("triton")


@pytest.mark.parametrize("n_hidden", [1, 3])
def test_opcheck(triton_device, gen, n_hidden):
    x = make_x(40, 5, gen, device=triton_device)
    ws = make_weights(5, 16, n_hidden, 3, gen, device=triton_device)
    fwd = torch.ops.fastgen.fused_mlp_forward.default
    torch.library.opcheck(fwd, (x.clone().requires_grad_(), [w.clone().requires_grad_() for w in ws], 1, 3, True,
                                "triton"))
    y, hidden = fwd(x, ws, 1, 3, True, "triton")
    dy = torch.randn(y.shape, generator=gen).to(triton_device)
    for need_x in (True, False):
        torch.library.opcheck(torch.ops.fastgen.fused_mlp_backward.default,
                              (dy, x, ws, hidden, y, 1, 3, need_x, "triton"))


def test_opcheck_empty(triton_device, gen):
    ws = [w.requires_grad_() for w in make_weights(3, 16, 2, 1, gen, device=triton_device)]
    torch.library.opcheck(torch.ops.fastgen.fused_mlp_forward.default,
                          (torch.zeros(0, 3, device=triton_device, requires_grad=True), ws, 0, 0, True, "triton"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_compile_fullgraph(backend, gen):
    from tests.conftest import backend_device

    skip_unless_available(backend)
    device = backend_device(backend)
    torch._dynamo.reset()
    x, ws = make_x(50, 8, gen, device=device), make_weights(8, 16, 2, 4, gen, device=device)

    def fn(x, ws):
        return fused_mlp(x, ws, "ReLU", "Sigmoid", backend=backend)

    coeff = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    eager = fwd_bwd(fn, x, ws, coeff)
    compiled = fwd_bwd(torch.compile(fn, fullgraph=True), x, ws, coeff)
    for i, (got, expected) in enumerate(zip(compiled, eager)):
        assert_close_rel(got, expected, torch.float32, f"compiled output/gradient {i}")

"""fused_mlp on every backend against the float64 reference, forward and backward (x and every
weight): each width, a sample of depths, each activation, ragged point counts (not a multiple of
the block, 1, 0), D_in / D_out that are not multiples of the kernels' chunks, half types.

Half types use smooth activations: with relu a pre-activation within rounding of 0 flips sides
between the kernel (which rounds each layer to x's dtype, as tiny-cuda-nn) and the float64
reference, and one flipped unit moves a point's gradient by O(1); float32 tests cover the kinks."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import FusedMLP, fused_mlp
from fastgen.ops.mlp import ACTIVATION_NAMES
from tests.conftest import assert_close_rel
from tests.mlp._helpers import compare, make_weights, make_x


@pytest.mark.parametrize("width, n", [(16, 300), (32, 150), (64, 37), (128, 19)])
def test_widths(mlp_backend, mdevice, gen, width, n):
    compare(mlp_backend, make_x(n, 32, gen, device=mdevice), make_weights(32, width, 2, 16, gen, device=mdevice),
            "relu", "none", gen)


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_depths(mlp_backend, mdevice, gen, depth):
    compare(mlp_backend, make_x(70, 5, gen, device=mdevice), make_weights(5, 16, depth, 3, gen, device=mdevice),
            "leaky_relu", "none", gen)


@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_activations(mlp_backend, mdevice, gen, act):
    """Each activation hidden (two layers) and as the output activation."""
    depth = 1 if act == "exponential" else 2
    compare(mlp_backend, make_x(45, 3, gen, device=mdevice), make_weights(3, 16, depth, 2, gen, device=mdevice),
            act, act, gen)


@pytest.mark.parametrize("n", [0, 1, 129])
def test_ragged_points(mlp_backend, mdevice, gen, n):
    compare(mlp_backend, make_x(n, 3, gen, device=mdevice), make_weights(3, 32, 2, 1, gen, device=mdevice),
            "relu", "sigmoid", gen)


@pytest.mark.parametrize("d_in, d_out", [(1, 1), (70, 65), (17, 3)])
def test_padded_widths(mlp_backend, mdevice, gen, d_in, d_out):
    """D_in / D_out below one chunk, past one 64-wide chunk, and odd."""
    compare(mlp_backend, make_x(40, d_in, gen, device=mdevice), make_weights(d_in, 16, 2, d_out, gen, device=mdevice),
            "relu", "none", gen)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("act, out_act", [("tanh", "none"), ("softplus", "sigmoid")])
def test_half_types(mlp_backend, mdevice, gen, dtype, act, out_act):
    compare(mlp_backend, make_x(77, 32, gen, dtype, mdevice), make_weights(32, 64, 3, 16, gen, dtype, mdevice),
            act, out_act, gen)


@pytest.mark.parametrize("which", ["x", "weights"])
def test_partial_gradients(mlp_backend, mdevice, gen, which):
    """Only x or only the weights require a gradient: the other gets none, the one asked for is right."""
    x, ws = make_x(50, 6, gen, device=mdevice), make_weights(6, 16, 2, 4, gen, device=mdevice)
    leaf = x.requires_grad_() if which == "x" else ws[1].requires_grad_()
    coeff = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    (fused_mlp(x, ws, backend=mlp_backend).double() * coeff.to(mdevice)).sum().backward()
    x64 = x.detach().cpu().double().requires_grad_()
    w64 = [w.detach().cpu().double().requires_grad_() for w in ws]
    (fused_mlp(x64, w64, backend="reference") * coeff).sum().backward()
    expected = x64.grad if which == "x" else w64[1].grad
    assert_close_rel(leaf.grad, expected, torch.float32, f"{which} gradient")
    others = [w.grad for w in ws] if which == "x" else [x.grad, ws[0].grad, ws[2].grad]
    assert all(g is None for g in others)


def test_no_grad_forward(mlp_backend, mdevice, gen):
    x, ws = make_x(30, 4, gen, device=mdevice), make_weights(4, 16, 2, 2, gen, device=mdevice)
    with torch.no_grad():
        y = fused_mlp(x, [w.requires_grad_() for w in ws], backend=mlp_backend)
    expected = fused_mlp(x.cpu().double(), [w.detach().cpu().double() for w in ws], backend="reference")
    assert_close_rel(y, expected, torch.float32, "no-grad output")


def test_non_contiguous_x(mlp_backend, mdevice, gen):
    x = make_x(40, 8, gen, device=mdevice)[:, ::2]
    ws = make_weights(4, 16, 1, 2, gen, device=mdevice)
    assert_close_rel(fused_mlp(x, ws, backend=mlp_backend), fused_mlp(x.contiguous(), ws, backend="reference"),
                     torch.float32, "strided x")


def test_module(mlp_backend, mdevice, gen):
    net = FusedMLP(32, 16, n_neurons=64, n_hidden_layers=2, seed=3, backend=mlp_backend).to(mdevice)
    x = make_x(33, 32, gen, device=mdevice)
    compare(mlp_backend, x, [w.detach() for w in net.weights], "relu", "none", gen)
    assert_close_rel(net(x), fused_mlp(x.double(), [w.double() for w in net.weights], backend="reference"),
                     torch.float32, "module output")

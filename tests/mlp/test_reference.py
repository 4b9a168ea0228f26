"""The reference fused_mlp against an independent nn.Linear stack, gradcheck in float64, the
activation derivatives written from outputs, and the FusedMLP module (init, names, forward)."""
from __future__ import annotations

import math

import pytest
import torch

from fastgen.nerf import FusedMLP, fused_mlp
from fastgen.ops.mlp import ACTIVATION_NAMES, reference
from tests.mlp._helpers import make_weights, make_x

_TORCH_ACT = {"none": torch.nn.Identity(), "relu": torch.nn.ReLU(), "leaky_relu": torch.nn.LeakyReLU(0.01),
              "sigmoid": torch.nn.Sigmoid(), "exponential": None, "softplus": torch.nn.Softplus(),
              "tanh": torch.nn.Tanh()}


def _linear_stack(x, weights, act, out_act):
    """The same network from nn.Linear modules (an independent formulation)."""
    def apply(name, z):
        return torch.exp(z) if name == "exponential" else _TORCH_ACT[name](z)

    h = x
    for i, w in enumerate(weights):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=w.dtype)
        lin.weight.data.copy_(w)
        h = apply(out_act if i == len(weights) - 1 else act, lin(h))
    return h


# each activation hidden and as the output (exp(exp(...)) would overflow: exponential alone)
_PAIRS = [(a, a) for a in ACTIVATION_NAMES if a != "exponential"] + [("exponential", "none"), ("relu", "exponential")]


@pytest.mark.parametrize("act, out_act", _PAIRS)
def test_matches_linear_stack(act, out_act, gen):
    depth = 1 if act == "exponential" else 3
    x, ws = make_x(37, 5, gen, torch.float64), make_weights(5, 16, depth, 3, gen, torch.float64)
    y = fused_mlp(x, ws, act, out_act, backend="reference")
    torch.testing.assert_close(y, _linear_stack(x, ws, act, out_act), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_gradcheck(act, gen):
    x, ws = make_x(9, 3, gen, torch.float64), make_weights(3, 16, 2, 2, gen, torch.float64)
    leaves = [x.requires_grad_()] + [w.requires_grad_() for w in ws]
    assert torch.autograd.gradcheck(lambda x, *w: fused_mlp(x, list(w), act, "sigmoid", backend="reference"),
                                    leaves)


@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_derivative_from_output(act):
    """The kernels differentiate from the saved outputs: check each formula against autograd."""
    z = torch.linspace(-4, 4, 101, dtype=torch.float64).requires_grad_()
    fn, grad_from_out = reference.ACTIVATIONS[act]
    y = fn(z)
    (dz,) = torch.autograd.grad(y.sum(), z)
    keep = z.detach().abs() > 1e-6  # relu-type kinks at 0
    torch.testing.assert_close(grad_from_out(y.detach())[keep], dz[keep])


def test_half_accumulates_in_float32(gen):
    x, ws = make_x(20, 32, gen, torch.bfloat16), make_weights(32, 64, 2, 16, gen, torch.bfloat16)
    y = fused_mlp(x, ws, backend="reference")
    y64 = fused_mlp(x.double(), [w.double() for w in ws], backend="reference")
    assert y.dtype == torch.bfloat16
    assert float((y.double() - y64).norm() / y64.norm()) < 1e-2


def test_empty_input(gen):
    ws = [w.requires_grad_() for w in make_weights(4, 32, 2, 1, gen)]
    y = fused_mlp(torch.zeros(0, 4), ws, backend="reference")
    assert y.shape == (0, 1)
    y.sum().backward()
    assert all(w.grad is not None and float(w.grad.abs().sum()) == 0 for w in ws)


@pytest.mark.parametrize("name, canonical", [("ReLU", "relu"), ("LeakyReLU", "leaky_relu"), ("None", "none"),
                                             ("Sigmoid", "sigmoid"), ("Exponential", "exponential"),
                                             ("Softplus", "softplus"), ("Tanh", "tanh"), ("TANH", "tanh")])
def test_tcnn_activation_names(name, canonical, gen):
    x, ws = make_x(7, 3, gen, torch.float64), make_weights(3, 16, 1, 2, gen, torch.float64)
    torch.testing.assert_close(fused_mlp(x, ws, name, name, backend="reference"),
                               fused_mlp(x, ws, canonical, canonical, backend="reference"))


def test_module_init_as_tiny_cuda_nn():
    """Xavier uniform per layer with tiny-cuda-nn's padded fan-in / fan-out (multiples of 16)."""
    net = FusedMLP(3, 1, n_neurons=64, n_hidden_layers=3, seed=1337)
    assert [tuple(w.shape) for w in net.weights] == [(64, 3), (64, 64), (64, 64), (1, 64)]
    bounds = [math.sqrt(6 / (16 + 64)), math.sqrt(6 / 128), math.sqrt(6 / 128), math.sqrt(6 / (64 + 16))]
    for w, bound in zip([p.detach() for p in net.weights], bounds):
        assert float(w.abs().max()) <= bound
        assert float(w.abs().max()) > 0.9 * bound  # uniform over the whole range, not a narrower one
    again = FusedMLP(3, 1, n_neurons=64, n_hidden_layers=3, seed=1337)
    assert all(torch.equal(a, b) for a, b in zip(net.weights, again.weights))


def test_module_forward_and_train(gen):
    net = FusedMLP(5, 3, n_neurons=16, n_hidden_layers=2, activation="ReLU", output_activation="Sigmoid",
                   seed=1, dtype=torch.float64, backend="reference")
    x = make_x(11, 5, gen, torch.float32)  # cast to the weights' dtype
    y = net(x)
    assert y.dtype == torch.float64 and y.shape == (11, 3)
    torch.testing.assert_close(y, fused_mlp(x.double(), list(net.weights), "relu", "sigmoid"))
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert len(list(net.parameters())) == 3


@pytest.mark.parametrize("kwargs, match", [(dict(n_neurons=48), "n_neurons"), (dict(n_hidden_layers=0), "n_hidden"),
                                           (dict(n_hidden_layers=9), "n_hidden"), (dict(activation="gelu"),
                                                                                    "activation"),
                                           (dict(output_activation="Sine"), "output_activation")])
def test_module_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FusedMLP(3, 4, **kwargs)

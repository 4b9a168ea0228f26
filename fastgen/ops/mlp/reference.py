"""Plain-PyTorch fused MLP: the definition of correct for :func:`fastgen.nerf.fused_mlp`.

``ACTIVATIONS`` maps each activation name to (its function, its derivative written in terms of
the activation's *output*). The kernels save only the layers' outputs, so they differentiate from
them, as tiny-cuda-nn does; the reference itself is differentiated by torch's autograd.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LEAKY_SLOPE = 0.01  # tiny-cuda-nn's LeakyReLU slope


def _softplus_grad(y):  # d/dz log(1 + e^z) = sigmoid(z) = 1 - e^(-softplus(z))
    return -torch.expm1(-y)


ACTIVATIONS = {
    "none": (lambda z: z, lambda y: torch.ones_like(y)),
    "relu": (torch.relu, lambda y: (y > 0).to(y.dtype)),
    "leaky_relu": (lambda z: F.leaky_relu(z, LEAKY_SLOPE),
                   lambda y: torch.where(y > 0, 1.0, LEAKY_SLOPE).to(y.dtype)),
    "sigmoid": (torch.sigmoid, lambda y: y * (1 - y)),
    "exponential": (torch.exp, lambda y: y),
    "softplus": (F.softplus, _softplus_grad),
    "tanh": (torch.tanh, lambda y: 1 - y * y),
}


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for the half types (float32 accumulation), the dtype itself otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def fused_mlp(x: torch.Tensor, weights, activation: str, output_activation: str) -> torch.Tensor:
    """y = out_act(h_L W_L^T), h_{i+1} = act(h_i W_i^T), h_0 = x, computed in float32 for half types."""
    acc = accumulation_dtype(x.dtype)
    act, out_act = ACTIVATIONS[activation][0], ACTIVATIONS[output_activation][0]
    h = x.to(acc)
    for w in weights[:-1]:  # F.linear without bias: what an nn.Linear(bias=False) stack runs
        h = act(F.linear(h, w.to(acc)))
    return out_act(F.linear(h, weights[-1].to(acc))).to(x.dtype)

"""Inputs and the float64 comparison of the mlp tests (small sizes: the interpreter runs every
point block in Python)."""
from __future__ import annotations

import torch

from fastgen.nerf import fused_mlp
from tests.conftest import assert_close_rel


def make_weights(d_in, width, n_hidden, d_out, gen, dtype=torch.float32, device="cpu"):
    """Xavier-scaled random weights in nn.Linear layout, so that activations stay O(1) over depth."""
    shapes = [(width, d_in)] + [(width, width)] * (n_hidden - 1) + [(d_out, width)]
    return [(torch.randn(s, generator=gen, dtype=torch.float64) * (2.0 / (s[0] + s[1])) ** 0.5 * 1.5)
            .to(dtype).to(device) for s in shapes]


def make_x(n, d_in, gen, dtype=torch.float32, device="cpu"):
    return torch.randn(n, d_in, generator=gen, dtype=torch.float64).to(dtype).to(device)


def fwd_bwd(fn, x, weights, coeff):
    """(y, dx, dW...) of sum(coeff * fn(x, weights)) with fresh leaves."""
    x = x.detach().clone().requires_grad_()
    ws = [w.detach().clone().requires_grad_() for w in weights]
    y = fn(x, ws)
    (y.to(torch.float64) * coeff.to(y.device)).sum().backward()
    return [y, x.grad, *[w.grad for w in ws]]


def compare(backend, x, weights, act, out_act, gen, factor=1.0):
    """Forward and gradients of ``backend`` against the float64 reference on the same inputs."""
    coeff = torch.randn(x.shape[0], weights[-1].shape[0], generator=gen, dtype=torch.float64)
    got = fwd_bwd(lambda a, w: fused_mlp(a, w, act, out_act, backend=backend), x, weights, coeff)
    x64, w64 = x.detach().cpu().double(), [w.detach().cpu().double() for w in weights]
    expected = fwd_bwd(lambda a, w: fused_mlp(a, w, act, out_act, backend="reference"), x64, w64, coeff)
    names = ["y", "dx"] + [f"dW{i}" for i in range(len(weights))]
    for g, e, name in zip(got, expected, names):
        assert g.dtype == x.dtype, f"{name} has dtype {g.dtype}, x has {x.dtype}"
        assert_close_rel(g, e, x.dtype, f"{backend} {name} ({act}/{out_act})", factor)

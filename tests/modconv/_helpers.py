"""Inputs and the forward / backward / double-backward comparison shared by the modconv tests."""
from __future__ import annotations

import torch

import fastgen.gan as gan

FIR = [1, 3, 3, 1]


def make_inputs(gen, n, i, o, h, w, k=3, dtype=torch.float64, device="cpu", up=1, down=1, noise=True,
                bias=True):
    """x, weight, styles, bias, noise (N, 1, H', W') of a layer, on device, requiring grad."""
    def rnd(*shape, scale=1.0, shift=0.0):
        t = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift
        return t.to(dtype).to(device).requires_grad_(True)

    oh, ow = h * up // down, w * up // down
    return dict(x=rnd(n, i, h, w), weight=rnd(o, i, k, k), styles=rnd(n, i, scale=0.5, shift=1.0),
                bias=rnd(o) if bias else None, noise=rnd(n, 1, oh, ow, scale=0.3) if noise else None)


def fir(device="cpu"):
    return gan.setup_filter(FIR, device=device)


def grads_of(y, inputs, gen, create_graph=False):
    """(dy, gradients of <dy, y> with respect to the tensors in ``inputs``)."""
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.device)
    leaves = [t for t in inputs if t is not None]
    return dy, torch.autograd.grad((y.double() * dy).sum(), leaves, create_graph=create_graph)


def path_length_grads(fn, inputs, pl_noise):
    """StyleGAN2's path-length step on a layer: g = d<y, pl_noise>/d styles with create_graph,
    then the gradient of |g|^2 with respect to every input (the second backward)."""
    y = fn(**inputs)
    (g,) = torch.autograd.grad((y.double() * pl_noise).sum(), [inputs["styles"]], create_graph=True)
    leaves = [t for t in inputs.values() if t is not None]
    return y, g, torch.autograd.grad(g.square().sum(), leaves, allow_unused=True, materialize_grads=True)


def detached(inputs: dict, dtype=None, device=None) -> dict:
    """Fresh leaves with the same values (optionally cast / moved)."""
    return {k: None if v is None else v.detach().to(dtype=dtype or v.dtype, device=device or v.device)
            .requires_grad_(True) for k, v in inputs.items()}

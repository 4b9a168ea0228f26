"""The mlp family's kernel passes as ``torch.library`` custom ops (``fastgen::fused_mlp_*``).

* ``fused_mlp_forward(x, weights, act, out_act, save, backend) -> (y, hidden)``: y (N, D_out) in
  x's dtype; hidden (n_hidden, N, W) the hidden layers' outputs (after the activation) in x's
  dtype when ``save`` (for the backward), else empty.
* ``fused_mlp_backward(dy, x, weights, hidden, y, act, out_act, need_x, backend) -> [dx, dW...]``:
  dx (empty unless ``need_x``) and one gradient per weight. The activation derivatives come from
  the saved outputs (see :data:`fastgen.ops.mlp.reference.ACTIVATIONS`), so nothing before the
  activations is stored. No double backward.

``act`` / ``out_act`` are indices into :data:`fastgen.ops.mlp.ACTIVATION_NAMES`. Inputs arrive
validated and contiguous from :func:`fastgen.ops.mlp.fused_mlp`.
"""
from __future__ import annotations

import torch

from fastgen.backend import kernels

Tensor = torch.Tensor


def _k(backend: str):
    return kernels("mlp", backend)


@torch.library.custom_op("fastgen::fused_mlp_forward", mutates_args=())
def forward(x: Tensor, weights: list[Tensor], act: int, out_act: int, save: bool,
            backend: str) -> tuple[Tensor, Tensor]:
    return _k(backend).forward(x, weights, act, out_act, save)


@forward.register_fake
def _(x, weights, act, out_act, save, backend):
    n_hidden, width = len(weights) - 1, weights[0].shape[0]
    hidden = x.new_empty((n_hidden, x.shape[0], width) if save else (0,))
    return x.new_empty((x.shape[0], weights[-1].shape[0])), hidden


@torch.library.custom_op("fastgen::fused_mlp_backward", mutates_args=())
def backward(dy: Tensor, x: Tensor, weights: list[Tensor], hidden: Tensor, y: Tensor, act: int, out_act: int,
             need_x: bool, backend: str) -> list[Tensor]:
    return _k(backend).backward(dy, x, weights, hidden, y, act, out_act, need_x)


@backward.register_fake
def _(dy, x, weights, hidden, y, act, out_act, need_x, backend):
    return [torch.empty_like(x) if need_x else x.new_empty((0,))] + [torch.empty_like(w) for w in weights]


def _setup(ctx, inputs, output):
    x, weights, act, out_act, _save, backend = inputs
    y, hidden = output
    ctx.save_for_backward(x, hidden, y, *weights)
    ctx.args = act, out_act, backend
    ctx.mark_non_differentiable(hidden)


def _backward(ctx, dy, _dhidden):
    x, hidden, y, *weights = ctx.saved_tensors
    act, out_act, backend = ctx.args
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if not (need_x or need_w):
        return None, None, None, None, None, None
    dx, *dw = backward(dy.contiguous(), x, weights, hidden, y, act, out_act, need_x, backend)
    return (dx if need_x else None), (dw if need_w else None), None, None, None, None


forward.register_autograd(_backward, setup_context=_setup)

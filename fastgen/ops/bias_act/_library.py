"""bias_act's kernel passes as ``torch.library`` custom ops (``fastgen::bias_act*``).

Three ops, each taking the backend name ("cpu", "cuda" or "triton") as its last argument:

* ``bias_act(x, b, ...)`` = clamp(act(x + b) * gain);
* ``bias_act_grad(dy, x, b, ...)`` = dy * gain * act'(x + b), zero where the clamp is active:
  the gradient with respect to x (and, summed over every axis but ``dim``, to b);
* ``bias_act_grad2(ddx, dy, x, b, ...)`` = ddx * dy * gain * act''(x + b), likewise masked.

``bias_act_grad`` is linear in dy, so its own backward is ``bias_act_grad`` again (for dy) and
``bias_act_grad2`` (for x and b): second derivatives, as R1 regularisation needs, run on the
same fused kernels. ``bias_act_grad2`` has no autograd (third derivatives are not supported).
Inputs arrive validated and contiguous; ``act`` is an activation code (csrc/gan/bias_act.h).
"""
from __future__ import annotations

import torch

from fastgen.backend import kernels


def _layout(x: torch.Tensor, b, dim: int) -> tuple:
    """(n_channels, inner) of the bias broadcast: element i has channel (i // inner) % n_channels."""
    if b is None:
        return 1, 1
    inner = 1
    for s in x.shape[dim + 1:]:
        inner *= s
    return x.shape[dim], inner


def _run(backend, x, b, dy, ddx, order, dim, act, alpha, gain, clamp):
    n_channels, inner = _layout(x, b, dim)
    return kernels("bias_act", backend).bias_act_pass(x, b, dy, ddx, order, n_channels, inner, act, alpha,
                                                     gain, clamp)


def _reduce_bias(g: torch.Tensor, b, dim: int):
    """The bias gradient: g summed over every axis but ``dim``."""
    return g.sum(dim=[i for i in range(g.dim()) if i != dim]) if g.dim() > 1 else g


@torch.library.custom_op("fastgen::bias_act", mutates_args=())
def bias_act(x: torch.Tensor, b: torch.Tensor | None, dim: int, act: int, alpha: float, gain: float,
             clamp: float, backend: str) -> torch.Tensor:
    return _run(backend, x, b, None, None, 0, dim, act, alpha, gain, clamp)


@torch.library.custom_op("fastgen::bias_act_grad", mutates_args=())
def bias_act_grad(dy: torch.Tensor, x: torch.Tensor, b: torch.Tensor | None, dim: int, act: int, alpha: float,
                  gain: float, clamp: float, backend: str) -> torch.Tensor:
    return _run(backend, x, b, dy, None, 1, dim, act, alpha, gain, clamp)


@torch.library.custom_op("fastgen::bias_act_grad2", mutates_args=())
def bias_act_grad2(ddx: torch.Tensor, dy: torch.Tensor, x: torch.Tensor, b: torch.Tensor | None, dim: int,
                   act: int, alpha: float, gain: float, clamp: float, backend: str) -> torch.Tensor:
    return _run(backend, x, b, dy, ddx, 2, dim, act, alpha, gain, clamp)


@bias_act.register_fake
def _(x, b, dim, act, alpha, gain, clamp, backend):
    return torch.empty_like(x)


@bias_act_grad.register_fake
def _(dy, x, b, dim, act, alpha, gain, clamp, backend):
    return torch.empty_like(x)


@bias_act_grad2.register_fake
def _(ddx, dy, x, b, dim, act, alpha, gain, clamp, backend):
    return torch.empty_like(x)


def _bias_act_setup(ctx, inputs, output):
    x, b, *ctx.args = inputs  # dim, act, alpha, gain, clamp, backend
    ctx.save_for_backward(x, b)


def _bias_act_backward(ctx, dy):
    x, b = ctx.saved_tensors
    dz = bias_act_grad(dy.contiguous(), x, b, *ctx.args)
    db = _reduce_bias(dz, b, ctx.args[0]) if b is not None and ctx.needs_input_grad[1] else None
    return dz, db, None, None, None, None, None, None


bias_act.register_autograd(_bias_act_backward, setup_context=_bias_act_setup)


def _grad_setup(ctx, inputs, output):
    dy, x, b, *ctx.args = inputs
    ctx.save_for_backward(dy, x, b)


def _grad_backward(ctx, ddx):
    dy, x, b = ctx.saved_tensors
    ddx = ddx.contiguous()
    g_dy = bias_act_grad(ddx, x, b, *ctx.args) if ctx.needs_input_grad[0] else None
    g_x = g_b = None
    if ctx.needs_input_grad[1] or (b is not None and ctx.needs_input_grad[2]):
        g_z = bias_act_grad2(ddx, dy, x, b, *ctx.args)
        g_x = g_z if ctx.needs_input_grad[1] else None
        g_b = _reduce_bias(g_z, b, ctx.args[0]) if b is not None and ctx.needs_input_grad[2] else None
    return g_dy, g_x, g_b, None, None, None, None, None, None


bias_act_grad.register_autograd(_grad_backward, setup_context=_grad_setup)

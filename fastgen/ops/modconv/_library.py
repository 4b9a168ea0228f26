"""modconv's kernel passes as ``torch.library`` custom ops (``fastgen::modconv_*``).

Everything is in the "kernel layout": ``wk`` (KH, KW, CI, CO) is the shared weight, already
flipped for a true convolution and cast to x's dtype; ``pre`` (N, CI) scales the input channels
(the styles, times StyleGAN3's input gain), ``post`` (N, CO) the output channels (the
demodulation coefficients), both float32 (float64 for float64 x) or None; ``noise`` is
(1 or N, 1 or CO, OH, OW) in x's dtype, ``bias`` (CO,) in x's dtype. The convolution reads x
zero-inserted by ``up`` or strided by ``down`` (one of them 1) with padding (pad_x, pad_y) in
front, and has (out_h, out_w) pixels (see :func:`fastgen.ops.modconv.reference.conv`).

Forward ops:

* ``modconv_block_fused`` -> (y, c): the block in one kernel (conv + demodulation + noise +
  bias + act + gain + clamp); c is the raw convolution, stored only when ``save_c`` (for the
  backward), else empty. It gets no gradient.
* ``modconv_conv`` -> c: the convolution alone (the up-sampling path: then the FIR, then
  ``modconv_epilogue``).
* ``modconv_epilogue`` -> y: the block's epilogue on a given c.

Backward ops (no autograd of their own): ``modconv_epilogue_grad`` -> (dz, d post, d bias) and
``modconv_conv_grad`` -> (dx, d wk, d pre): dx is the adjoint convolution (flipped weight,
up and down swapped) with g_scale applied while g is loaded and pre on the store, d pre its
per-sample reduction against x, d wk an implicit GEMM over batch and pixels. Under
``create_graph`` (path-length regularisation) the backward instead differentiates the reference
composition with torch, so gradients of gradients are torch's.
"""
from __future__ import annotations

from typing import Optional

import torch

from fastgen.backend import kernels
from fastgen.ops.bias_act import ACTIVATIONS
from fastgen.ops.modconv import reference

_ACT_NAMES = {spec.code: name for name, spec in ACTIVATIONS.items()}
Tensor = torch.Tensor


def _k(backend: str):
    return kernels("modconv", backend)


def _cast(g, like):
    return None if g is None or like is None else g.to(like.dtype)


# ---------------------------------------------------------------------------- forward ops
@torch.library.custom_op("fastgen::modconv_block_fused", mutates_args=())
def block_fused(x: Tensor, wk: Tensor, pre: Optional[Tensor], post: Optional[Tensor], noise: Optional[Tensor],
                bias: Optional[Tensor], up: int, down: int, pad_x: int, pad_y: int, out_h: int, out_w: int,
                act: int, alpha: float, gain: float, clamp: float, save_c: bool,
                backend: str) -> tuple[Tensor, Tensor]:
    return _k(backend).conv_block(x, wk, pre, post, noise, bias, up, down, pad_x, pad_y, out_h, out_w, act, alpha,
                                  gain, clamp, save_c)


@block_fused.register_fake
def _(x, wk, pre, post, noise, bias, up, down, pad_x, pad_y, out_h, out_w, act, alpha, gain, clamp, save_c,
      backend):
    y = x.new_empty((x.shape[0], wk.shape[3], out_h, out_w))
    return y, (torch.empty_like(y) if save_c else y.new_empty(0))


@torch.library.custom_op("fastgen::modconv_conv", mutates_args=())
def conv(x: Tensor, wk: Tensor, pre: Optional[Tensor], up: int, down: int, pad_x: int, pad_y: int, out_h: int,
         out_w: int, backend: str) -> Tensor:
    return _k(backend).conv(x, wk, pre, None, up, down, pad_x, pad_y, out_h, out_w)[0]


@conv.register_fake
def _(x, wk, pre, up, down, pad_x, pad_y, out_h, out_w, backend):
    return x.new_empty((x.shape[0], wk.shape[3], out_h, out_w))


@torch.library.custom_op("fastgen::modconv_epilogue", mutates_args=())
def epilogue(c: Tensor, post: Optional[Tensor], noise: Optional[Tensor], bias: Optional[Tensor], act: int,
             alpha: float, gain: float, clamp: float, backend: str) -> Tensor:
    return _k(backend).epilogue(c, post, noise, bias, act, alpha, gain, clamp)


@epilogue.register_fake
def _(c, post, noise, bias, act, alpha, gain, clamp, backend):
    return torch.empty_like(c)


# ---------------------------------------------------------------------------- backward ops
@torch.library.custom_op("fastgen::modconv_epilogue_grad", mutates_args=())
def epilogue_grad(dy: Tensor, c: Tensor, post: Optional[Tensor], noise: Optional[Tensor], bias: Optional[Tensor],
                  act: int, alpha: float, gain: float, clamp: float, backend: str) -> tuple[Tensor, Tensor, Tensor]:
    return _k(backend).epilogue_grad(dy, c, post, noise, bias, act, alpha, gain, clamp)


@epilogue_grad.register_fake
def _(dy, c, post, noise, bias, act, alpha, gain, clamp, backend):
    acc = torch.float64 if c.dtype == torch.float64 else torch.float32
    return torch.empty_like(c), c.new_empty(c.shape[:2], dtype=acc), c.new_empty(c.shape[1:2], dtype=acc)


@torch.library.custom_op("fastgen::modconv_conv_grad", mutates_args=())
def conv_grad(g: Tensor, x: Tensor, wk: Tensor, pre: Optional[Tensor], g_scale: Optional[Tensor], up: int,
              down: int, pad_x: int, pad_y: int, need_x: bool, need_w: bool,
              backend: str) -> tuple[Tensor, Tensor, Tensor]:
    """(dx, d wk, d pre) of <g * g_scale, conv(x * pre, wk)>; d pre is empty without pre, dx and d pre
    empty unless need_x (d pre comes with the dx pass), d wk empty unless need_w."""
    k = _k(backend)
    kh, kw = wk.shape[:2]
    dx = dpre = x.new_empty(0)
    if need_x:
        w_adj = wk.flip([0, 1]).transpose(2, 3).contiguous()
        dx, dpre = k.conv(g, w_adj, g_scale, pre, down, up, kw - 1 - pad_x, kh - 1 - pad_y, x.shape[2], x.shape[3],
                          red=x if pre is not None else None)
        dpre = x.new_empty(0) if dpre is None else dpre.to(pre.dtype)
    dwk = k.dweight(x, pre, g, g_scale, up, down, pad_x, pad_y, kh, kw).to(wk.dtype) if need_w else wk.new_empty(0)
    return dx, dwk, dpre


@conv_grad.register_fake
def _(g, x, wk, pre, g_scale, up, down, pad_x, pad_y, need_x, need_w, backend):
    dx = torch.empty_like(x) if need_x else x.new_empty(0)
    dpre = torch.empty_like(pre) if need_x and pre is not None else x.new_empty(0)
    return dx, torch.empty_like(wk) if need_w else wk.new_empty(0), dpre


# ---------------------------------------------------------------------------- autograd
def _conv_grads(ctx, g, x, wk, pre, g_scale, up, down, pad_x, pad_y, backend, i_x, i_w, i_pre):
    """(dx, d wk, d pre) from the conv_grad kernels, None where not needed (input positions i_*)."""
    need = ctx.needs_input_grad
    need_x = need[i_x] or (pre is not None and need[i_pre])
    if not (need_x or need[i_w]):
        return None, None, None
    dx, dwk, dpre = conv_grad(g, x, wk, pre, g_scale, up, down, pad_x, pad_y, need_x, need[i_w], backend)
    return (dx if need[i_x] else None, dwk if need[i_w] else None,
            dpre if pre is not None and need[i_pre] else None)


def _reference_grads(ctx, ref, inputs, dy):
    """Gradients of <dy, ref(*inputs)> for the inputs that need them, as a differentiable graph.

    ``ref`` runs on fresh views of the inputs, and the gradients are taken with respect to those:
    an input may depend on another one upstream (post is computed from the styles, which pre may
    be), and only the paths through this op's own arguments must count."""
    views = [None if t is None else t.view_as(t) for t in inputs]
    y_ref = ref(*views)
    wanted = [v for v, need in zip(views, ctx.needs_input_grad) if need and v is not None]
    grads = iter(torch.autograd.grad(y_ref, wanted, dy, create_graph=True, allow_unused=True,
                                     materialize_grads=True))
    return tuple(next(grads) if need and v is not None else None for v, need in zip(views, ctx.needs_input_grad))


def _reduce_noise(dz, noise):
    return dz.sum_to_size(noise.shape).to(noise.dtype)


def _block_setup(ctx, inputs, output):
    x, wk, pre, post, noise, bias, *ctx.args = inputs  # up, down, pad_x, pad_y, out_h, out_w, act, ..., backend
    ctx.save_for_backward(x, wk, pre, post, noise, bias, output[1])
    ctx.mark_non_differentiable(output[1])


def _block_backward(ctx, dy, _dc):
    x, wk, pre, post, noise, bias, c = ctx.saved_tensors
    up, down, pad_x, pad_y, out_h, out_w, act, alpha, gain, clamp, _save_c, backend = ctx.args
    n_args = 12
    if torch.is_grad_enabled():  # create_graph: differentiate the reference composition
        def ref(*t):
            return reference.block(*t, up, down, pad_x, pad_y, out_h, out_w, _ACT_NAMES[act], alpha, gain, clamp)

        return _reference_grads(ctx, ref, (x, wk, pre, post, noise, bias), dy) + (None,) * n_args
    dz, dpost, dbias = epilogue_grad(dy.contiguous(), c, post, noise, bias, act, alpha, gain, clamp, backend)
    dx, dwk, dpre = _conv_grads(ctx, dz, x, wk, pre, post, up, down, pad_x, pad_y, backend, 0, 1, 2)
    need = ctx.needs_input_grad
    return (dx, dwk, dpre, _cast(dpost, post) if need[3] else None,
            _reduce_noise(dz, noise) if noise is not None and need[4] else None,
            _cast(dbias, bias) if need[5] else None) + (None,) * n_args


block_fused.register_autograd(_block_backward, setup_context=_block_setup)


def _conv_setup(ctx, inputs, output):
    x, wk, pre, *ctx.args = inputs  # up, down, pad_x, pad_y, out_h, out_w, backend
    ctx.save_for_backward(x, wk, pre)


def _conv_backward(ctx, dc):
    x, wk, pre = ctx.saved_tensors
    up, down, pad_x, pad_y, out_h, out_w, backend = ctx.args
    if torch.is_grad_enabled():
        def ref(*t):
            return reference.conv(*t, up, down, pad_x, pad_y, out_h, out_w)

        return _reference_grads(ctx, ref, (x, wk, pre), dc) + (None,) * 7
    return _conv_grads(ctx, dc.contiguous(), x, wk, pre, None, up, down, pad_x, pad_y, backend, 0, 1, 2) + (None,) * 7


conv.register_autograd(_conv_backward, setup_context=_conv_setup)


def _epilogue_setup(ctx, inputs, output):
    c, post, noise, bias, *ctx.args = inputs  # act, alpha, gain, clamp, backend
    ctx.save_for_backward(c, post, noise, bias)


def _epilogue_backward(ctx, dy):
    c, post, noise, bias = ctx.saved_tensors
    act, alpha, gain, clamp, backend = ctx.args
    if torch.is_grad_enabled():
        def ref(*t):
            return reference.epilogue(*t, _ACT_NAMES[act], alpha, gain, clamp)

        return _reference_grads(ctx, ref, (c, post, noise, bias), dy) + (None,) * 5
    dz, dpost, dbias = epilogue_grad(dy.contiguous(), c, post, noise, bias, act, alpha, gain, clamp, backend)
    need = ctx.needs_input_grad
    dc = None
    if need[0]:
        dc = dz if post is None else dz * post.to(dz.dtype)[:, :, None, None]
    return (dc, _cast(dpost, post) if need[1] else None,
            _reduce_noise(dz, noise) if noise is not None and need[2] else None,
            _cast(dbias, bias) if need[3] else None) + (None,) * 5


epilogue.register_autograd(_epilogue_backward, setup_context=_epilogue_setup)

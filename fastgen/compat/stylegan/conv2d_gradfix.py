"""StyleGAN's ``torch_utils.ops.conv2d_gradfix`` on torch's own convolutions.

``conv2d`` and ``conv_transpose2d`` take torch's arguments. StyleGAN routes them through a custom
op so that (a) they can be differentiated twice and (b) ``no_weight_gradients()`` can skip the
weight gradient where only input gradients are wanted (path-length regularisation). torch's
convolutions are twice differentiable today, so (a) needs nothing; (b) is kept:

* ``enabled`` (module flag, default False as in StyleGAN; StyleGAN's training loop sets it True):
  when True, the convolutions run as an autograd.Function whose backward consults
  ``weight_gradients_disabled`` (on any device, CPU included; StyleGAN's custom op only on CUDA).
  When False they are plain ``torch.nn.functional`` calls, exactly StyleGAN's fallback.
* ``no_weight_gradients(disable=True)``: while the context is open, backward passes through
  these convolutions return no weight gradient (None: ``weight.grad`` is not touched), and the
  weight gradient is not computed. The input gradient stays differentiable with respect to the
  weight, so a later backward (outside the context) of a loss built from it still reaches the
  weight, as in StyleGAN.

Backward formulas are torch's (``torch.nn.grad.conv2d_input`` / ``conv2d_weight``, differentiable
ops), so every derivative order works.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

enabled = False  # Enable the custom op (StyleGAN's name and default)
weight_gradients_disabled = False  # Forcefully disable computation of gradients with respect to the weights


@contextlib.contextmanager
def no_weight_gradients(disable=True):
    """Within the context, the convolutions of this module compute no weight gradients."""
    global weight_gradients_disabled
    old = weight_gradients_disabled
    if disable:
        weight_gradients_disabled = True
    try:
        yield
    finally:
        weight_gradients_disabled = old


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d`` (see the module docstring for ``enabled``)."""
    if not enabled:
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _Conv.apply(input, weight, bias, False, (stride, padding, 0, dilation, groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose2d`` (see the module docstring for ``enabled``)."""
    if not enabled:
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _Conv.apply(input, weight, bias, True, (stride, padding, output_padding, dilation, groups))


def _forward(x, w, transpose, params):
    stride, padding, output_padding, dilation, groups = params
    if transpose:
        return F.conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation)
    return F.conv2d(x, w, None, stride, padding, dilation, groups)


class _Conv(torch.autograd.Function):
    """conv2d / conv_transpose2d with a backward that honours ``weight_gradients_disabled``.

    A transposed convolution is the adjoint of the convolution with the same weight: its input
    gradient is ``conv2d(g, w)`` and its weight gradient the conv2d weight gradient with the
    roles of input and output swapped.
    """

    @staticmethod
    def forward(ctx, x, w, b, transpose, params):
        y = _forward(x, w, transpose, params)
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        ctx.save_for_backward(x, w)
        ctx.transpose, ctx.params, ctx.has_bias = transpose, params, b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, padding, _, dilation, groups = ctx.params
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = (F.conv2d(g, w, None, stride, padding, dilation, groups) if ctx.transpose else
                  torch.nn.grad.conv2d_input(x.shape, w, g, stride, padding, dilation, groups))
        if ctx.needs_input_grad[1] and not weight_gradients_disabled:
            gw = (torch.nn.grad.conv2d_weight(g, w.shape, x, stride, padding, dilation, groups) if ctx.transpose
                  else torch.nn.grad.conv2d_weight(x, w.shape, g, stride, padding, dilation, groups))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum([0, 2, 3])
        return gx, gw, gb, None, None


__all__ = ["enabled", "weight_gradients_disabled", "no_weight_gradients", "conv2d", "conv_transpose2d"]

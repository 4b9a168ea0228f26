"""upfirdn2d's kernel as a ``torch.library`` custom op (``fastgen::upfirdn2d``).

The op takes x (N, C, H, W) contiguous, the correlation kernel ``k`` (kh, kw) (float64 for
float64 x, else float32; the public function has already flipped the user's filter unless
flip_filter, folded in the gain and expanded separable filters), the up/down factors and the
padding, the backend name ("cpu", "cuda" or "triton"), and optionally ``k1``, the separable
factor of k (k = outer(k1, k1), in k's dtype), which the C++ kernels then apply in two passes.
It is linear in x, and its adjoint is itself on dy with k (and k1) flipped, up and down swapped
and the padding transposed, so its backward calls the op again: gradients of any order run on
the same kernel. k gets no gradient (filters are constants).
"""
from __future__ import annotations

from typing import Optional

import torch

from fastgen.backend import kernels


def out_size(size: int, up: int, pad0: int, pad1: int, taps: int, down: int) -> int:
    """Output length along one axis: ((size * up + pad0 + pad1 - taps) // down) + 1."""
    return (size * up + pad0 + pad1 - taps) // down + 1


@torch.library.custom_op("fastgen::upfirdn2d", mutates_args=())
def upfirdn2d(x: torch.Tensor, k: torch.Tensor, up_x: int, up_y: int, down_x: int, down_y: int, pad_x0: int,
              pad_x1: int, pad_y0: int, pad_y1: int, backend: str,
              k1: Optional[torch.Tensor] = None) -> torch.Tensor:
    kh, kw = k.shape
    out_h = out_size(x.shape[2], up_y, pad_y0, pad_y1, kh, down_y)
    out_w = out_size(x.shape[3], up_x, pad_x0, pad_x1, kw, down_x)
    return kernels("upfirdn2d", backend).upfirdn2d(x, k, up_x, up_y, down_x, down_y, pad_x0, pad_y0, out_h,
                                                   out_w, k1)


@upfirdn2d.register_fake
def _(x, k, up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1, backend, k1=None):
    kh, kw = k.shape
    return x.new_empty((x.shape[0], x.shape[1], out_size(x.shape[2], up_y, pad_y0, pad_y1, kh, down_y),
                        out_size(x.shape[3], up_x, pad_x0, pad_x1, kw, down_x)))


def _setup(ctx, inputs, output):
    x, k, *ctx.args, k1 = inputs  # up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1, backend
    ctx.save_for_backward(k, k1)
    ctx.in_hw, ctx.out_hw = x.shape[2:], output.shape[2:]


def _backward(ctx, dy):
    k, k1 = ctx.saved_tensors
    up_x, up_y, down_x, down_y, px0, px1, py0, py1, backend = ctx.args
    (h, w), (oh, ow) = ctx.in_hw, ctx.out_hw
    kh, kw = k.shape
    # Tap i of output o reads zero-inserted pixel o * down + i - pad0. Transposed: dy upsampled by
    # `down`, padded by kw - 1 - pad0 in front and enough behind for the output to be x's size.
    gx0, gy0 = kw - 1 - px0, kh - 1 - py0
    gx1 = w * up_x - ow * down_x + px0 - up_x + 1
    gy1 = h * up_y - oh * down_y + py0 - up_y + 1
    dx = upfirdn2d(dy.contiguous(), k.flip([0, 1]).contiguous(), down_x, down_y, up_x, up_y, gx0, gx1, gy0, gy1,
                   backend, None if k1 is None else k1.flip([0]).contiguous())
    return dx, None, None, None, None, None, None, None, None, None, None, None


upfirdn2d.register_autograd(_backward, setup_context=_setup)

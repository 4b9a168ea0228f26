"""filtered_lrelu's kernel passes as ``torch.library`` custom ops (``fastgen::filtered_lrelu*``).

Every pass is one tiled kernel computing, per plane and axis (k1, k2 correlation kernels, 1D =
separable or 2D, in the accumulation dtype: float64 for float64 inputs, else float32)

    S[m] = sum_i k1[i] U[m + i - pad1]   (U: the input, + bias, zero-inserted by ``up``)
    M[m] = act(S[m]) for 0 <= m < mid (the mask's frame), else 0
    y[o] = sum_j k2[j] M[o * down + j - pad2]

* ``filtered_lrelu`` (mode 0): act = clamp(lrelu(s) * gain); returns (y, mask), where mask is
  (N, C, mid_h, mid_w) uint8 (sign / clamped code per pre-activation pixel), written only when
  ``save_mask`` (else an empty tensor: nothing will differentiate);
* ``filtered_lrelu_linear`` (mode 1): act = s * gain * (1, slope or 0 by the mask): the
  derivative of mode 0 at the saved point, a linear map of its input.

The forward's backward is the linear pass *transposed* (k1 and k2 flipped and swapped, up and
down swapped, the paddings transposed) applied to dy, and the bias gradient is its sum over N,
H, W. The linear pass's backward is again the linear pass transposed; the mask is piecewise
constant in x, so nothing else depends on x: gradients of every order (R1, path length) run on
the same kernel and equal the reference's (whose lrelu and clamp have zero second derivative).
"""
from __future__ import annotations

from typing import Optional

import torch

from fastgen.backend import kernels


def mid_size(size: int, up: int, pad0: int, pad1: int, taps: int) -> int:
    """Length of the upsampled, padded and filtered image along an axis."""
    return size * up + pad0 + pad1 - taps + 1


def _taps(k: torch.Tensor) -> tuple:
    """(kh, kw) of a correlation kernel (1D: separable, the same taps along both axes)."""
    return (k.shape[0], k.shape[-1])


def _flip(k: torch.Tensor) -> torch.Tensor:
    return k.flip(list(range(k.dim()))).contiguous()


def run_pass(backend, x, b, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h, mid_w, out_h, out_w, mode,
             gain, slope, clamp):
    return kernels("filtered_lrelu", backend).run(x, b, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mid_h,
                                                  mid_w, out_h, out_w, mode, gain, slope, clamp)


def _forward_sizes(x, ku, kd, up, down, px0, px1, py0, py1):
    (kuh, kuw), (kdh, kdw) = _taps(ku), _taps(kd)
    mid_h, mid_w = mid_size(x.shape[2], up, py0, py1, kuh), mid_size(x.shape[3], up, px0, px1, kuw)
    return mid_h, mid_w, (mid_h - kdh) // down + 1, (mid_w - kdw) // down + 1


@torch.library.custom_op("fastgen::filtered_lrelu", mutates_args=())
def filtered_lrelu(x: torch.Tensor, b: Optional[torch.Tensor], ku: torch.Tensor, kd: torch.Tensor, up: int,
                   down: int, px0: int, px1: int, py0: int, py1: int, gain: float, slope: float, clamp: float,
                   save_mask: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    mid_h, mid_w, out_h, out_w = _forward_sizes(x, ku, kd, up, down, px0, px1, py0, py1)
    n, c = x.shape[:2]
    mask = torch.zeros((n, c, mid_h, mid_w) if save_mask else (0,), dtype=torch.uint8, device=x.device)
    y = run_pass(backend, x, b, mask if save_mask else None, ku, kd, up, down, px0, py0, 0, 0, mid_h, mid_w, out_h,
                 out_w, 0, gain, slope, clamp)
    return y, mask


@filtered_lrelu.register_fake
def _(x, b, ku, kd, up, down, px0, px1, py0, py1, gain, slope, clamp, save_mask, backend):
    mid_h, mid_w, out_h, out_w = _forward_sizes(x, ku, kd, up, down, px0, px1, py0, py1)
    n, c = x.shape[:2]
    mask = x.new_empty((n, c, mid_h, mid_w) if save_mask else (0,), dtype=torch.uint8)
    return x.new_empty((n, c, out_h, out_w)), mask


@torch.library.custom_op("fastgen::filtered_lrelu_linear", mutates_args=())
def filtered_lrelu_linear(t: torch.Tensor, mask: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor, up: int,
                          down: int, pad1x: int, pad1y: int, pad2x: int, pad2y: int, out_h: int, out_w: int,
                          gain: float, slope: float, backend: str) -> torch.Tensor:
    return run_pass(backend, t, None, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, mask.shape[2],
                    mask.shape[3], out_h, out_w, 1, gain, slope, -1.0)


@filtered_lrelu_linear.register_fake
def _(t, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, out_h, out_w, gain, slope, backend):
    return t.new_empty((t.shape[0], t.shape[1], out_h, out_w))


def transposed(t_hw, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y) -> tuple:
    """The linear pass's adjoint configuration (k1, k2, up, down, pads, out_h, out_w) for an
    input of spatial size ``t_hw``: tap j of output o reads M[o * down + j - pad2], so the
    adjoint zero-inserts by ``down`` and correlates with k2 flipped, padded by k2 - 1 - pad2 in
    front; likewise for stage 1."""
    (k1h, k1w), (k2h, k2w) = _taps(k1), _taps(k2)
    return (_flip(k2), _flip(k1), down, up, k2w - 1 - pad2x, k2h - 1 - pad2y, k1w - 1 - pad1x, k1h - 1 - pad1y,
            t_hw[0], t_hw[1])


def _forward_setup(ctx, inputs, output):
    x, b, ku, kd, up, down, px0, px1, py0, py1, gain, slope, clamp, save_mask, backend = inputs
    ctx.save_for_backward(ku, kd, output[1])
    ctx.args = (x.shape[2:], up, down, px0, py0, gain, slope, backend)
    ctx.has_bias = b is not None


def _forward_backward(ctx, dy, _dmask):
    ku, kd, mask = ctx.saved_tensors
    x_hw, up, down, px0, py0, gain, slope, backend = ctx.args
    if mask.dim() != 4:
        raise RuntimeError("filtered_lrelu: backward without a saved mask (save_mask was False)")
    cfg = transposed(x_hw, ku, kd, up, down, px0, py0, 0, 0)
    dx = filtered_lrelu_linear(dy.contiguous(), mask, *cfg, gain, slope, backend)
    db = None
    if ctx.has_bias and ctx.needs_input_grad[1]:
        db = dx.sum(dim=(0, 2, 3), dtype=torch.float32 if dx.dtype != torch.float64 else None).to(dx.dtype)
    return (dx, db) + (None,) * 13


filtered_lrelu.register_autograd(_forward_backward, setup_context=_forward_setup)


def _linear_setup(ctx, inputs, output):
    t, mask, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y, out_h, out_w, gain, slope, backend = inputs
    ctx.save_for_backward(mask, k1, k2)
    ctx.args = (t.shape[2:], up, down, pad1x, pad1y, pad2x, pad2y, gain, slope, backend)


def _linear_backward(ctx, g):
    mask, k1, k2 = ctx.saved_tensors
    t_hw, up, down, pad1x, pad1y, pad2x, pad2y, gain, slope, backend = ctx.args
    cfg = transposed(t_hw, k1, k2, up, down, pad1x, pad1y, pad2x, pad2y)
    return (filtered_lrelu_linear(g.contiguous(), mask, *cfg, gain, slope, backend),) + (None,) * 14


filtered_lrelu_linear.register_autograd(_linear_backward, setup_context=_linear_setup)

"""The render family's kernel primitives as ``torch.library`` custom ops (``fastgen::*``).

Each op takes the backend name ("cpu", "cuda" or "triton") as its last argument and runs the
primitive of that backend's kernel module (see ``native.py`` / ``triton.py``). The fake
implementations let ``torch.compile(fullgraph=True)`` trace through them; autograd is registered
here. Inputs arrive validated and contiguous from the public functions in ``__init__.py``.
"""
from __future__ import annotations

import torch

from fastgen.backend import kernels


def _k(backend: str):
    return kernels("render", backend)


# ---------------------------------------------------------------------------- scans
@torch.library.custom_op("fastgen::segmented_scan", mutates_args=())
def segmented_scan(x: torch.Tensor, packed_info: torch.Tensor, op: str, exclusive: bool, reverse: bool,
                   backend: str) -> torch.Tensor:
    return _k(backend).segmented_scan(x, packed_info, op, exclusive, reverse)


@segmented_scan.register_fake
def _(x, packed_info, op, exclusive, reverse, backend):
    return torch.empty_like(x)


@torch.library.custom_op("fastgen::prod_scan_backward", mutates_args=())
def prod_scan_backward(x: torch.Tensor, grad_out: torch.Tensor, packed_info: torch.Tensor, exclusive: bool,
                       backend: str) -> torch.Tensor:
    return _k(backend).prod_scan_backward(x, grad_out, packed_info, exclusive)


@prod_scan_backward.register_fake
def _(x, grad_out, packed_info, exclusive, backend):
    return torch.empty_like(x)


def _scan_setup(ctx, inputs, output):
    x, packed_info, op, exclusive, reverse, backend = inputs
    ctx.save_for_backward(x if op == "prod" else None, packed_info)
    ctx.op, ctx.exclusive, ctx.reverse, ctx.backend = op, exclusive, reverse, backend


def _scan_backward(ctx, grad):
    x, packed_info = ctx.saved_tensors
    grad = grad.contiguous()
    if ctx.op == "sum":  # the adjoint of a prefix sum is the suffix sum of the same kind
        gx = segmented_scan(grad, packed_info, "sum", ctx.exclusive, not ctx.reverse, ctx.backend)
    elif ctx.reverse:
        raise NotImplementedError("fastgen::segmented_scan: no gradient for a reverse product scan")
    else:
        gx = prod_scan_backward(x, grad, packed_info, ctx.exclusive, ctx.backend)
    return gx, None, None, None, None, None


segmented_scan.register_autograd(_scan_backward, setup_context=_scan_setup)


# ---------------------------------------------------------------------------- segment sum
@torch.library.custom_op("fastgen::segment_sum", mutates_args=())
def segment_sum(values: torch.Tensor, packed_info: torch.Tensor, n_rays: int, backend: str) -> torch.Tensor:
    return _k(backend).segment_sum(values, packed_info, n_rays)


@segment_sum.register_fake
def _(values, packed_info, n_rays, backend):
    return values.new_empty((n_rays, values.shape[1]))


@torch.library.custom_op("fastgen::segment_broadcast", mutates_args=())
def segment_broadcast(grad: torch.Tensor, packed_info: torch.Tensor, n_samples: int,
                      backend: str) -> torch.Tensor:
    return _k(backend).segment_broadcast(grad, packed_info, n_samples)


@segment_broadcast.register_fake
def _(grad, packed_info, n_samples, backend):
    return grad.new_empty((n_samples, grad.shape[1]))


def _segment_sum_setup(ctx, inputs, output):
    values, packed_info, n_rays, backend = inputs
    ctx.save_for_backward(packed_info)
    ctx.n_samples, ctx.backend = values.shape[0], backend


def _segment_sum_backward(ctx, grad):
    (packed_info,) = ctx.saved_tensors
    return segment_broadcast(grad.contiguous(), packed_info, ctx.n_samples, ctx.backend), None, None, None


segment_sum.register_autograd(_segment_sum_backward, setup_context=_segment_sum_setup)


def _segment_broadcast_setup(ctx, inputs, output):
    grad, packed_info, n_samples, backend = inputs
    ctx.save_for_backward(packed_info)
    ctx.n_rays, ctx.backend = grad.shape[0], backend


def _segment_broadcast_backward(ctx, g):
    (packed_info,) = ctx.saved_tensors
    return segment_sum(g.contiguous(), packed_info, ctx.n_rays, ctx.backend), None, None, None


segment_broadcast.register_autograd(_segment_broadcast_backward, setup_context=_segment_broadcast_setup)


# ---------------------------------------------------------------------------- weighted segment sum
@torch.library.custom_op("fastgen::weighted_segment_sum", mutates_args=())
def weighted_segment_sum(weights: torch.Tensor, values: torch.Tensor | None, packed_info: torch.Tensor,
                         n_rays: int, backend: str) -> torch.Tensor:
    """out (n_rays, C) = per-ray sum of weights (N,) times values (N, C); C = 1 and v = 1 without
    values. Accumulated in float32 for float16/bfloat16 (float64 for float64), returned in the
    input dtype."""
    return _k(backend).weighted_segment_sum(weights, values, packed_info, n_rays)


@weighted_segment_sum.register_fake
def _(weights, values, packed_info, n_rays, backend):
    return weights.new_empty((n_rays, 1 if values is None else values.shape[1]))


@torch.library.custom_op("fastgen::weighted_segment_broadcast", mutates_args=())
def weighted_segment_broadcast(grad: torch.Tensor, weights: torch.Tensor, values: torch.Tensor | None,
                               packed_info: torch.Tensor, values_grad: bool,
                               backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of weighted_segment_sum given grad (R, C): grad_w[i] = sum_c grad[r, c] v[i, c]
    and grad_v[i, c] = w_i grad[r, c] for the samples i of ray r (0 where no ray covers a sample);
    grad_v is empty (0,) without values or when values_grad is False."""
    return _k(backend).weighted_segment_broadcast(grad, weights, values, packed_info, values_grad)


@weighted_segment_broadcast.register_fake
def _(grad, weights, values, packed_info, values_grad, backend):
    want_v = values is not None and values_grad
    return torch.empty_like(weights), torch.empty_like(values) if want_v else weights.new_empty(0)


def _weighted_sum_setup(ctx, inputs, output):
    weights, values, packed_info, n_rays, backend = inputs
    ctx.save_for_backward(weights, values, packed_info)
    ctx.backend = backend


def _weighted_sum_backward(ctx, grad):
    weights, values, packed_info = ctx.saved_tensors
    grad = grad.contiguous()
    values_grad = values is not None and ctx.needs_input_grad[1]
    if not torch.is_grad_enabled():  # a plain backward: one fused kernel
        grad_w, grad_v = weighted_segment_broadcast(grad, weights, values, packed_info, values_grad, ctx.backend)
        return grad_w, grad_v if values_grad else None, None, None, None
    # create_graph (double backward): the same gradients from differentiable ops, in the compute
    # dtype (the native segment_broadcast takes float32/float64 only).
    dtype = weights.dtype
    cdt = compute_dtype(dtype)
    g = segment_broadcast(grad.to(cdt), packed_info, weights.shape[0], ctx.backend)  # grad[r] per sample
    if values is None:
        return g[:, 0].to(dtype), None, None, None, None
    grad_w = (g * values.to(cdt)).sum(-1).to(dtype) if ctx.needs_input_grad[0] else None
    grad_v = (weights.to(cdt)[:, None] * g).to(dtype) if values_grad else None
    return grad_w, grad_v, None, None, None


weighted_segment_sum.register_autograd(_weighted_sum_backward, setup_context=_weighted_sum_setup)


# ---------------------------------------------------------------------------- composite
def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype of composite and the weighted segment sum: float64 stays float64,
    everything else accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@torch.library.custom_op("fastgen::composite_forward", mutates_args=())
def composite_forward(t_starts: torch.Tensor, t_ends: torch.Tensor, sigmas: torch.Tensor, rgbs: torch.Tensor,
                      packed_info: torch.Tensor, bkgd: torch.Tensor | None, early_stop_eps: float,
                      backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _k(backend).composite_forward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps)


@composite_forward.register_fake
def _(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps, backend):
    n_rays, dtype = packed_info.shape[0], compute_dtype(sigmas.dtype)
    return (sigmas.new_empty((n_rays, 3), dtype=dtype), sigmas.new_empty((n_rays,), dtype=dtype),
            sigmas.new_empty((n_rays,), dtype=dtype))


@torch.library.custom_op("fastgen::composite_backward", mutates_args=())
def composite_backward(t_starts: torch.Tensor, t_ends: torch.Tensor, sigmas: torch.Tensor, rgbs: torch.Tensor,
                       packed_info: torch.Tensor, bkgd: torch.Tensor | None, early_stop_eps: float,
                       rgb: torch.Tensor, opacity: torch.Tensor, depth: torch.Tensor, grad_rgb: torch.Tensor,
                       grad_opacity: torch.Tensor, grad_depth: torch.Tensor,
                       backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    return _k(backend).composite_backward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps,
                                          rgb, opacity, depth, grad_rgb, grad_opacity, grad_depth)


@composite_backward.register_fake
def _(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps, rgb, opacity, depth, grad_rgb,
      grad_opacity, grad_depth, backend):
    return torch.empty_like(sigmas), torch.empty_like(rgbs)


def _composite_setup(ctx, inputs, output):
    t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps, backend = inputs
    ctx.save_for_backward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, *output)
    ctx.early_stop_eps, ctx.backend = early_stop_eps, backend


def _composite_backward(ctx, grad_rgb, grad_opacity, grad_depth):
    t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, rgb, opacity, depth = ctx.saved_tensors
    grads = [torch.zeros_like(o) if g is None else g.contiguous()
             for g, o in ((grad_rgb, rgb), (grad_opacity, opacity), (grad_depth, depth))]
    grad_sigmas = grad_rgbs = None
    if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
        grad_sigmas, grad_rgbs = composite_backward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd,
                                                    ctx.early_stop_eps, rgb, opacity, depth, *grads,
                                                    ctx.backend)
    grad_bkgd = None
    if bkgd is not None and ctx.needs_input_grad[5]:  # rgb = Craw + bkgd * (1 - opacity)
        grad_bkgd = grads[0] * (1.0 - opacity)[:, None]
    return None, None, grad_sigmas, grad_rgbs, None, grad_bkgd, None, None


composite_forward.register_autograd(_composite_backward, setup_context=_composite_setup)

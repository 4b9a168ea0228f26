"""Render-family primitives on the compiled extension (backends "cpu" and "cuda").

The contract is ``spec/render_kernels.md``: ``segmented_scan``, ``prod_scan_backward``,
``segment_sum``, ``segment_broadcast``, ``weighted_segment_sum``, ``weighted_segment_broadcast``,
``composite_forward`` and ``composite_backward``. Inputs arrive validated and contiguous; these
functions allocate the outputs with torch and hand ``fastgen._C`` raw pointers, sizes and a
dtype code, plus the thread count (CPU) or the device index and current stream (CUDA), all as
plain integers. The kernels (csrc/render/) clamp every ray to the sample range, so per-sample
outputs start zeroed: samples no ray covers stay 0 (weighted_segment_broadcast skips the fill on
CPU when the rays tile the samples: then it writes every sample).

dtypes: float32/float64 everywhere; composite and the weighted segment sum also
float16/bfloat16, loaded natively by the CUDA kernels and widened to float32 here for the CPU
ones.
"""
from __future__ import annotations

import torch

from fastgen._validate import tiles_samples
from fastgen.ops._native import dtype_code, launch

_HALF = (torch.float16, torch.bfloat16)


def segmented_scan(x, packed_info, op: str, exclusive: bool, reverse: bool):
    if op not in ("sum", "prod"):
        raise ValueError(f"segmented_scan: op must be 'sum' or 'prod', not {op!r}")
    out = torch.zeros_like(x)
    n_samples, n_rays = x.shape[0], packed_info.shape[0]
    if n_samples and n_rays:
        launch("segmented_scan", x.device, x.data_ptr(), out.data_ptr(), packed_info.data_ptr(),
                n_samples, n_rays, dtype_code(x.dtype), op == "prod", exclusive, reverse)
    return out


def prod_scan_backward(x, grad_out, packed_info, exclusive: bool):
    grad_x = torch.zeros_like(x)
    n_samples, n_rays = x.shape[0], packed_info.shape[0]
    if n_samples and n_rays:
        launch("prod_scan_backward", x.device, x.data_ptr(), grad_out.data_ptr(),
                grad_x.data_ptr(), packed_info.data_ptr(), n_samples, n_rays,
                dtype_code(x.dtype), exclusive)
    return grad_x


def segment_sum(values, packed_info, n_rays: int):
    n_samples, n_channels = values.shape
    out = values.new_zeros((n_rays, n_channels))
    if n_samples and n_rays:  # else every sum is empty: zeros
        launch("segment_sum", values.device, values.data_ptr(), out.data_ptr(),
                packed_info.data_ptr(), n_samples, n_rays, n_channels,
                dtype_code(values.dtype))
    return out


def segment_broadcast(grad, packed_info, n_samples: int):
    n_rays, n_channels = grad.shape
    out = grad.new_zeros((n_samples, n_channels))
    if n_samples and n_rays:
        launch("segment_broadcast", grad.device, grad.data_ptr(), out.data_ptr(),
                packed_info.data_ptr(), n_samples, n_rays, n_channels,
                dtype_code(grad.dtype))
    return out


def _widen_half_on_cpu(*tensors):
    """The CPU kernels take float32/float64 only: float16/bfloat16 inputs run in float32 (None
    entries stay None)."""
    if tensors[0].device.type == "cpu" and tensors[0].dtype in _HALF:
        return tuple(None if t is None else t.float() for t in tensors)
    return tensors


def _ptr(t):
    return 0 if t is None else t.data_ptr()


def weighted_segment_sum(weights, values, packed_info, n_rays: int):
    n_samples, dtype = weights.shape[0], weights.dtype
    n_channels = 1 if values is None else values.shape[1]
    if n_samples == 0 or n_rays == 0:  # every sum is empty: zeros
        return weights.new_zeros((n_rays, n_channels))
    weights, values = _widen_half_on_cpu(weights, values)
    out = weights.new_empty((n_rays, n_channels))  # every ray's row is written
    launch("weighted_segment_sum", weights.device, weights.data_ptr(), _ptr(values),
            out.data_ptr(), packed_info.data_ptr(), n_samples, n_rays, n_channels,
            dtype_code(weights.dtype))
    return out.to(dtype)


def weighted_segment_broadcast(grad, weights, values, packed_info, values_grad: bool):
    n_samples, dtype = weights.shape[0], weights.dtype
    n_rays, n_channels = grad.shape
    want_v = values is not None and values_grad
    if n_samples == 0 or n_rays == 0:
        return torch.zeros_like(weights), torch.zeros_like(values) if want_v else weights.new_empty(0)
    weights, values, grad = _widen_half_on_cpu(weights, values, grad)
    # Zero filled, so that samples no ray covers read 0, unless every sample is in a ray.
    # (the rows are read only for CPU tensors: no device sync there, and R rows cost microseconds,
    # while on CPU the fill costs as much as the kernel)
    tiled = packed_info.device.type == "cpu" and tiles_samples(packed_info, n_samples)
    alloc = torch.empty_like if tiled else torch.zeros_like
    grad_w = alloc(weights)
    grad_v = alloc(values) if want_v else None
    launch("weighted_segment_broadcast", weights.device, grad.data_ptr(), weights.data_ptr(),
            _ptr(values), grad_w.data_ptr(), _ptr(grad_v), packed_info.data_ptr(), n_samples,
            n_rays, n_channels, dtype_code(weights.dtype))
    return grad_w.to(dtype), grad_v.to(dtype) if want_v else weights.new_empty(0, dtype=dtype)


def composite_forward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps: float):
    compute = torch.float64 if sigmas.dtype == torch.float64 else torch.float32
    n_samples, n_rays = sigmas.shape[0], packed_info.shape[0]
    if n_samples == 0 or n_rays == 0:  # no samples: opacity 0, so rgb = bkgd (or 0), depth 0
        rgb = bkgd.clone() if bkgd is not None else sigmas.new_zeros((n_rays, 3), dtype=compute)
        return (rgb, sigmas.new_zeros((n_rays,), dtype=compute),
                sigmas.new_zeros((n_rays,), dtype=compute))
    # Every ray's outputs are written by the kernel: no need to zero them.
    rgb = sigmas.new_empty((n_rays, 3), dtype=compute)
    opacity = sigmas.new_empty((n_rays,), dtype=compute)
    depth = sigmas.new_empty((n_rays,), dtype=compute)
    t_starts, t_ends, sigmas, rgbs = _widen_half_on_cpu(t_starts, t_ends, sigmas, rgbs)
    launch("composite_forward", sigmas.device, t_starts.data_ptr(), t_ends.data_ptr(),
            sigmas.data_ptr(), rgbs.data_ptr(), packed_info.data_ptr(),
            0 if bkgd is None else bkgd.data_ptr(), n_samples, n_rays,
            dtype_code(sigmas.dtype), float(early_stop_eps), rgb.data_ptr(),
            opacity.data_ptr(), depth.data_ptr())
    return rgb, opacity, depth


def composite_backward(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, early_stop_eps: float,
                       rgb, opacity, depth, grad_rgb, grad_opacity, grad_depth):
    input_dtype = sigmas.dtype
    n_samples, n_rays = sigmas.shape[0], packed_info.shape[0]
    if n_samples == 0 or n_rays == 0:
        return torch.zeros_like(sigmas), torch.zeros_like(rgbs)
    t_starts, t_ends, sigmas, rgbs = _widen_half_on_cpu(t_starts, t_ends, sigmas, rgbs)
    grad_sigmas = torch.zeros_like(sigmas)
    grad_rgbs = torch.zeros_like(rgbs)
    launch("composite_backward", sigmas.device, t_starts.data_ptr(), t_ends.data_ptr(),
            sigmas.data_ptr(), rgbs.data_ptr(), packed_info.data_ptr(),
            0 if bkgd is None else bkgd.data_ptr(), n_samples, n_rays,
            dtype_code(sigmas.dtype), float(early_stop_eps), rgb.data_ptr(),
            opacity.data_ptr(), depth.data_ptr(), grad_rgb.data_ptr(), grad_opacity.data_ptr(),
            grad_depth.data_ptr(), grad_sigmas.data_ptr(), grad_rgbs.data_ptr())
    return grad_sigmas.to(input_dtype), grad_rgbs.to(input_dtype)

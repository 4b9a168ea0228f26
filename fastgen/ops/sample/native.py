"""Sample-family primitives on the compiled extension (backends "cpu" and "cuda").

Inputs arrive validated, contiguous, float32/float64, with int64 packing tensors; these functions
allocate the outputs with torch and hand ``fastgen._C`` raw pointers, sizes and a dtype code
(see ``fastgen.ops._native.launch``). The math is csrc/sample/sample.h.
"""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch


def sample_pdf(bins, weights, u, eps: float):
    out = torch.empty_like(u)
    n_rays, n = u.shape
    if n_rays and n:
        launch("sample_pdf", u.device, bins.data_ptr(), weights.data_ptr(), u.data_ptr(), out.data_ptr(),
               0, 0, n_rays, weights.shape[1], n, dtype_code(u.dtype), float(eps))
    return out


def sample_pdf_backward(bins, weights, u, grad, eps: float):
    grad_bins = torch.zeros_like(bins)
    n_rays, n = u.shape
    if n_rays and n:
        launch("sample_pdf", u.device, bins.data_ptr(), weights.data_ptr(), u.data_ptr(), 0,
               grad.data_ptr(), grad_bins.data_ptr(), n_rays, weights.shape[1], n, dtype_code(u.dtype),
               float(eps))
    return grad_bins


def searchsorted(seq, seq_info, values, value_rays):
    left, right = torch.empty_like(value_rays), torch.empty_like(value_rays)
    if values.numel():
        launch("searchsorted", values.device, seq.data_ptr(), seq_info.data_ptr(), values.data_ptr(),
               value_rays.data_ptr(), left.data_ptr(), right.data_ptr(), seq.shape[0], values.shape[0],
               seq_info.shape[0], dtype_code(values.dtype))
    return left, right


def inverse_cdf(t, cdf, info, u, u_rays, with_index: bool):
    out = torch.empty_like(u)
    n = u.shape[0] if with_index else 0
    lo, hi = (torch.empty(n, dtype=torch.long, device=u.device) for _ in range(2))
    frac = u.new_empty((n,))
    if u.numel():
        launch("inverse_cdf", u.device, t.data_ptr(), cdf.data_ptr(), info.data_ptr(), u.data_ptr(),
               u_rays.data_ptr(), out.data_ptr(), lo.data_ptr() if n else 0, hi.data_ptr() if n else 0,
               frac.data_ptr() if n else 0, t.shape[0], u.shape[0], info.shape[0], dtype_code(u.dtype))
    return out, lo, hi, frac


def merge_sorted(a, b, a_info, b_info, local: bool):
    n_out = a.shape[0] + b.shape[0]
    out = a.new_empty((n_out,))
    perm = torch.empty(n_out, dtype=torch.long, device=a.device)
    out_info = a_info + b_info  # both list their rays in order, contiguously: starts add up
    if n_out and a_info.shape[0]:
        launch("merge_sorted", a.device, a.data_ptr(), b.data_ptr(), a_info.data_ptr(), b_info.data_ptr(),
               out_info.data_ptr(), out.data_ptr(), perm.data_ptr(), a.shape[0], b.shape[0], n_out,
               a_info.shape[0], dtype_code(a.dtype), local)
    return out, perm


def distortion_forward(weights, t_starts, t_ends, packed_info):
    n_rays = packed_info.shape[0]
    loss = weights.new_empty((n_rays,))
    if n_rays:
        launch("distortion_forward", weights.device, weights.data_ptr(), t_starts.data_ptr(),
               t_ends.data_ptr(), packed_info.data_ptr(), loss.data_ptr(), 0, 0, 0, 0, weights.shape[0],
               n_rays, dtype_code(weights.dtype))
    return loss


def distortion_backward(weights, t_starts, t_ends, packed_info, grad_loss, dense: bool):
    new = torch.empty_like if dense else torch.zeros_like  # else samples no ray covers get 0
    gw, g0, g1 = new(weights), new(weights), new(weights)
    n_rays = packed_info.shape[0]
    if n_rays and weights.numel():
        launch("distortion_backward", weights.device, weights.data_ptr(), t_starts.data_ptr(),
               t_ends.data_ptr(), packed_info.data_ptr(), 0, grad_loss.data_ptr(), gw.data_ptr(),
               g0.data_ptr(), g1.data_ptr(), weights.shape[0], n_rays, dtype_code(weights.dtype))
    return gw, g0, g1

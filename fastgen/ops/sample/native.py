"""Sample-family primitives on the compiled extension (backends "cpu" and "cuda").

Inputs arrive validated, contiguous, float32/float64, with int64 packing tensors; these functions
allocate the outputs with torch and hand ``fastgen._C`` raw pointers, sizes and a dtype code
(see ``fastgen.ops._native.launch``). The math is csrc/sample/sample.h.
"""
from __future__ import annotations

import torch

from fastgen.ops._native import dtype_code, launch
from fastgen.ops.sample import _checks as C


def _ptr(t):
    return t.data_ptr() if t is not None else 0


def sample_pdf(bins, weights, u, eps: float, check: bool, with_index: bool):
    """(samples, below, frac). u: (n_rays, n), or (1, n) shared by every ray. ``check``: the kernel
    also checks the data. ``with_index``: also record each sample's bin (int32) and f for the
    backward (else they are empty)."""
    n_rays, n = bins.shape[0], u.shape[1]
    out = u.new_empty((n_rays, n))
    shape = (n_rays, n) if with_index else (0,)
    below, frac = torch.empty(shape, dtype=torch.int32, device=u.device), u.new_empty(shape)
    flag = C.error_flag(u.device) if check and n_rays else None
    if n_rays and n:
        launch("sample_pdf", u.device, bins.data_ptr(), weights.data_ptr(), u.data_ptr(), out.data_ptr(),
               0, 0, _ptr(flag), below.data_ptr() if with_index else 0, frac.data_ptr() if with_index else 0,
               n_rays, weights.shape[1], n, n if u.shape[0] > 1 else 0, dtype_code(u.dtype), float(eps))
    if flag is not None:
        C.raise_pdf_error(int(flag))  # on CUDA (FASTGEN_CHECKS=1 only) a sync, as the checks were
    return out, below, frac


def sample_pdf_backward(bins, weights, u, grad, below, frac, eps: float):
    """From the forward's record (below, frac) when it has one, else by walking the CDF again."""
    grad_bins = torch.empty_like(bins)  # the kernels write whole rows
    n_rays, n = grad.shape
    if n_rays and n and below.numel() == grad.numel():
        launch("sample_pdf_grad", grad.device, below.data_ptr(), frac.data_ptr(), grad.data_ptr(),
               grad_bins.data_ptr(), n_rays, weights.shape[1], n, dtype_code(grad.dtype))
    elif n_rays and n:
        launch("sample_pdf", u.device, bins.data_ptr(), weights.data_ptr(), u.data_ptr(), 0,
               grad.data_ptr(), grad_bins.data_ptr(), 0, 0, 0, n_rays, weights.shape[1], n,
               n if u.shape[0] > 1 else 0, dtype_code(u.dtype), float(eps))
    elif n_rays:
        grad_bins.zero_()
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


def _merge_sizes(a, b, a_info):
    n_rays = a.shape[0] if a_info is None else a_info.shape[0]
    return a.numel(), b.numel(), n_rays


def merge_sorted(a, b, a_info, b_info, check: bool):
    """Packed (flat a, b with a_info, b_info) or batched (a_info None: rows (n_rays, Sa), (n_rays, Sb))."""
    n_a, n_b, n_rays = _merge_sizes(a, b, a_info)
    shape = (n_a + n_b,) if a_info is not None else (n_rays, a.shape[1] + b.shape[1])
    out = a.new_empty(shape)
    perm = torch.empty(shape, dtype=torch.long, device=a.device)
    flag = C.error_flag(a.device) if check and n_rays else None
    if n_a + n_b and n_rays:
        launch("merge_sorted", a.device, a.data_ptr(), b.data_ptr(), _ptr(a_info), _ptr(b_info),
               out.data_ptr(), perm.data_ptr(), _ptr(flag), 0, 0, 0, n_a, n_b, n_rays, dtype_code(a.dtype))
    if flag is not None:
        C.raise_merge_error(int(flag))
    return out, perm


def merge_sorted_backward(perm, grad, a_info, b_info, size_a: int, size_b: int):
    """size_a, size_b: lengths of a and b (packed) or of their rows (batched)."""
    if a_info is not None:  # packed info may (on an unchecked device) leave entries no ray covers
        n_rays, n_a, n_b = a_info.shape[0], size_a, size_b
        grad_a, grad_b = grad.new_zeros((size_a,)), grad.new_zeros((size_b,))
    else:  # batched: every entry of a and b is some output's, so the kernel writes them all
        n_rays = grad.shape[0]
        n_a, n_b = n_rays * size_a, n_rays * size_b
        grad_a, grad_b = grad.new_empty((n_rays, size_a)), grad.new_empty((n_rays, size_b))
    if n_a + n_b and n_rays:
        launch("merge_sorted_backward", grad.device, 0, 0, _ptr(a_info), _ptr(b_info), 0, perm.data_ptr(), 0,
               grad.data_ptr(), grad_a.data_ptr(), grad_b.data_ptr(), n_a, n_b, n_rays, dtype_code(grad.dtype))
    return grad_a, grad_b


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

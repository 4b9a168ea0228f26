"""The sample family's kernel primitives as ``torch.library`` custom ops (``fastgen::*``).

Each op takes the backend name ("cpu", "cuda" or "triton") as its last argument and runs the
primitive of that backend's kernel module (``native.py`` / ``triton.py``). Fake implementations
let ``torch.compile(fullgraph=True)`` trace through them; autograd is registered here. Inputs
arrive validated, contiguous and in float32/float64 from the public functions in ``__init__.py``.
"""
from __future__ import annotations

from typing import Optional

import torch

from fastgen.backend import kernels


def _k(backend: str):
    return kernels("sample", backend)


# ---------------------------------------------------------------------------- sample_pdf
@torch.library.custom_op("fastgen::sample_pdf_forward", mutates_args=())
def sample_pdf_forward(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor, eps: float, check: bool,
                       with_index: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(samples (n_rays, n), below, frac); ``u`` is (n_rays, n) or one row (1, n) for every ray.
    ``check``: also check the data (bins non-decreasing, weights >= 0, not NaN), raising
    ValueError. ``with_index``: the native kernels also record each sample's bin (int32) and
    interpolation weight for the backward; below and frac are empty otherwise (and on triton)."""
    return _k(backend).sample_pdf(bins, weights, u, eps, check, with_index)


@sample_pdf_forward.register_fake
def _(bins, weights, u, eps, check, with_index, backend):
    shape = (bins.shape[0], u.shape[1]) if with_index and backend in ("cpu", "cuda") else (0,)
    return (u.new_empty((bins.shape[0], u.shape[1])), u.new_empty(shape, dtype=torch.int32),
            u.new_empty(shape))


@torch.library.custom_op("fastgen::sample_pdf_backward", mutates_args=())
def sample_pdf_backward(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor, grad: torch.Tensor,
                        below: torch.Tensor, frac: torch.Tensor, eps: float, backend: str) -> torch.Tensor:
    return _k(backend).sample_pdf_backward(bins, weights, u, grad, below, frac, eps)


@sample_pdf_backward.register_fake
def _(bins, weights, u, grad, below, frac, eps, backend):
    return torch.empty_like(bins)


def _sample_pdf_setup(ctx, inputs, output):
    bins, weights, u, eps, check, with_index, backend = inputs
    ctx.save_for_backward(bins, weights, u, output[1], output[2])
    ctx.eps, ctx.backend = eps, backend
    ctx.set_materialize_grads(False)  # below / frac are records, not results: no zero gradients


def _sample_pdf_backward(ctx, grad, grad_below, grad_frac):
    if grad is None:
        return None, None, None, None, None, None, None
    bins, weights, u, below, frac = ctx.saved_tensors
    grad_bins = sample_pdf_backward(bins, weights, u, grad.contiguous(), below, frac, ctx.eps, ctx.backend)
    return grad_bins, None, None, None, None, None, None  # weights: no gradient, as in NeRF


sample_pdf_forward.register_autograd(_sample_pdf_backward, setup_context=_sample_pdf_setup)


# ---------------------------------------------------------------------------- searchsorted / inverse CDF
@torch.library.custom_op("fastgen::searchsorted_packed", mutates_args=())
def searchsorted_packed(seq: torch.Tensor, seq_info: torch.Tensor, values: torch.Tensor,
                        value_rays: torch.Tensor, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    return _k(backend).searchsorted(seq, seq_info, values, value_rays)


@searchsorted_packed.register_fake
def _(seq, seq_info, values, value_rays, backend):
    return torch.empty_like(value_rays), torch.empty_like(value_rays)


@torch.library.custom_op("fastgen::inverse_cdf", mutates_args=())
def inverse_cdf(t: torch.Tensor, cdf: torch.Tensor, info: torch.Tensor, u: torch.Tensor, u_rays: torch.Tensor,
                with_index: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(values, lo, hi, frac): values = t[lo] + frac * (t[hi] - t[lo]); lo = -1 where a ray has no
    edges. lo/hi/frac are empty unless ``with_index`` (they let the caller differentiate w.r.t. t)."""
    return _k(backend).inverse_cdf(t, cdf, info, u, u_rays, with_index)


@inverse_cdf.register_fake
def _(t, cdf, info, u, u_rays, with_index, backend):
    n = u.shape[0] if with_index else 0
    return (torch.empty_like(u), u.new_empty((n,), dtype=torch.long), u.new_empty((n,), dtype=torch.long),
            u.new_empty((n,)))


# ---------------------------------------------------------------------------- merge_sorted
@torch.library.custom_op("fastgen::merge_sorted", mutates_args=())
def merge_sorted(a: torch.Tensor, b: torch.Tensor, a_info: Optional[torch.Tensor], b_info: Optional[torch.Tensor],
                 check: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, perm). Packed: flat a, b with a_info, b_info; perm indexes the flat [a, b]. Batched
    (no info): rows (n_rays, Sa), (n_rays, Sb) -> (n_rays, Sa + Sb); perm indexes each ray's own
    row [a_r, b_r]. ``check``: also check that a and b are sorted within each ray."""
    return _k(backend).merge_sorted(a, b, a_info, b_info, check)


@merge_sorted.register_fake
def _(a, b, a_info, b_info, check, backend):
    shape = (a.shape[0] + b.shape[0],) if a_info is not None else (a.shape[0], a.shape[1] + b.shape[1])
    return a.new_empty(shape), a.new_empty(shape, dtype=torch.long)


@torch.library.custom_op("fastgen::merge_sorted_backward", mutates_args=())
def merge_sorted_backward(perm: torch.Tensor, grad: torch.Tensor, a_info: Optional[torch.Tensor],
                          b_info: Optional[torch.Tensor], size_a: int, size_b: int,
                          backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_a, grad_b): each output's gradient sent back to its entry of a or b through perm.
    ``size_a``, ``size_b``: the lengths of a and b (packed) or of their rows (batched)."""
    return _k(backend).merge_sorted_backward(perm, grad, a_info, b_info, size_a, size_b)


@merge_sorted_backward.register_fake
def _(perm, grad, a_info, b_info, size_a, size_b, backend):
    if a_info is not None:
        return grad.new_empty((size_a,)), grad.new_empty((size_b,))
    return grad.new_empty((grad.shape[0], size_a)), grad.new_empty((grad.shape[0], size_b))


def _merge_setup(ctx, inputs, output):
    a, b, a_info, b_info, check, backend = inputs
    ctx.save_for_backward(a_info, b_info, output[1])
    ctx.size_a, ctx.size_b, ctx.backend = a.shape[-1], b.shape[-1], backend
    # perm (int64) has no gradient: without this autograd would fill a zero tensor the size of
    # perm for it on every backward
    ctx.set_materialize_grads(False)


def _merge_backward(ctx, grad_out, grad_perm):
    if grad_out is None:  # only perm was used
        return None, None, None, None, None, None
    a_info, b_info, perm = ctx.saved_tensors
    grad_a, grad_b = merge_sorted_backward(perm, grad_out.contiguous(), a_info, b_info, ctx.size_a, ctx.size_b,
                                           ctx.backend)
    return grad_a, grad_b, None, None, None, None


merge_sorted.register_autograd(_merge_backward, setup_context=_merge_setup)


# ---------------------------------------------------------------------------- distortion
@torch.library.custom_op("fastgen::distortion_forward", mutates_args=())
def distortion_forward(weights: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor,
                       packed_info: torch.Tensor, dense: bool, backend: str) -> torch.Tensor:
    """Per-ray loss; ``dense``: the rays cover every sample (batched), so the backward need not
    zero its outputs first."""
    return _k(backend).distortion_forward(weights, t_starts, t_ends, packed_info)


@distortion_forward.register_fake
def _(weights, t_starts, t_ends, packed_info, dense, backend):
    return weights.new_empty((packed_info.shape[0],))


@torch.library.custom_op("fastgen::distortion_backward", mutates_args=())
def distortion_backward(weights: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor,
                        packed_info: torch.Tensor, grad_loss: torch.Tensor, dense: bool,
                        backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _k(backend).distortion_backward(weights, t_starts, t_ends, packed_info, grad_loss, dense)


@distortion_backward.register_fake
def _(weights, t_starts, t_ends, packed_info, grad_loss, dense, backend):
    return torch.empty_like(weights), torch.empty_like(weights), torch.empty_like(weights)


def _distortion_setup(ctx, inputs, output):
    weights, t_starts, t_ends, packed_info, dense, backend = inputs
    ctx.save_for_backward(weights, t_starts, t_ends, packed_info)
    ctx.dense, ctx.backend = dense, backend


def _distortion_backward(ctx, grad):
    weights, t_starts, t_ends, packed_info = ctx.saved_tensors
    gw, g0, g1 = distortion_backward(weights, t_starts, t_ends, packed_info, grad.contiguous(), ctx.dense,
                                     ctx.backend)
    return gw, g0, g1, None, None, None


distortion_forward.register_autograd(_distortion_backward, setup_context=_distortion_setup)

"""The sample family's kernel primitives as ``torch.library`` custom ops (``fastgen::*``).

Each op takes the backend name ("cpu", "cuda" or "triton") as its last argument and runs the
primitive of that backend's kernel module (``native.py`` / ``triton.py``). Fake implementations
let ``torch.compile(fullgraph=True)`` trace through them; autograd is registered here. Inputs
arrive validated, contiguous and in float32/float64 from the public functions in ``__init__.py``.
"""
from __future__ import annotations

import torch

from fastgen.backend import kernels


def _k(backend: str):
    return kernels("sample", backend)


# ---------------------------------------------------------------------------- sample_pdf
@torch.library.custom_op("fastgen::sample_pdf_forward", mutates_args=())
def sample_pdf_forward(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor, eps: float,
                       backend: str) -> torch.Tensor:
    return _k(backend).sample_pdf(bins, weights, u, eps)


@sample_pdf_forward.register_fake
def _(bins, weights, u, eps, backend):
    return torch.empty_like(u)


@torch.library.custom_op("fastgen::sample_pdf_backward", mutates_args=())
def sample_pdf_backward(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor, grad: torch.Tensor,
                        eps: float, backend: str) -> torch.Tensor:
    return _k(backend).sample_pdf_backward(bins, weights, u, grad, eps)


@sample_pdf_backward.register_fake
def _(bins, weights, u, grad, eps, backend):
    return torch.empty_like(bins)


def _sample_pdf_setup(ctx, inputs, output):
    bins, weights, u, eps, backend = inputs
    ctx.save_for_backward(bins, weights, u)
    ctx.eps, ctx.backend = eps, backend


def _sample_pdf_backward(ctx, grad):
    bins, weights, u = ctx.saved_tensors
    grad_bins = sample_pdf_backward(bins, weights, u, grad.contiguous(), ctx.eps, ctx.backend)
    return grad_bins, None, None, None, None  # weights: no gradient, as in NeRF


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
def merge_sorted(a: torch.Tensor, b: torch.Tensor, a_info: torch.Tensor, b_info: torch.Tensor, local: bool,
                 backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, perm): perm indexes the flat [a, b], or with ``local`` (batched rows of equal
    length) each ray's own row [a_r, b_r]."""
    return _k(backend).merge_sorted(a, b, a_info, b_info, local)


@merge_sorted.register_fake
def _(a, b, a_info, b_info, local, backend):
    n = a.shape[0] + b.shape[0]
    return a.new_empty((n,)), a.new_empty((n,), dtype=torch.long)


def _merge_setup(ctx, inputs, output):
    a, b, a_info, b_info, local, backend = inputs
    ctx.save_for_backward(output[1])
    ctx.n_a, ctx.n_b, ctx.n_rays, ctx.local = a.shape[0], b.shape[0], a_info.shape[0], local


def _merge_backward(ctx, grad_out, grad_perm):
    (perm,) = ctx.saved_tensors
    if ctx.local:  # equal-length rows: scatter each row back into its [a_r, b_r]
        sa = ctx.n_a // ctx.n_rays
        g = torch.empty_like(grad_out).view(ctx.n_rays, -1).scatter_(
            1, perm.view(ctx.n_rays, -1), grad_out.view(ctx.n_rays, -1))
        return g[:, :sa].reshape(-1), g[:, sa:].reshape(-1), None, None, None, None
    # perm is a permutation of the flat [a, b]: the gradient is the inverse gather
    g = grad_out.new_empty(perm.shape[0]).index_put_((perm,), grad_out)
    return g[:ctx.n_a], g[ctx.n_a:], None, None, None, None


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

"""The data checks of ``sample_pdf`` and ``merge_sorted`` (they read the values), shared by the
backends: the native kernels ("cpu", "cuda") run them inside the kernel pass and report error bits
(``SamplePdfError`` / ``MergeError`` in csrc/sample/sample.h), the others compute the same bits
with torch here. Either way :func:`raise_pdf_error` / :func:`raise_merge_error` turn the bits into
the same messages.
"""
from __future__ import annotations

import torch

# Bit values of csrc/sample/sample.h.
BINS_DECREASING, BAD_WEIGHTS = 1, 2
A_NOT_SORTED, B_NOT_SORTED = 1, 2


def error_flag(device: torch.device) -> torch.Tensor:
    """The int32 word a native kernel sets its error bits in."""
    return torch.zeros(1, dtype=torch.int32, device=device)


def pdf_error_bits(bins: torch.Tensor, weights: torch.Tensor) -> int:
    bits = BINS_DECREASING if bool((bins[:, 1:] < bins[:, :-1]).any()) else 0
    if not bool((weights >= 0).all()):  # one pass: NaN compares false too
        bits |= BAD_WEIGHTS
    return bits


def raise_pdf_error(bits: int) -> None:
    if bits & BINS_DECREASING:
        raise ValueError("sample_pdf: bins must be non-decreasing along each ray")
    if bits & BAD_WEIGHTS:
        raise ValueError("sample_pdf: weights must be >= 0 and not NaN")


def unsorted(vals: torch.Tensor, rays: torch.Tensor | None = None) -> bool:
    """Whether vals decrease somewhere along the last dim (batched) or within a ray (packed: the
    ray of each entry given)."""
    if vals.shape[-1] < 2:
        return False
    step = vals[..., 1:] < vals[..., :-1]
    if rays is not None:
        step = step & (rays[1:] == rays[:-1])
    return bool(step.any())


def merge_error_bits(a, b, a_rays=None, b_rays=None) -> int:
    """Bits for a / b not sorted along the last dim (batched) or within each ray (packed: the ray
    of each entry given)."""
    return (A_NOT_SORTED if unsorted(a, a_rays) else 0) | (B_NOT_SORTED if unsorted(b, b_rays) else 0)


def raise_merge_error(bits: int) -> None:
    for bit, name in ((A_NOT_SORTED, "a"), (B_NOT_SORTED, "b")):
        if bits & bit:
            raise ValueError(f"merge_sorted: {name} must be sorted (non-decreasing) within each ray")

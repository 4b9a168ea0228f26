"""Input checks shared by every op: shape, dtype, device and index checks with clear messages.

Two kinds of checks:

* metadata checks (types, shapes, dtypes, devices) cost nothing and always run;
* data checks (index ranges, sortedness, packed_info consistency) read tensor values. On CPU
  tensors they always run. On CUDA tensors they would force a host-device synchronisation, so
  they run only when the environment variable ``FASTGEN_CHECKS=1`` is set. Under
  ``torch.compile`` they are skipped. Kernels clamp every ray segment to the sample range, so
  bad indices that slip past an unchecked call give wrong numbers, never an out-of-bounds access.

Every error raised here is a :class:`ValueError` (shapes, values, devices) or :class:`TypeError`
(types, dtypes) whose message starts with the op name.
"""
from __future__ import annotations

import os

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INDEX_DTYPES = (torch.int32, torch.int64)


def data_checks_enabled(device: torch.device) -> bool:
    """Whether value-reading checks run for tensors on ``device`` (see module docstring)."""
    if torch.compiler.is_compiling():
        return False
    return device.type != "cuda" or os.environ.get("FASTGEN_CHECKS", "0") == "1"


def tensor(op: str, name: str, t, *, ndim=None, dtypes=None) -> torch.Tensor:
    """Check that ``t`` is a tensor (with ``ndim`` dims and a dtype in ``dtypes``) and return it."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{op}: {name} must have {want} dimension(s), got shape {tuple(t.shape)}")
    if dtypes is not None and t.dtype not in dtypes:
        want = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{op}: {name} must have dtype in ({want}), got {str(t.dtype).replace('torch.', '')}")
    return t


def floating(op: str, name: str, t, *, ndim=None) -> torch.Tensor:
    return tensor(op, name, t, ndim=ndim, dtypes=FLOAT_DTYPES)


def same_shape(op: str, reference_name: str, reference: torch.Tensor, **others) -> None:
    for name, t in others.items():
        if t is not None and t.shape != reference.shape:
            raise ValueError(f"{op}: {name} must have the shape of {reference_name} "
                             f"{tuple(reference.shape)}, got {tuple(t.shape)}")


def same_dtype(op: str, **tensors) -> None:
    named = [(n, t) for n, t in tensors.items() if t is not None]
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {str(t.dtype).replace('torch.', '')} but "
                            f"{first_name} has {str(first.dtype).replace('torch.', '')}; pass one dtype")


def same_device(op: str, **tensors) -> torch.device:
    named = [(n, t) for n, t in tensors.items() if t is not None]
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.device != first.device:
            raise ValueError(f"{op}: all tensors must be on one device; {first_name} is on "
                             f"{first.device} but {name} is on {t.device}")
    return first.device


def n_rays_arg(op: str, n_rays) -> int:
    if isinstance(n_rays, bool) or not isinstance(n_rays, int) or n_rays < 0:
        raise ValueError(f"{op}: n_rays must be a non-negative int, got {n_rays!r}")
    return n_rays


def ray_indices(op: str, ray_idx, n_samples: int, n_rays: int | None) -> torch.Tensor:
    """Check ``ray_indices`` (n_samples,) int, sorted, in [0, n_rays); return it as int64."""
    tensor(op, "ray_indices", ray_idx, ndim=1, dtypes=INDEX_DTYPES)
    if ray_idx.shape[0] != n_samples:
        raise ValueError(f"{op}: ray_indices must have one entry per sample ({n_samples}), "
                         f"got {ray_idx.shape[0]}")
    if data_checks_enabled(ray_idx.device) and n_samples > 0:
        if bool((ray_idx[1:] < ray_idx[:-1]).any()):
            raise ValueError(f"{op}: ray_indices must be sorted in non-decreasing order "
                             "(samples of one ray must be contiguous)")
        lo, hi = int(ray_idx[0]), int(ray_idx[-1])
        if lo < 0:
            raise ValueError(f"{op}: ray_indices must be >= 0, got {lo}")
        if n_rays is not None and hi >= n_rays:
            raise ValueError(f"{op}: ray_indices must be < n_rays={n_rays}, got {hi}")
    return ray_idx.long()


def packed_info(op: str, info, n_samples: int) -> torch.Tensor:
    """Check ``packed_info`` (n_rays, 2) int = (start, count) rows inside [0, n_samples)."""
    tensor(op, "packed_info", info, ndim=2, dtypes=INDEX_DTYPES)
    if info.shape[1] != 2:
        raise ValueError(f"{op}: packed_info must have shape (n_rays, 2) = (start, count) per ray, "
                         f"got {tuple(info.shape)}")
    if data_checks_enabled(info.device) and info.shape[0] > 0:
        starts, counts = info[:, 0].long(), info[:, 1].long()
        if bool((counts < 0).any()) or bool((starts < 0).any()):
            raise ValueError(f"{op}: packed_info has negative starts or counts")
        # counts > n_samples - starts, not starts + counts > n_samples: the sum can wrap around
        past = (counts > n_samples - starts.clamp_max(n_samples)) | (starts > n_samples)
        if bool(past.any()):
            end = max(s + c for s, c in zip(starts[past].tolist(), counts[past].tolist()))  # Python ints
            raise ValueError(f"{op}: packed_info is inconsistent with the sample count: a ray ends "
                             f"at sample {end} but there are only {n_samples} samples")
        _no_overlap(op, starts, counts)
    return info.long().contiguous()


def _no_overlap(op: str, starts: torch.Tensor, counts: torch.Tensor) -> None:
    """Non-empty rays must not share samples: per-sample outputs and gradients would be written
    by two rays (the kernels do not accumulate them), so the result would be undefined."""
    keep = counts > 0
    s, c = starts[keep], counts[keep]
    if s.shape[0] < 2:
        return
    if not bool((s[1:] >= s[:-1]).all()):  # rows out of order: sort them by start (rare)
        s, order = torch.sort(s)
        c = c[order]
    if bool((s[1:] < s[:-1] + c[:-1]).any()):
        raise ValueError(f"{op}: packed_info has rays that overlap (share samples); each sample "
                         "may belong to one ray only")


def tiles_samples(info: torch.Tensor, n_samples: int) -> bool:
    """Whether the rows (start, count) of ``info`` cover [0, n_samples) back to back, in order,
    every sample once (start = exclusive cumsum of the counts; starts and counts >= 0, so no int64
    wrap-around can fake the chain). Reads the values: a device sync on CUDA, so the callers use it
    for CPU tensors."""
    if info.shape[0] == 0:
        return n_samples == 0
    starts, counts = info[:, 0], info[:, 1]
    return int(starts[-1] + counts[-1]) == n_samples and \
        bool(((counts >= 0) & (starts >= 0) & (starts == torch.cumsum(counts, 0) - counts)).all())

"""Render-family cases: fused ``composite`` and the nerfacc-style weights-then-accumulate path.

Both compute the same per-ray outputs (rgb, opacity, depth) from the same packed samples, so
their timings compare directly: ``composite`` in one op, the other as nerfacc's ``rendering``
does it (``render_weight_from_density`` then three ``accumulate_along_rays``).

Inputs model what an occupancy-grid ray marcher produces: per-ray sample counts uniform in
0..128 (mean 64; empty rays included), sorted non-overlapping intervals in [2, 6] with gaps where
empty space was skipped, densities peaked around one surface per ray (none for 30% of rays)
and zero in most empty space, colours in [0, 1].
"""
from __future__ import annotations

from functools import lru_cache, partial

import torch

import fastgen
from benchmarks.harness import Baseline, Case, Inputs, Outputs, kernel_bytes, nbytes
from fastgen.ops.render import reference

N_RAYS = {"full": 1 << 20, "quick": 1 << 14, "smoke": 1 << 8}
MAX_SAMPLES = 128
NEAR, FAR = 2.0, 6.0
SEED = 0


def make_packed_samples(device: torch.device, size: str) -> Inputs:
    """Deterministic packed samples for ``N_RAYS[size]`` rays (generated on CPU, then moved)."""
    return dict(_packed_samples(device, size))


@lru_cache(maxsize=1)  # both cases use the same samples; the full size takes seconds to make
def _packed_samples(device: torch.device, size: str) -> Inputs:
    n_rays = N_RAYS[size]
    g = torch.Generator().manual_seed(SEED)
    counts = torch.randint(0, MAX_SAMPLES + 1, (n_rays,), generator=g)
    ray_indices = torch.repeat_interleave(torch.arange(n_rays), counts)
    n = ray_indices.numel()

    # Each sample owns a random share of its ray's [NEAR, FAR] and covers 50-100% of it; the
    # rest is a gap. float64 keeps the long running sum exact enough.
    share = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    ray_total = torch.zeros(n_rays, dtype=torch.float64).index_add_(0, ray_indices, share)
    ray_base = torch.cumsum(ray_total, 0) - ray_total
    scale = (FAR - NEAR) / ray_total.clamp_min(1e-12)[ray_indices]
    t_ends = NEAR + (torch.cumsum(share, 0) - ray_base[ray_indices]) * scale
    coverage = 0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    t_starts = t_ends - coverage * share * scale

    surface = NEAR + 1.0 + 2.0 * torch.rand(n_rays, generator=g)
    peak = 40.0 * (torch.rand(n_rays, generator=g) < 0.7)
    mid = ((t_starts + t_ends) / 2).float()
    bump = peak[ray_indices] * torch.exp(-(((mid - surface[ray_indices]) / 0.3) ** 2))
    sigmas = torch.relu(bump + torch.randn(n, generator=g) - 1.0)

    packed_info = torch.stack([torch.cumsum(counts, 0) - counts, counts], -1)
    tensors = {
        "t_starts": t_starts.float(), "t_ends": t_ends.float(), "sigmas": sigmas,
        "rgbs": torch.rand(n, 3, generator=g), "ray_indices": ray_indices,
        "packed_info": packed_info,
    }
    return {**{k: v.to(device) for k, v in tensors.items()}, "n_rays": n_rays}


def _shape(x: Inputs) -> dict:
    return {"n_rays": x["n_rays"], "n_samples": x["sigmas"].numel(),
            "samples_per_ray": f"0..{MAX_SAMPLES}"}


def _composite(x: Inputs, composite) -> Outputs:
    return composite(x["t_starts"], x["t_ends"], x["sigmas"], x["rgbs"],
                     packed_info=x["packed_info"], n_rays=x["n_rays"])


def _composite_bytes(x: Inputs, direction: str) -> int:
    """One fused op: reads the samples and packed_info, writes rgb, opacity and depth per ray."""
    return kernel_bytes(
        direction,
        reads=nbytes(x["t_starts"], x["t_ends"], x["sigmas"], x["rgbs"], x["packed_info"]),
        writes=x["n_rays"] * 5 * x["sigmas"].element_size(),
        grads=nbytes(x["sigmas"], x["rgbs"]))


def _weights_then_accumulate(x: Inputs, render_weight_from_density,
                             accumulate_along_rays) -> Outputs:
    """rgb, opacity and depth the way nerfacc's ``rendering`` computes them."""
    n_rays, ray_indices = x["n_rays"], x["ray_indices"]
    weights, _, _ = render_weight_from_density(x["t_starts"], x["t_ends"], x["sigmas"],
                                               packed_info=x["packed_info"], n_rays=n_rays)
    rgb = accumulate_along_rays(weights, values=x["rgbs"], ray_indices=ray_indices, n_rays=n_rays)
    opacity = accumulate_along_rays(weights, values=None, ray_indices=ray_indices, n_rays=n_rays)
    midpoints = ((x["t_starts"] + x["t_ends"]) / 2.0)[:, None]
    depth = accumulate_along_rays(weights, values=midpoints, ray_indices=ray_indices, n_rays=n_rays)
    return rgb, opacity, depth / opacity.clamp_min(torch.finfo(weights.dtype).eps)


def _weights_then_accumulate_bytes(x: Inputs, direction: str) -> int:
    """The sum over the four public-op calls of each call's minimal traffic.

    ``render_weight_from_density`` writes weights, transmittance and alphas (only the weights get
    a gradient); each ``accumulate_along_rays`` reads the weights, its values and ray_indices.
    Elementwise glue (midpoints, depth normalisation, summing weight gradients) is not counted.
    """
    sample = nbytes(x["sigmas"])
    per_ray = x["n_rays"] * x["sigmas"].element_size()
    ray_indices, rgbs = nbytes(x["ray_indices"]), nbytes(x["rgbs"])
    weights = kernel_bytes(
        direction, reads=nbytes(x["t_starts"], x["t_ends"], x["sigmas"], x["packed_info"]),
        writes=3 * sample, grads=sample, grad_outputs=sample)
    rgb = kernel_bytes(direction, reads=sample + rgbs + ray_indices, writes=3 * per_ray,
                       grads=sample + rgbs)
    opacity = kernel_bytes(direction, reads=sample + ray_indices, writes=per_ray, grads=sample)
    depth = kernel_bytes(direction, reads=2 * sample + ray_indices, writes=per_ray, grads=sample)
    return weights + rgb + opacity + depth


def _composite_fastgen(x: Inputs, backend: str) -> Outputs:
    return _composite(x, partial(fastgen.composite, backend=backend))


def _composite_reference(x: Inputs) -> Outputs:
    return _composite(x, reference.composite)


def _weights_then_accumulate_fastgen(x: Inputs, backend: str) -> Outputs:
    return _weights_then_accumulate(x, partial(fastgen.render_weight_from_density, backend=backend),
                                    partial(fastgen.accumulate_along_rays, backend=backend))


def _weights_then_accumulate_reference(x: Inputs) -> Outputs:
    return _weights_then_accumulate(x, reference.render_weight_from_density,
                                    reference.accumulate_along_rays)


def _nerfacc(x: Inputs) -> Outputs:
    import nerfacc

    return _weights_then_accumulate(x, nerfacc.render_weight_from_density,
                                    nerfacc.accumulate_along_rays)


# nerfacc has no fused composite: its baseline for both cases is its weights-then-accumulate path.
NERFACC = {"nerfacc": Baseline("nerfacc", _nerfacc)}

CASES = [
    Case(name="composite", op="composite", make_inputs=make_packed_samples, shape=_shape,
         bytes_moved=_composite_bytes, fastgen=_composite_fastgen, reference=_composite_reference,
         differentiable=("sigmas", "rgbs"), baselines=NERFACC),
    Case(name="weights+accumulate", op="render_weight_from_density+accumulate_along_rays",
         make_inputs=make_packed_samples, shape=_shape, bytes_moved=_weights_then_accumulate_bytes,
         fastgen=_weights_then_accumulate_fastgen, reference=_weights_then_accumulate_reference,
         differentiable=("sigmas", "rgbs"), baselines=NERFACC),
]

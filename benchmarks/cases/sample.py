"""Sample-family cases: NeRF's coarse-to-fine resampling (``sample_pdf`` + ``merge_sorted``), packed
``importance_sampling`` of ragged intervals, and the ``distortion`` loss forward+backward.

* ``sample_pdf+merge``: 2^18 rays, 64 coarse bins (65 sorted edges in [2, 6], random weights with
  30% of rays empty) -> 128 fine samples (``det=True``, so every backend computes the same
  samples), merged with the 65 coarse edges. The reference is NeRF's: torch.searchsorted +
  gather, then torch.sort of the concatenation. fwd+bwd differentiates the bins.
* ``importance_sampling``: 2^18 rays with 2..64 interval edges each (packed), CDFs of random
  weights, resampled to 32 intervals per ray; fwd+bwd differentiates the input edges (nerfacc's
  op has no backward: its baseline is forward only). nerfacc is the baseline where installed (CUDA).
* ``distortion``: 2^20 rays x 48 samples (batched), forward+backward w.r.t. all three inputs.

``quick`` sizes divide the rays by 64 (seconds on a CPU); ``smoke`` uses 64 rays.
Bytes (``bytes_moved``) are each op's minimal reads + writes (see harness.kernel_bytes), summed
over the ops of a case.
"""
from __future__ import annotations

import torch

from benchmarks.harness import Baseline, Case, Inputs, Outputs, kernel_bytes, nbytes
from fastgen.nerf import RayIntervals, distortion, importance_sampling, merge_sorted, sample_pdf
from fastgen.ops.sample import reference

SEED = 0
N_COARSE, N_FINE, N_RESAMPLE, DIST_SAMPLES = 64, 128, 32, 48


def _rays(full_log2: int, size: str) -> int:
    return {"full": 1 << full_log2, "quick": 1 << (full_log2 - 6), "smoke": 64}[size]


# ---------------------------------------------------------------------------- sample_pdf + merge
def _pdf_inputs(device: torch.device, size: str) -> Inputs:
    n = _rays(18, size)
    g = torch.Generator().manual_seed(SEED)
    bins = torch.sort(torch.rand(n, N_COARSE + 1, generator=g) * 4 + 2, -1).values
    weights = torch.rand(n, N_COARSE, generator=g) ** 4 * (torch.rand(n, 1, generator=g) > 0.3)
    return {"bins": bins.to(device), "weights": weights.to(device)}


def _pdf_shape(x: Inputs) -> dict:
    return {"n_rays": x["bins"].shape[0], "coarse": N_COARSE, "fine": N_FINE}


def _pdf_bytes(x: Inputs, direction: str) -> int:
    bins, w = x["bins"], x["weights"]
    n, elt = bins.shape[0], bins.element_size()
    fine = n * N_FINE * elt
    merged = n * (N_COARSE + 1 + N_FINE) * (elt + 8)  # values + int64 permutation
    pdf = kernel_bytes(direction, reads=nbytes(bins, w), writes=fine, grads=nbytes(bins))
    merge = kernel_bytes(direction, reads=nbytes(bins) + fine, writes=merged, grads=nbytes(bins) + fine,
                         grad_outputs=n * (N_COARSE + 1 + N_FINE) * elt)
    return pdf + merge


def _pdf_fastgen(x: Inputs, backend: str) -> Outputs:
    fine = sample_pdf(x["bins"], x["weights"], N_FINE, det=True, backend=backend)
    return (merge_sorted(x["bins"], fine, backend=backend)[0],)


def _pdf_reference(x: Inputs) -> Outputs:
    bins = x["bins"]
    u = torch.linspace(0, 1, N_FINE, dtype=bins.dtype, device=bins.device).expand(bins.shape[0], N_FINE)
    fine = reference.sample_pdf(bins, x["weights"], u.contiguous())
    return (reference.merge_sorted(bins, fine)[0],)


# ---------------------------------------------------------------------------- importance_sampling
def _is_inputs(device: torch.device, size: str) -> Inputs:
    n = _rays(18, size)
    g = torch.Generator().manual_seed(SEED + 1)
    counts = torch.randint(2, 65, (n,), generator=g)
    total = int(counts.sum())
    rays = torch.repeat_interleave(torch.arange(n), counts)
    info = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
    # sorted within each ray: sort by (ray, value) in float64 keys
    t = torch.rand(total, generator=g, dtype=torch.float64)
    t = (t[torch.argsort(rays.double() * 2 + t)] * 4 + 2).float()
    w = torch.rand(total, generator=g) ** 4
    first = torch.zeros(total, dtype=torch.bool)
    first[info[:, 0]] = True
    w[first] = 0  # each ray's CDF starts at 0
    cdfs = torch.cumsum(w.double(), 0)
    cdfs = (cdfs - cdfs[info[:, 0]][rays]).float()
    return {"t": t.to(device), "cdfs": cdfs.to(device), "packed_info": info.to(device), "n_rays": n}


def _is_shape(x: Inputs) -> dict:
    return {"n_rays": x["n_rays"], "n_edges": x["t"].shape[0], "edges_per_ray": "2..64", "resample": N_RESAMPLE}


def _is_bytes(x: Inputs, direction: str) -> int:
    n, elt = x["n_rays"], x["t"].element_size()
    out = n * (2 * N_RESAMPLE + 1) * elt
    return kernel_bytes(direction, reads=nbytes(x["t"], x["cdfs"], x["packed_info"]), writes=out,
                        grads=nbytes(x["t"]))


def _is_run(x: Inputs, fn) -> Outputs:
    iv, s = fn(RayIntervals(vals=x["t"], packed_info=x["packed_info"]), x["cdfs"], N_RESAMPLE)
    return iv.vals, s.vals


def _is_fastgen(x: Inputs, backend: str) -> Outputs:
    return _is_run(x, lambda iv, c, n: importance_sampling(iv, c, n, backend=backend))


def _is_reference(x: Inputs) -> Outputs:
    return _is_run(x, lambda iv, c, n: importance_sampling(iv, c, n, backend="reference"))


def _is_nerfacc(x: Inputs) -> Outputs:
    import nerfacc
    from nerfacc.data_specs import RayIntervals as NerfaccIntervals

    iv, s = nerfacc.importance_sampling(NerfaccIntervals(vals=x["t"], packed_info=x["packed_info"]),
                                        x["cdfs"], N_RESAMPLE)
    return iv.vals, s.vals


# ---------------------------------------------------------------------------- distortion
def _dist_inputs(device: torch.device, size: str) -> Inputs:
    n = _rays(20, size)
    g = torch.Generator().manual_seed(SEED + 2)
    edges = torch.sort(torch.rand(n, DIST_SAMPLES + 1, generator=g) * 4 + 2, -1).values
    w = torch.rand(n, DIST_SAMPLES, generator=g) / DIST_SAMPLES
    return {"weights": w.to(device), "t_starts": edges[:, :-1].contiguous().to(device),
            "t_ends": edges[:, 1:].contiguous().to(device)}


def _dist_shape(x: Inputs) -> dict:
    return {"n_rays": x["weights"].shape[0], "samples_per_ray": DIST_SAMPLES}


def _dist_bytes(x: Inputs, direction: str) -> int:
    w = x["weights"]
    return kernel_bytes(direction, reads=3 * nbytes(w), writes=w.shape[0] * w.element_size(), grads=3 * nbytes(w))


def _dist_fastgen(x: Inputs, backend: str) -> Outputs:
    return (distortion(x["weights"], x["t_starts"], x["t_ends"], backend=backend),)


def _dist_reference(x: Inputs) -> Outputs:
    return (reference.distortion(x["weights"], x["t_starts"], x["t_ends"]),)


CASES = [
    Case(name="sample_pdf+merge", op="sample_pdf+merge_sorted", make_inputs=_pdf_inputs, shape=_pdf_shape,
         bytes_moved=_pdf_bytes, fastgen=_pdf_fastgen, reference=_pdf_reference, differentiable=("bins",)),
    Case(name="importance_sampling", op="importance_sampling", make_inputs=_is_inputs, shape=_is_shape,
         bytes_moved=_is_bytes, fastgen=_is_fastgen, reference=_is_reference, differentiable=("t",),
         baselines={"nerfacc": Baseline("nerfacc", _is_nerfacc)}),
    Case(name="distortion", op="distortion", make_inputs=_dist_inputs, shape=_dist_shape, bytes_moved=_dist_bytes,
         fastgen=_dist_fastgen, reference=_dist_reference, differentiable=("weights", "t_starts", "t_ends")),
]

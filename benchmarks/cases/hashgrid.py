"""Hashgrid-family cases: ``hash_grid_encode`` of 2^20 and 2^22 points in 3D with Instant-NGP's
configuration (16 levels x 2 features, 2^19 rows per level, base resolution 16, per-level scale
1.447), float32 and float16 tables; ``fwd+bwd`` differentiates the table (the training step).

Sizes: ``full`` as in the issue; ``quick`` 2^13 (2^15) points against the same table, seconds on
a CPU; ``smoke`` 2^8 points and a 2^12-row table.

Bandwidth (``bytes_moved``) counts the bytes the op must touch: x, the output, and one
F-feature row (8 bytes in float32, 4 in float16) per corner, level and point for the table
gathers; in ``fwd+bwd`` also x and the output gradient again, zeroing the float32 table
gradient, the scatter-add of one row per corner as a read-modify-write (2 x 4 bytes per
feature), and for float16 tables the float32 -> float16 cast of the gradient. The gathers are
random 4-8 byte reads: DRAM serves them as 32-byte sectors, so the meaningful ceiling for
the gather traffic is random-access (sector) throughput, at most ~1/4 (float32) or ~1/8
(float16) of the copy bandwidth reported as ``peak_gbps`` when the table does not stay in L2.
The 64 MB float32 table exceeds an H100/H200's 50 MB L2, but one level's 4 MB slice fits, and
the kernels run level-major (tiny-cuda-nn's order) so that gathers hit L2; ``pct_of_peak``
against the copy bandwidth is therefore an honest lower bound of how close the op runs to its
real limit, not a target of 100%.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from benchmarks.harness import Case, Inputs, Outputs, nbytes
from fastgen.nerf import hash_grid_encode
from fastgen.ops.hashgrid import level_info, reference

N_LEVELS, FEATURES, LOG2_T, BASE, SCALE, DIMS = 16, 2, 19, 16, 1.447, 3
SMOKE_LOG2_T = 12
SEED = 0


def _points(full_log2: int) -> dict:
    return {"full": 1 << full_log2, "quick": 1 << (full_log2 - 7), "smoke": 1 << 8}


@lru_cache(maxsize=2)  # the cases of one table dtype share their table
def _table(device: torch.device, size: str, dtype: torch.dtype) -> torch.Tensor:
    log2 = SMOKE_LOG2_T if size == "smoke" else LOG2_T
    g = torch.Generator().manual_seed(SEED)
    # Instant-NGP initialises uniform(-1e-4, 1e-4); trained tables are O(1e-2..1): use those so
    # the check against the float64 reference is meaningful in float16.
    table = torch.rand(N_LEVELS, 1 << log2, FEATURES, generator=g) * 0.2 - 0.1
    return table.to(device=device, dtype=dtype)


def _make_inputs(full_log2: int, dtype: torch.dtype):
    def make(device: torch.device, size: str) -> Inputs:
        n = _points(full_log2)[size]
        x = torch.rand(n, DIMS, generator=torch.Generator().manual_seed(SEED + 1)).to(device)
        table = _table(device, size, dtype)
        levels = level_info("benchmark", DIMS, N_LEVELS, table.shape[1].bit_length() - 1, BASE, SCALE)
        # table first: the harness records the dtype of the first floating-point input
        return {"table": table, "x": x, "levels": list(levels)}
    return make


def _shape(x: Inputs) -> dict:
    n_levels, rows, f = x["table"].shape
    return {"n_points": x["x"].shape[0], "dims": DIMS, "n_levels": n_levels, "features": f,
            "table_rows": rows, "dense_levels": sum(1 for _, s in x["levels"] if s)}


def _bytes(x: Inputs, direction: str) -> int:
    table, pts = x["table"], x["x"]
    n, (n_levels, rows, f) = pts.shape[0], table.shape
    elt = table.element_size()
    out = n * n_levels * f * elt
    gathers = n * n_levels * (1 << DIMS) * f * elt
    total = nbytes(pts) + out + gathers
    if direction == "fwd+bwd":
        grad_table = n_levels * rows * f * 4
        total += nbytes(pts) + out + grad_table + 2 * n * n_levels * (1 << DIMS) * f * 4
        if elt != 4:
            total += grad_table + n_levels * rows * f * elt
    return total


def _fastgen(x: Inputs, backend: str) -> Outputs:
    return (hash_grid_encode(x["x"], x["table"], base_resolution=BASE, per_level_scale=SCALE,
                             backend=backend),)


def _reference(x: Inputs) -> Outputs:
    return (reference.hash_grid_encode(x["x"], x["table"], x["levels"]),)


CASES = [
    Case(name=f"hashgrid-{label}-{dname}", op="hash_grid_encode", make_inputs=_make_inputs(log2, dtype),
         items=lambda x: ("points", x["x"].shape[0]),
         shape=_shape, bytes_moved=_bytes, fastgen=_fastgen, reference=_reference,
         differentiable=("table",))
    for log2, label in ((20, "1M"), (22, "4M"))
    for dtype, dname in ((torch.float32, "fp32"), (torch.float16, "fp16"))
]

"""Hashgrid primitives on the compiled extension (backends "cpu" and "cuda").

``forward`` and ``backward`` of :mod:`fastgen.ops.hashgrid._library`. Inputs arrive validated
and contiguous; these functions allocate outputs with torch and hand ``fastgen._C`` raw
pointers, sizes and the table's dtype code, plus the thread count (CPU) or the device index and
current stream (CUDA), all as plain integers (csrc/hashgrid/).

dtypes: x, grad_out and grad_x in the compute type (float64 for float64 tables, else float32);
tables float32, float64, float16 or bfloat16, read in place by both the CPU and the CUDA
kernels; the output in the table's dtype. The table gradient: on CUDA a zeroed compute-type
buffer that the kernel adds into atomically, then cast to the table's dtype; on the CPU an
uninitialised buffer in the table's dtype that the kernel zeroes, accumulates (in the compute
type) and rounds level by level.
"""
from __future__ import annotations

import os

import torch

from fastgen.ops._native import dtype_code, launch


def _compute_dtype(table):
    return torch.float64 if table.dtype == torch.float64 else torch.float32


def _sizes(x, table):
    n, d = x.shape
    n_levels, table_size, f = table.shape
    return n, n_levels, table_size, d, f


def _no_f16c() -> int:
    """1 when ``FASTGEN_NO_F16C=1``: the CPU kernels convert float16 tables in software even
    where the CPU has F16C (read on every call, so tests can set it; ignored on CUDA)."""
    return int(os.environ.get("FASTGEN_NO_F16C", "0") == "1")


def forward(x, table, level_info):
    n, n_levels, table_size, d, f = _sizes(x, table)
    out = table.new_empty((n, n_levels * f))  # every entry is written
    if n and n_levels:
        launch("hash_grid_encode_forward", x.device, x.data_ptr(), table.data_ptr(),
                out.data_ptr(), level_info.data_ptr(), n, n_levels, table_size, d, f,
                dtype_code(table.dtype), _no_f16c())
    return out


def backward(grad_out, x, table, level_info, table_grad: bool, x_grad: bool):
    n, n_levels, table_size, d, f = _sizes(x, table)
    compute = _compute_dtype(table)
    shape = table.shape if table_grad else (0, table_size, f)
    on_cpu = x.device.type == "cpu"
    if on_cpu and n and n_levels:
        # the CPU kernel zeroes, accumulates (in the compute type) and rounds each level itself
        grad_table = torch.empty(shape, dtype=table.dtype, device=table.device)
    else:  # CUDA accumulates atomically into a zeroed compute-type buffer
        grad_table = torch.zeros(shape, dtype=compute, device=table.device)
    grad_x = x.new_zeros((n, d) if x_grad else (0, d))
    if n and n_levels and (table_grad or x_grad):
        grad_out = grad_out.to(compute).contiguous()
        launch("hash_grid_encode_backward", x.device, x.data_ptr(), table.data_ptr(),
                grad_out.data_ptr(), grad_table.data_ptr() if table_grad else 0,
                grad_x.data_ptr() if x_grad else 0, level_info.data_ptr(), n, n_levels,
                table_size, d, f, dtype_code(table.dtype), _no_f16c())
    return grad_x, grad_table.to(table.dtype)

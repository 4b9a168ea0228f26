"""The hashgrid family's kernel primitives as ``torch.library`` custom ops (``fastgen::*``).

``hash_grid_encode_forward(x, table, level_info, backend)`` and
``hash_grid_encode_backward(grad_out, x, table, level_info, table_grad, x_grad, backend)`` run the
primitive of the backend's kernel module (``native.py`` for "cpu"/"cuda", ``triton.py``). The
fake implementations let ``torch.compile(fullgraph=True)`` trace through them; the forward's
autograd is registered here (no double backward: the backward op has none). Inputs arrive
validated and contiguous from :func:`fastgen.ops.hashgrid.hash_grid_encode`:

* x (N, D) float32, or float64 with a float64 table; table (L, T, F); level_info (L, 2) int64
  = (resolution, dense stride or 0) per level, on the tensors' device.
* The forward returns (N, L*F) in the table's dtype. The backward returns ``(grad_x, grad_table)``
  in the dtypes of x and the table, each empty (first dimension 0) when not requested.
"""
from __future__ import annotations

import torch

from fastgen.backend import kernels


def _k(backend: str):
    return kernels("hashgrid", backend)


@torch.library.custom_op("fastgen::hash_grid_encode_forward", mutates_args=())
def hash_grid_encode_forward(x: torch.Tensor, table: torch.Tensor, level_info: torch.Tensor,
                             backend: str) -> torch.Tensor:
    return _k(backend).forward(x, table, level_info)


@hash_grid_encode_forward.register_fake
def _(x, table, level_info, backend):
    return table.new_empty((x.shape[0], table.shape[0] * table.shape[2]))


@torch.library.custom_op("fastgen::hash_grid_encode_backward", mutates_args=())
def hash_grid_encode_backward(grad_out: torch.Tensor, x: torch.Tensor, table: torch.Tensor,
                              level_info: torch.Tensor, table_grad: bool, x_grad: bool,
                              backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    return _k(backend).backward(grad_out, x, table, level_info, table_grad, x_grad)


@hash_grid_encode_backward.register_fake
def _(grad_out, x, table, level_info, table_grad, x_grad, backend):
    n, d = x.shape
    grad_x = x.new_empty((n, d) if x_grad else (0, d))
    grad_table = table.new_empty(table.shape if table_grad else (0, *table.shape[1:]))
    return grad_x, grad_table


def _setup(ctx, inputs, output):
    x, table, level_info, backend = inputs
    ctx.save_for_backward(x, table, level_info)
    ctx.backend = backend


def _backward(ctx, grad_out):
    x, table, level_info = ctx.saved_tensors
    x_grad, table_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if not (x_grad or table_grad):
        return None, None, None, None
    grad_x, grad_table = hash_grid_encode_backward(grad_out.contiguous(), x, table, level_info,
                                                   table_grad, x_grad, ctx.backend)
    return (grad_x if x_grad else None), (grad_table if table_grad else None), None, None


hash_grid_encode_forward.register_autograd(_backward, setup_context=_setup)

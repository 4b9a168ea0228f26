"""Triton kernels of the fused MLP (backend "triton").

* ``_forward_kernel``: one program per block of BLOCK_M points runs the whole network: the first
  layer as a K loop over D_in in IN_B-wide chunks, each hidden layer as one ``tl.dot`` of the
  (BLOCK_M, W) activations with the (W, W) weight tile, the output layer in OUT_B-wide column
  chunks. The activations never leave the chip between layers; only y and, when the backward
  will need them, the hidden layers' outputs (in x's dtype) are stored. Saving them rather than
  recomputing costs n_hidden x N x W stores but no second pass through the network, and the
  backward needs every layer's output anyway (the activation derivatives are written in terms
  of the outputs, as in tiny-cuda-nn).
* ``_backward_kernel``: one program per block of points runs the gradient back through the
  layers on chip: g_L = dy * out_act'(y), g_l = (g_{l+1} W_{l+1}) * act'(h_l), dx = g_0 W_0; it
  stores each layer's pre-activation gradient g_l (x's dtype) for the weight gradients.
* ``_outer_kernel``: dW_l = g_l^T h_{l-1} (h_{-1} = x), a GEMM with K = N split in SPLIT chunks;
  each program writes its chunk's partial product and torch sums the partials (a fixed order:
  deterministic, unlike atomics).

Half types feed ``tl.dot`` in their own dtype and accumulate in float32; float32 runs in IEEE
precision unless torch's float32 matmuls allow TF32 (``torch.backends.cuda.matmul.allow_tf32``).
Every load and store is masked on N, D_in and D_out, so padded chunks read zeros and write nothing.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from fastgen.ops.mlp import reference

# activation codes: indices into reference.ACTIVATIONS (see fastgen.ops.mlp.ACTIVATION_NAMES)
_CODES = {name: i for i, name in enumerate(reference.ACTIVATIONS)}
_NONE, _RELU, _LEAKY, _SIGMOID, _EXP, _SOFTPLUS, _TANH = (_CODES[n] for n in (
    "none", "relu", "leaky_relu", "sigmoid", "exponential", "softplus", "tanh"))


def precision(dtype: torch.dtype) -> str:
    """tl.dot's input_precision: TF32 for float32 exactly when torch's matmuls use it."""
    return "tf32" if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32 else "ieee"


def _chunk(n: int) -> int:
    """Width of the D_in / D_out chunks: a power of two in [16, 64] (tl.dot needs >= 16)."""
    return min(64, max(16, triton.next_power_of_2(n)))


def block_config(width: int, device: torch.device) -> dict:
    """Points per program: the interpreter's cost is per program, so it gets wide blocks; on a GPU
    128 points keep a (128, W <= 64) float32 accumulator in registers, 64 points for W = 128."""
    if device.type != "cuda":
        return dict(BLOCK_M=128, num_warps=4)
    return dict(BLOCK_M=64, num_warps=8) if width == 128 else dict(BLOCK_M=128, num_warps=4)


def outer_config(n: int, device: torch.device) -> dict:
    """Split of the weight-gradient GEMM over N: about 256 chunks on a GPU (enough programs for
    132 SMs with W <= 64), few in the interpreter."""
    block_n = 64 if device.type == "cuda" else 128
    target = 256 if device.type == "cuda" else 2
    rows = max(block_n, triton.cdiv(triton.cdiv(n, target), block_n) * block_n)
    return dict(BN=block_n, ROWS=rows, num_warps=4)


def upcast(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether tl.dot gets its bfloat16 operands as float32: the interpreter's bfloat16 tl.dot
    returns garbage (triton 3.9), while float32 operands holding the same bfloat16 values give the
    same products with float32 accumulation. GPUs run the native bfloat16 tl.dot."""
    return dtype == torch.bfloat16 and device.type != "cuda"


@triton.jit
def _dot(a, b, acc, PREC: tl.constexpr, UPCAST: tl.constexpr):
    if UPCAST:
        a, b = a.to(tl.float32), b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PREC, out_dtype=tl.float32)


@triton.jit
def _act(z, ACT: tl.constexpr):
    if ACT == 1:
        z = tl.maximum(z, 0.0)
    elif ACT == 2:
        z = tl.where(z > 0, z, z * 0.01)
    elif ACT == 3:
        z = 1.0 / (1.0 + tl.exp(-z))
    elif ACT == 4:
        z = tl.exp(z)
    elif ACT == 5:  # log(1 + e^z) without overflow
        z = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
    elif ACT == 6:
        z = 2.0 / (1.0 + tl.exp(-2.0 * z)) - 1.0
    return z


@triton.jit
def _act_grad(y, ACT: tl.constexpr):
    """d act / dz written in terms of the output y = act(z)."""
    if ACT == 0:
        d = tl.full(y.shape, 1.0, tl.float32)
    elif ACT == 1:
        d = tl.where(y > 0, 1.0, 0.0)
    elif ACT == 2:
        d = tl.where(y > 0, 1.0, 0.01)
    elif ACT == 3:
        d = y * (1.0 - y)
    elif ACT == 4:
        d = y
    elif ACT == 5:
        d = 1.0 - tl.exp(-y)
    else:
        d = 1.0 - y * y
    return d


@triton.jit
def _forward_kernel(x_ptr, w_in_ptr, w_hid_ptr, w_out_ptr, y_ptr, h_ptr, N, D_IN, D_OUT, N_HIDDEN,
                    W: tl.constexpr, IN_B: tl.constexpr, OUT_B: tl.constexpr, BLOCK_M: tl.constexpr,
                    ACT: tl.constexpr, OUT_ACT: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr,
                    UPCAST: tl.constexpr):
    dt = x_ptr.dtype.element_ty
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    cols = tl.arange(0, W)
    acc = tl.zeros((BLOCK_M, W), tl.float32)
    for k0 in range(0, D_IN, IN_B):  # layer 0: x (BLOCK_M, D_in) @ W_0^T, W_0 (W, D_in) read transposed
        kk = k0 + tl.arange(0, IN_B)
        k_ok = kk < D_IN
        a = tl.load(x_ptr + rows[:, None] * D_IN + kk[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0)
        b = tl.load(w_in_ptr + cols[None, :] * D_IN + kk[:, None], mask=k_ok[:, None], other=0)
        acc = _dot(a, b, acc, PREC, UPCAST)
    h = _act(acc, ACT).to(dt)
    if SAVE:
        tl.store(h_ptr + rows[:, None] * W + cols[None, :], h, mask=row_ok[:, None])
    for layer in range(1, N_HIDDEN):
        b = tl.load(w_hid_ptr + (layer - 1) * W * W + cols[None, :] * W + cols[:, None])
        h = _act(_dot(h, b, None, PREC, UPCAST), ACT).to(dt)
        if SAVE:
            tl.store(h_ptr + (layer * N + rows[:, None]) * W + cols[None, :], h, mask=row_ok[:, None])
    for o0 in range(0, D_OUT, OUT_B):  # output layer in column chunks, W_L (D_out, W) read transposed
        oo = o0 + tl.arange(0, OUT_B)
        o_ok = oo < D_OUT
        b = tl.load(w_out_ptr + oo[None, :] * W + cols[:, None], mask=o_ok[None, :], other=0)
        y = _act(_dot(h, b, None, PREC, UPCAST), OUT_ACT)
        tl.store(y_ptr + rows[:, None] * D_OUT + oo[None, :], y.to(dt), mask=row_ok[:, None] & o_ok[None, :])


@triton.jit
def _backward_kernel(dy_ptr, y_ptr, h_ptr, w_in_ptr, w_hid_ptr, w_out_ptr, g_out_ptr, g_ptr, dx_ptr, N, D_IN,
                     D_OUT, N_HIDDEN, W: tl.constexpr, IN_B: tl.constexpr, OUT_B: tl.constexpr,
                     BLOCK_M: tl.constexpr, ACT: tl.constexpr, OUT_ACT: tl.constexpr, NEED_X: tl.constexpr,
                     PREC: tl.constexpr, UPCAST: tl.constexpr):
    dt = y_ptr.dtype.element_ty
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    cols = tl.arange(0, W)
    dh = tl.zeros((BLOCK_M, W), tl.float32)
    for o0 in range(0, D_OUT, OUT_B):  # g_L = dy * out_act'(y); dh_L = g_L @ W_L
        oo = o0 + tl.arange(0, OUT_B)
        o_ok = oo < D_OUT
        ok = row_ok[:, None] & o_ok[None, :]
        off = rows[:, None] * D_OUT + oo[None, :]
        y = tl.load(y_ptr + off, mask=ok, other=0).to(tl.float32)
        g = (tl.load(dy_ptr + off, mask=ok, other=0).to(tl.float32) * _act_grad(y, OUT_ACT)).to(dt)
        tl.store(g_out_ptr + off, g, mask=ok)
        b = tl.load(w_out_ptr + oo[:, None] * W + cols[None, :], mask=o_ok[:, None], other=0)
        dh = _dot(g, b, dh, PREC, UPCAST)
    for i in range(0, N_HIDDEN):  # hidden layers from the last: g_l = dh_l * act'(h_l), dh_{l-1} = g_l @ W_l
        layer = N_HIDDEN - 1 - i
        off = (layer * N + rows[:, None]) * W + cols[None, :]
        h = tl.load(h_ptr + off, mask=row_ok[:, None], other=0).to(tl.float32)
        g = (dh * _act_grad(h, ACT)).to(dt)
        tl.store(g_ptr + off, g, mask=row_ok[:, None])
        if layer > 0:
            b = tl.load(w_hid_ptr + (layer - 1) * W * W + cols[:, None] * W + cols[None, :])
            dh = _dot(g, b, None, PREC, UPCAST)
        elif NEED_X:  # dx = g_0 @ W_0 in D_in chunks
            for k0 in range(0, D_IN, IN_B):
                kk = k0 + tl.arange(0, IN_B)
                k_ok = kk < D_IN
                b = tl.load(w_in_ptr + cols[:, None] * D_IN + kk[None, :], mask=k_ok[None, :], other=0)
                dx = _dot(g, b, None, PREC, UPCAST)
                tl.store(dx_ptr + rows[:, None] * D_IN + kk[None, :], dx.to(dt),
                         mask=row_ok[:, None] & k_ok[None, :])


@triton.jit
def _outer_kernel(a_ptr, b_ptr, out_ptr, N, R, C, ROWS, BR: tl.constexpr, BC: tl.constexpr, BN: tl.constexpr,
                  PREC: tl.constexpr, UPCAST: tl.constexpr):
    """out[split, r, c] = sum over the split's ROWS points n of a[n, r] * b[n, c] (float32)."""
    r = tl.program_id(0) * BR + tl.arange(0, BR)
    c = tl.program_id(1) * BC + tl.arange(0, BC)
    split = tl.program_id(2)
    r_ok, c_ok = r < R, c < C
    acc = tl.zeros((BR, BC), tl.float32)
    start = split.to(tl.int64) * ROWS
    for n0 in range(0, ROWS, BN):
        n = start + n0 + tl.arange(0, BN)
        n_ok = n < N
        a = tl.load(a_ptr + n[None, :] * R + r[:, None], mask=r_ok[:, None] & n_ok[None, :], other=0)
        b = tl.load(b_ptr + n[:, None] * C + c[None, :], mask=n_ok[:, None] & c_ok[None, :], other=0)
        acc = _dot(a, b, acc, PREC, UPCAST)
    tl.store(out_ptr + (split * R + r[:, None]) * C + c[None, :], acc, mask=r_ok[:, None] & c_ok[None, :])


def _hidden_stack(weights, x):
    """The (n_hidden - 1, W, W) hidden weights as one tensor (a 1-element dummy for one hidden layer)."""
    return torch.stack(weights[1:-1]) if len(weights) > 2 else x.new_zeros(1)


def forward(x, weights, act, out_act, save):
    n, d_in = x.shape
    width, d_out, n_hidden = weights[0].shape[0], weights[-1].shape[0], len(weights) - 1
    y = x.new_empty((n, d_out))
    hidden = x.new_empty((n_hidden, n, width) if save else (0,))
    if n == 0:
        return y, hidden
    cfg = block_config(width, x.device)
    _forward_kernel[(triton.cdiv(n, cfg["BLOCK_M"]),)](
        x, weights[0], _hidden_stack(weights, x), weights[-1], y, hidden if save else y, n, d_in, d_out, n_hidden,
        W=width, IN_B=_chunk(d_in), OUT_B=_chunk(d_out), ACT=act, OUT_ACT=out_act, SAVE=save,
        PREC=precision(x.dtype), UPCAST=upcast(x.dtype, x.device), **cfg)
    return y, hidden


def _outer(a, b):
    """a^T b for a (N, R), b (N, C): the block-reduced weight gradient, (R, C) in a's dtype."""
    n, rows, cols = a.shape[0], a.shape[1], b.shape[1]
    cfg = outer_config(n, a.device)
    splits = triton.cdiv(n, cfg["ROWS"])
    part = a.new_empty((splits, rows, cols), dtype=torch.float32)
    br, bc = min(64, max(16, triton.next_power_of_2(rows))), min(64, max(16, triton.next_power_of_2(cols)))
    _outer_kernel[(triton.cdiv(rows, br), triton.cdiv(cols, bc), splits)](
        a, b, part, n, rows, cols, cfg["ROWS"], BR=br, BC=bc, BN=cfg["BN"], PREC=precision(a.dtype),
        UPCAST=upcast(a.dtype, a.device), num_warps=cfg["num_warps"])
    return part.sum(0).to(a.dtype)


def backward(dy, x, weights, hidden, y, act, out_act, need_x):
    n, d_in = x.shape
    width, d_out, n_hidden = weights[0].shape[0], weights[-1].shape[0], len(weights) - 1
    dx = torch.empty_like(x) if need_x else x.new_empty((0,))
    if n == 0:
        return [torch.zeros_like(x) if need_x else dx] + [torch.zeros_like(w) for w in weights]
    g_out = torch.empty_like(y)
    g = torch.empty_like(hidden)
    cfg = block_config(width, x.device)
    _backward_kernel[(triton.cdiv(n, cfg["BLOCK_M"]),)](
        dy, y, hidden, weights[0], _hidden_stack(weights, x), weights[-1], g_out, g, dx if need_x else y, n, d_in,
        d_out, n_hidden, W=width, IN_B=_chunk(d_in), OUT_B=_chunk(d_out), ACT=act, OUT_ACT=out_act, NEED_X=need_x,
        PREC=precision(x.dtype), UPCAST=upcast(x.dtype, x.device), **cfg)
    inputs = [x] + [hidden[i] for i in range(n_hidden)]
    grads = [g[i] for i in range(n_hidden)] + [g_out]
    return [dx] + [_outer(gl, hl) for gl, hl in zip(grads, inputs)]

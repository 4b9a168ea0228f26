"""Benchmark cases of the mlp family: ``fused_mlp`` with Instant-NGP's two networks, W = 64,
ReLU, no output activation: the density net (2 hidden layers, 32 -> 16) and the colour net
(3 hidden layers, 32 -> 3); float16 on a GPU, float32 on a CPU; fwd and fwd+bwd (gradients to x,
which feeds the hash grid, and to every weight: the training step).

Sizes: ``full`` 2^18 points, ``quick`` 2^14 (seconds on a CPU), ``smoke`` 2^8.

Baselines: ``reference`` (fastgen's reference: an ``F.linear`` chain, i.e. a bias-free
``nn.Linear`` stack, in float32 accumulation) and ``compile`` (torch.compile of it). The suite
records bandwidth, not FLOP/s; the work is 2 N P multiply-adds forward and about 3x that
forward + backward, with P = 32*64 + 64*64 + 64*16 (density) or 32*64 + 2*64*64 + 64*3 (colour),
so FLOP/s = 2 N P (x3 for fwd+bwd) / ms.

``bytes_moved`` counts what a fused implementation must touch: x, the weights and y forward;
forward + backward also the hidden layers' outputs stored and read back (x's dtype), dy, dx and
the weight gradients.
"""
from __future__ import annotations

from functools import partial

import torch

from benchmarks.harness import Case, Inputs, Outputs, nbytes
from fastgen.nerf import fused_mlp
from fastgen.ops.mlp import reference

SEED = 0
WIDTH, D_IN = 64, 32
POINTS = {"full": 1 << 18, "quick": 1 << 14, "smoke": 1 << 8}
NETS = {"density": (2, 16), "colour": (3, 3)}  # (hidden layers, output width)


def _inputs(net: str, device: torch.device, size: str) -> Inputs:
    n_hidden, d_out = NETS[net]
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    g = torch.Generator().manual_seed(SEED)
    shapes = [(WIDTH, D_IN)] + [(WIDTH, WIDTH)] * (n_hidden - 1) + [(d_out, WIDTH)]
    inputs = {"x": torch.rand(POINTS[size], D_IN, generator=g).to(device, dtype)}
    for i, (o, k) in enumerate(shapes):  # Xavier-uniform, as FusedMLP initialises
        bound = (6.0 / (o + k)) ** 0.5
        inputs[f"w{i}"] = ((torch.rand(o, k, generator=g) * 2 - 1) * bound).to(device, dtype)
    return inputs


def _weights(x: Inputs) -> list:
    return [x[f"w{i}"] for i in range(len(x) - 1)]


def _fastgen(x: Inputs, backend: str) -> Outputs:
    return (fused_mlp(x["x"], _weights(x), backend=backend),)


def _reference(x: Inputs) -> Outputs:
    return (reference.fused_mlp(x["x"], _weights(x), "relu", "none"),)


def _bytes(x: Inputs, direction: str) -> int:
    ws = _weights(x)
    n, elt = x["x"].shape[0], x["x"].element_size()
    y = n * ws[-1].shape[0] * elt
    total = nbytes(x["x"], *ws) + y
    if direction == "fwd+bwd":
        hidden = (len(ws) - 1) * n * WIDTH * elt
        total += 2 * hidden + y + nbytes(x["x"], *ws)  # hidden out and back in, dy, dx, dW
    return total


def _case(net: str) -> Case:
    n_hidden, d_out = NETS[net]
    return Case(name=f"fused_mlp_{net}", op="fused_mlp", make_inputs=partial(_inputs, net),
                shape=lambda x: {"n_points": x["x"].shape[0], "d_in": D_IN, "width": WIDTH,
                                 "hidden_layers": n_hidden, "d_out": d_out},
                bytes_moved=_bytes, fastgen=_fastgen, reference=_reference,
                differentiable=("x",) + tuple(f"w{i}" for i in range(n_hidden + 1)),
                items=lambda x: ("points", x["x"].shape[0]))


CASES = [_case(net) for net in NETS]

"""Benchmark cases of the modconv family: the StyleGAN2 synthesis layer (modconv_block) at
64x64, 512 channels, batch 32, 3x3, with and without up=2, float32; fwd, fwd+bwd and the
path-length step (fwd+bwd+bwd2).

Baselines: ``reference`` (fastgen's reference: the grouped-conv modulated_conv2d + bias_act),
``compile`` (torch.compile of it) and ``stylegan``: StyleGAN2's unfused path as separate ops on
fastgen's GAN ops I (x * styles, conv2d_resample, * dcoefs + noise, bias_act), each on its
fastest backend for the device. ``quick`` sizes run in seconds on a CPU; ``smoke`` is for pytest.
"""
from __future__ import annotations

from functools import partial

import torch

import fastgen.gan as gan
from benchmarks.harness import Baseline, Case, Inputs, Outputs, nbytes
from fastgen.ops.modconv import reference

SEED = 0
FIR = [1, 3, 3, 1]
# (batch, channels, input resolution): the output is 64x64 (32x32 upsampled for up=2).
SIZES = {"full": (32, 512, 64), "quick": (2, 32, 16), "smoke": (1, 4, 8)}


def _inputs(up: int, device: torch.device, size: str) -> Inputs:
    g = torch.Generator().manual_seed(SEED)
    n, c, r = SIZES[size]
    r //= up
    x = torch.randn(n, c, r, r, generator=g)
    return {"x": x.to(device), "weight": (torch.randn(c, c, 3, 3, generator=g)).to(device),
            "styles": (torch.randn(n, c, generator=g) * 0.5 + 1).to(device), "bias": torch.zeros(c).to(device),
            "noise": (torch.randn(n, 1, r * up, r * up, generator=g) * 0.1).to(device),
            "f": gan.setup_filter(FIR, device=device), "up": up}


def _fastgen(x: Inputs, backend: str) -> Outputs:
    return (gan.modconv_block(x["x"], x["weight"], x["styles"], x["bias"], x["noise"], up=x["up"],
                              resample_filter=x["f"] if x["up"] > 1 else None, backend=backend),)


def _reference(x: Inputs) -> Outputs:
    up = x["up"]
    return (reference.modconv_block(x["x"], x["weight"], x["styles"], x["bias"], x["noise"], up, "lrelu", 1.0, None,
                                    x["f"] if up > 1 else None, True),)


def _stylegan_unfused(x: Inputs) -> Outputs:
    """StyleGAN2's non-fused modulated conv + noise + bias_act, one op at a time."""
    w, s, up = x["weight"], x["styles"], x["up"]
    dcoefs = ((w[None] * s[:, None, :, None, None]).square().sum([2, 3, 4]) + 1e-8).rsqrt()
    y = x["x"] * s[:, :, None, None]
    y = gan.conv2d_resample(y, w, x["f"] if up > 1 else None, up=up, padding=1, flip_weight=up == 1)
    y = y * dcoefs[:, :, None, None] + x["noise"]
    return (gan.bias_act(y, x["bias"], act="lrelu"),)


def _bytes(x: Inputs, direction: str) -> int:
    """Reads x, weight, styles, bias and noise, writes y once; each backward reads them and dy
    again and writes their gradients (the second backward counted as one more backward)."""
    n, c, r = x["x"].shape[0], x["weight"].shape[0], x["x"].shape[2] * x["up"]
    ins = nbytes(x["x"], x["weight"], x["styles"], x["bias"], x["noise"])
    out = n * c * r * r * x["x"].element_size()
    backwards = {"fwd": 0, "fwd+bwd": 1, "fwd+bwd+bwd2": 2}[direction]
    return ins + out + backwards * (2 * ins + out)


def _case(up: int) -> Case:
    return Case(name=f"modconv_block_up{up}", op="modconv_block", make_inputs=partial(_inputs, up),
                shape=lambda x: {"x": list(x["x"].shape), "weight": list(x["weight"].shape), "up": x["up"]},
                bytes_moved=_bytes, fastgen=_fastgen, reference=_reference,
                differentiable=("x", "weight", "styles", "bias", "noise"),
                baselines={"stylegan": Baseline("torch", _stylegan_unfused, device_types=("cpu", "cuda"))},
                double_backward=True)


CASES = [_case(1), _case(2)]

"""Benchmark cases of filtered_lrelu at StyleGAN3-T's layer sizes: up=2 / down=2 with 12-tap
separable filters, padded so that the output keeps the input's size, bias and clamp as in the
synthesis network, float16 and float32, forward and forward + backward.

Full sizes are the issue's ((16, 512, 36, 36) and (16, 256, 148, 148)); ``quick`` scales them
down for a 2-core CPU; ``smoke`` is for pytest. The reference is StyleGAN3's composition
(upfirdn2d -> bias_act -> upfirdn2d) on fastgen's references.
"""
from __future__ import annotations

import math
from functools import partial

import torch

import fastgen.gan as gan
from benchmarks.harness import Case, Inputs, Outputs, kernel_bytes, nbytes
from fastgen.ops.filtered_lrelu import reference

SEED = 0
TAPS = 12
UP = DOWN = 2
CLAMP = 256.0  # StyleGAN3's conv_clamp
# (batch, channels, resolution) by size, for the two StyleGAN3-T layers.
SIZES = {
    "36": {"full": (16, 512, 36), "quick": (2, 64, 36), "smoke": (1, 2, 12)},
    "148": {"full": (16, 256, 148), "quick": (1, 16, 148), "smoke": (1, 2, 12)},
}


# Keeps the output at the input's size: (res - 1) * down + 1 + 2 * (taps - 1) - res * up = 21 in
# all for up = down = 2, one more in front (StyleGAN3's layers split it so).
PADDING = [11, 10, 11, 10]


def _inputs(layer: str, dtype, device: torch.device, size: str) -> Inputs:
    g = torch.Generator().manual_seed(SEED)
    n, c, r = SIZES[layer][size]
    taps = torch.kaiser_window(TAPS, periodic=False, beta=6.0)
    return {"x": torch.randn(n, c, r, r, generator=g).to(dtype).to(device),
            "b": (0.1 * torch.randn(c, generator=g)).to(dtype).to(device),
            "f": gan.setup_filter(taps, device=device, separable=True)}


def _fastgen(x: Inputs, backend: str) -> Outputs:
    return (gan.filtered_lrelu(x["x"], x["f"], x["f"], x["b"], up=UP, down=DOWN, padding=PADDING,
                               clamp=CLAMP, backend=backend),)


def _reference(x: Inputs) -> Outputs:
    return (reference.filtered_lrelu(x["x"], x["f"], x["f"], x["b"], UP, DOWN, tuple(PADDING),
                                     math.sqrt(2), 0.2, CLAMP, False),)


def _bytes(x: Inputs, direction: str) -> int:
    """Reads x and b, writes y (x's size); the backward reads dy and the mask (one byte per pixel
    of the 2x upsampled image) and writes dx and db."""
    mask = x["x"].numel() * UP * UP
    return kernel_bytes(direction, reads=nbytes(x["x"], x["b"]), writes=nbytes(x["x"]) + mask,
                        grads=nbytes(x["x"], x["b"]) + mask)


def _case(layer: str, dtype) -> Case:
    name = str(dtype).removeprefix("torch.")
    return Case(name=f"filtered_lrelu_{layer}_{name}", op="filtered_lrelu", make_inputs=partial(_inputs, layer, dtype),
                shape=lambda x: {"x": list(x["x"].shape), "up": UP, "down": DOWN, "taps": TAPS},
                bytes_moved=_bytes, fastgen=_fastgen, reference=_reference, differentiable=("x", "b"))


CASES = [_case(layer, dtype) for layer in SIZES for dtype in (torch.float16, torch.float32)]

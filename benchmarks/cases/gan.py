"""Benchmark cases of the GAN ops (StyleGAN2 config-f sizes): bias_act, upfirdn2d (through the
upsample2d / downsample2d / filter2d helpers StyleGAN calls) and conv2d_resample.

Full sizes are the issue's; ``quick`` runs in seconds on a CPU; ``smoke`` is for pytest.
Inputs are generated on the CPU from a fixed seed, then moved.
"""
from __future__ import annotations

import math
from functools import partial

import torch

import fastgen.gan as gan
from benchmarks.harness import Case, Inputs, Outputs, kernel_bytes, nbytes
from fastgen.ops import conv2d_resample as conv_ops
from fastgen.ops.bias_act import reference as bias_act_reference
from fastgen.ops.upfirdn2d import reference as upfirdn2d_reference

SEED = 0
FIR = [1, 3, 3, 1]  # StyleGAN2's resampling filter
# (batch, channels, resolution) of the activation maps, by size.
LOW = {"full": (32, 512, 32), "quick": (2, 64, 16), "smoke": (1, 4, 8)}
HIGH = {"full": (32, 512, 64), "quick": (2, 64, 32), "smoke": (1, 4, 8)}


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(SEED)


def _image(dims, dtype, device, g) -> torch.Tensor:
    n, c, r = dims
    return torch.randn(n, c, r, r, generator=g).to(dtype).to(device)


def _shape(x: Inputs) -> dict:
    return {"x": list(x["x"].shape)}


# ---------------------------------------------------------------------------- bias_act
def _bias_act_inputs(dtype, device: torch.device, size: str) -> Inputs:
    g = _generator()
    x = _image(HIGH[size], dtype, device, g)
    return {"x": x, "b": torch.randn(x.shape[1], generator=g).to(dtype).to(device)}


def _bias_act_fastgen(x: Inputs, backend: str) -> Outputs:
    return (gan.bias_act(x["x"], x["b"], act="lrelu", backend=backend),)


def _bias_act_reference(x: Inputs) -> Outputs:
    return (bias_act_reference.bias_act(x["x"], x["b"], 1, "lrelu", 0.2, math.sqrt(2), None),)


def _bias_act_bytes(x: Inputs, direction: str) -> int:
    """Reads x and b, writes y; the backward reads dy, x and b and writes dx and db."""
    return kernel_bytes(direction, reads=nbytes(x["x"], x["b"]), writes=nbytes(x["x"]),
                        grads=nbytes(x["x"], x["b"]))


def _bias_act_case(dtype) -> Case:
    name = str(dtype).removeprefix("torch.")
    return Case(name=f"bias_act_lrelu_{name}", op="bias_act", make_inputs=partial(_bias_act_inputs, dtype),
                shape=lambda x: {"x": list(x["x"].shape), "act": "lrelu"}, bytes_moved=_bias_act_bytes,
                fastgen=_bias_act_fastgen, reference=_bias_act_reference, differentiable=("x", "b"))


# ---------------------------------------------------------------------------- upfirdn2d
# (case name, helper, its keyword arguments, image sizes, the upfirdn2d arguments it amounts to:
# up, down, padding, gain) with the 4-tap filter: StyleGAN's padding conventions.
RESAMPLE = [
    ("upfirdn2d_up2", gan.upsample2d, {}, LOW, (2, 1, (2, 1, 2, 1), 4.0)),
    ("upfirdn2d_down2", gan.downsample2d, {}, HIGH, (1, 2, (1, 1, 1, 1), 1.0)),
    ("upfirdn2d_filter", gan.filter2d, {}, HIGH, (1, 1, (2, 1, 2, 1), 1.0)),
]


def _resample_inputs(sizes, device: torch.device, size: str) -> Inputs:
    return {"x": _image(sizes[size], torch.float32, device, _generator()),
            "f": gan.setup_filter(FIR, device=device)}


def _resample_fastgen(helper, x: Inputs, backend: str) -> Outputs:
    return (helper(x["x"], x["f"], backend=backend),)


def _resample_reference(args, x: Inputs) -> Outputs:
    up, down, padding, gain = args
    return (upfirdn2d_reference.upfirdn2d(x["x"], x["f"], (up, up), (down, down), padding, False, gain),)


def _resample_bytes(args, x: Inputs, direction: str) -> int:
    """Reads x, writes y; the backward reads dy and writes dx."""
    up, down, _, _ = args
    out = nbytes(x["x"]) * up * up // (down * down)
    return kernel_bytes(direction, reads=nbytes(x["x"]), writes=out, grads=nbytes(x["x"]), grad_outputs=out)


def _resample_case(name, helper, kwargs, sizes, args) -> Case:
    return Case(name=name, op="upfirdn2d", make_inputs=partial(_resample_inputs, sizes), shape=_shape,
                bytes_moved=partial(_resample_bytes, args), fastgen=partial(_resample_fastgen, helper),
                reference=partial(_resample_reference, args), differentiable=("x",))


# ---------------------------------------------------------------------------- conv2d_resample
def _conv_inputs(device: torch.device, size: str) -> Inputs:
    g = _generator()
    x = _image(LOW[size], torch.float32, device, g)
    c = x.shape[1]
    return {"x": x, "w": (torch.randn(c, c, 3, 3, generator=g) / (3 * math.sqrt(c))).to(device),
            "f": gan.setup_filter(FIR, device=device)}


def _conv_fastgen(x: Inputs, backend: str) -> Outputs:
    return (gan.conv2d_resample(x["x"], x["w"], x["f"], up=2, padding=1, backend=backend),)


def _conv_reference(x: Inputs) -> Outputs:
    return (conv_ops.reference(x["x"], x["w"], x["f"], 2, 1, 1, 1, True, False),)


def _conv_bytes(x: Inputs, direction: str) -> int:
    """Reads x and w, writes y (4x x); the backward reads dy and writes dx and dw."""
    out = 4 * nbytes(x["x"])
    return kernel_bytes(direction, reads=nbytes(x["x"], x["w"]), writes=out, grads=nbytes(x["x"], x["w"]),
                        grad_outputs=out)


CASES = [
    _bias_act_case(torch.float16),
    _bias_act_case(torch.float32),
    *(_resample_case(*spec) for spec in RESAMPLE),
    Case(name="conv2d_resample_up2", op="conv2d_resample", make_inputs=_conv_inputs,
         shape=lambda x: {"x": list(x["x"].shape), "w": list(x["w"].shape), "up": 2}, bytes_moved=_conv_bytes,
         fastgen=_conv_fastgen, reference=_conv_reference, differentiable=("x", "w")),
]

"""fastgen: fast kernels for training and rendering generative vision models (NeRF and GANs).

Every op has one public function with a ``backend=`` keyword ("auto", "reference", "cpu",
"cuda", "triton"), a plain-PyTorch reference, and fast implementations. ``fastgen.info()``
prints which backends can run here and why the others cannot.

Namespaces: ``fastgen.nerf`` (volume rendering, ray marching, hash-grid encoding, hierarchical
sampling), ``fastgen.gan`` (bias_act, upfirdn2d, conv2d_resample, filtered_lrelu,
modulated_conv2d, modconv_block), ``fastgen.compat.nerfacc`` and ``fastgen.compat.stylegan``
(drop-in names of nerfacc and StyleGAN's ``torch_utils.ops``).
"""
from __future__ import annotations

import importlib

from fastgen.backend import BackendUnavailableError, available_backends, info
from fastgen.ops.render import (
    accumulate_along_rays, composite, exclusive_prod, exclusive_sum, inclusive_prod, inclusive_sum,
    render_transmittance_from_alpha, render_transmittance_from_density, render_visibility_from_alpha,
    render_visibility_from_density, render_weight_from_alpha, render_weight_from_density, rendering,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError", "available_backends", "info", "__version__",
    "accumulate_along_rays", "composite", "exclusive_prod", "exclusive_sum", "inclusive_prod", "inclusive_sum",
    "render_transmittance_from_alpha", "render_transmittance_from_density", "render_visibility_from_alpha",
    "render_visibility_from_density", "render_weight_from_alpha", "render_weight_from_density", "rendering",
]

_SUBMODULES = ("nerf", "gan", "compat", "backend", "ops", "cli")


def __getattr__(name):  # lazy namespaces: `fastgen.nerf` imports on first use
    if name in _SUBMODULES:
        return importlib.import_module(f"fastgen.{name}")
    raise AttributeError(f"module 'fastgen' has no attribute {name!r}")

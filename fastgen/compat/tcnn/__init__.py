"""Drop-in replacement for tiny-cuda-nn's PyTorch bindings (the ``tinycudann`` module), on
fastgen's kernels: nothing to compile, and CPU tensors work too.

Two ways in::

    import fastgen.compat.tcnn as tcnn          # instead of: import tinycudann as tcnn

    import fastgen.compat.tcnn
    fastgen.compat.tcnn.install()               # once, before the project imports tinycudann
    import tinycudann as tcnn                   # now fastgen

``Encoding(n_input_dims, encoding_config, seed=1337, dtype=None)``,
``Network(n_input_dims, n_output_dims, network_config, seed=1337)`` and
``NetworkWithInputEncoding(n_input_dims, n_output_dims, encoding_config, network_config,
seed=1337)`` take tiny-cuda-nn's config dicts (``otype`` and key names as in its
DOCUMENTATION.md, matched case-insensitively like tiny-cuda-nn) and have its attributes:
``n_input_dims``, ``n_output_dims``, ``params`` (one flat float32 ``nn.Parameter``; the weight
matrices and grid tables are views into it), ``dtype``, ``seed``, ``loss_scale`` and the configs.
Inputs are ``(batch, n_input_dims)``, converted to float32 on the parameters' device as
tiny-cuda-nn does. ``free_temporary_memory()`` and ``supports_jit_fusion()`` (False: there is no
JIT fusion to enable) exist for scripts that call them.

Supported: encodings Identity (scale, offset), Frequency (n_frequencies), TriangleWave
(n_frequencies), OneBlob (n_bins, a power of two), SphericalHarmonics (degree 1..8),
HashGrid / DenseGrid / Grid with type Hash or Dense (n_levels, n_features_per_level 1/2/4/8,
log2_hashmap_size, base_resolution, per_level_scale, interpolation Linear; 2 or 3 input dims),
Composite (nested, n_dims_to_encode, reduction Concatenation / Sum / Product); networks FullyFusedMLP and
CutlassMLP (activation, output_activation: None, ReLU, LeakyReLU, Exponential, Sigmoid, Softplus,
Tanh; n_neurons 16/32/64/128; n_hidden_layers 1..8) on :func:`fastgen.nerf.fused_mlp`. Anything
else (TiledGrid, Nearest/Smoothstep interpolation, Sine/Squareplus, feedback_alignment, other
widths, unknown keys) raises ``ValueError`` naming the key and what is allowed.

Differences from tiny-cuda-nn, all deliberate:

* Output dtype: ``float16`` when the parameters are on a GPU (tiny-cuda-nn's preferred precision),
  ``float32`` on CPU; ``Encoding(dtype=torch.float32 / float16)`` chooses explicitly. The
  parameters are created on the GPU when one is available (as tiny-cuda-nn), else on the CPU.
* Grids use fastgen's :func:`~fastgen.nerf.hash_grid_encode` conventions: level resolution
  ``floor(base_resolution * per_level_scale^l)`` with vertices at ``x * N_l`` (tiny-cuda-nn uses
  ``x * (base * scale^l - 1) + 0.5``), and every level has ``2^log2_hashmap_size`` rows (tiny-cuda-nn
  shrinks coarse levels to what they need); a DenseGrid gets the smallest power of two that makes
  every level dense (its ``log2_hashmap_size`` is ignored). Points outside [0, 1] are clamped. The
  encodings are equally expressive, not bitwise equal.
* ``params`` hold fastgen's layout (network weights in ``nn.Linear`` (out, in) layout, unpadded,
  then the encoding's table), and the random initial values come from torch's generator: the same
  seed gives different values than tiny-cuda-nn, and tiny-cuda-nn checkpoints of ``params`` do not
  load. Initialisation follows tiny-cuda-nn: Xavier-uniform weights, tables uniform(-1e-4, 1e-4).
* CutlassMLP has FullyFusedMLP's width restriction (it runs on the same fused_mlp). The input is
  not padded to a multiple of 16 (fused_mlp pads internally), so ``params.numel()`` is smaller.
* ``loss_scale`` is kept as an attribute but unused: gradients are not scaled internally.
"""
from __future__ import annotations

import gc
import sys

from fastgen.compat.tcnn.modules import Encoding, Network, NetworkWithInputEncoding


def free_temporary_memory() -> None:
    """tiny-cuda-nn frees its own scratch allocations here; fastgen has none, so this only
    collects Python garbage (as tiny-cuda-nn does first)."""
    gc.collect()


def supports_jit_fusion() -> bool:
    """False: fastgen has no runtime-compiled fusion of encoding and network to switch on."""
    return False


def install() -> None:
    """Make ``import tinycudann`` resolve to this module, through ``sys.modules``. Call it before
    the project's first ``import tinycudann``. Idempotent."""
    for name in [m for m in sys.modules if m == "tinycudann" or m.startswith("tinycudann.")]:
        del sys.modules[name]
    sys.modules["tinycudann"] = sys.modules[__name__]
    sys.modules["tinycudann.modules"] = sys.modules[f"{__name__}.modules"]


__all__ = ["free_temporary_memory", "supports_jit_fusion", "NetworkWithInputEncoding", "Network", "Encoding",
           "install"]

"""tiny-cuda-nn's encodings (``encoding_config`` dicts by ``otype``) as plain functions of the input
and a flat parameter vector, built once from the config.

Each encoding is an object with ``n_input_dims``, ``n_output_dims``, ``n_params``,
``init(generator)`` (the initial parameters, float32, as tiny-cuda-nn initialises them) and
``encode(x, params)`` for ``x`` of shape ``(N, n_input_dims)``. Formulas (``x`` per input dimension,
``F`` = n_frequencies, output columns per input dimension, dimension-major):

* ``Identity``: ``x * scale + offset``.
* ``Frequency``: columns ``2k, 2k+1`` = ``sin(2^k pi x), cos(2^k pi x)``, k = 0 .. F-1.
* ``TriangleWave``: column k = ``4 |v - floor(v) - 1/2| - 1`` with ``v = 2^(k-1) x + k/4``.
* ``OneBlob``: bin k of ``n_bins`` = the mass in ``[k/n_bins, (k+1)/n_bins]`` of a quartic kernel
  ``15/16 (1 - u^2)^2`` (``u = n_bins (t - x)``) centred at ``x``, wrapped periodically over [0, 1].
* ``SphericalHarmonics``: the real SH of ``2 x - 1`` up to ``degree`` (see
  :mod:`.spherical_harmonics`), ``degree^2`` columns.
* ``HashGrid`` / ``DenseGrid`` / ``Grid``: :func:`fastgen.nerf.hash_grid_encode`.
* ``Composite``: the nested encodings on consecutive input dimensions, outputs concatenated
  (``reduction`` Concatenation), or summed / multiplied elementwise (Sum / Product).
"""
from __future__ import annotations

import math

import torch

from fastgen.compat.tcnn import _config as C
from fastgen.compat.tcnn.spherical_harmonics import MAX_DEGREE, spherical_harmonics
from fastgen.ops import hashgrid

OTYPES = ("Identity", "Frequency", "TriangleWave", "OneBlob", "SphericalHarmonics", "HashGrid",
          "DenseGrid", "TiledGrid", "Grid", "Composite")
_NESTED_KEYS = ("n_dims_to_encode",)  # a Composite's child may carry it next to its own keys


class _Parameterless:
    n_params = 0

    def init(self, generator: torch.Generator) -> torch.Tensor:
        return torch.zeros(0)


class Identity(_Parameterless):
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("scale", "offset", *_NESTED_KEYS))
        self.scale = C.number(where, config, "scale", 1.0)
        self.offset = C.number(where, config, "offset", 0.0)
        self.n_input_dims = self.n_output_dims = dims

    def encode(self, x, params):
        return x * self.scale + self.offset


class Frequency(_Parameterless):
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("n_frequencies", *_NESTED_KEYS))
        self.n_frequencies = C.integer(where, config, "n_frequencies", 12, 1, 64)
        self.n_input_dims, self.n_output_dims = dims, dims * self.n_frequencies * 2

    def encode(self, x, params):
        scales = 2.0 ** torch.arange(self.n_frequencies, device=x.device, dtype=x.dtype) * math.pi
        phase = x[:, :, None] * scales  # (N, D, F)
        return torch.stack([torch.sin(phase), torch.cos(phase)], -1).flatten(1)


class TriangleWave(_Parameterless):
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("n_frequencies", *_NESTED_KEYS))
        self.n_frequencies = C.integer(where, config, "n_frequencies", 12, 1, 64)
        self.n_input_dims, self.n_output_dims = dims, dims * self.n_frequencies

    def encode(self, x, params):
        k = torch.arange(self.n_frequencies, device=x.device, dtype=x.dtype)
        v = x[:, :, None] * 2.0 ** (k - 1) + k * 0.25  # the k/4 phase tells the frequencies apart
        return ((v - torch.floor(v) - 0.5).abs() * 4 - 1).flatten(1)


def _quartic_cdf(t: torch.Tensor, inv_radius: float) -> torch.Tensor:
    u = t * inv_radius
    u2 = u * u
    return (15 / 16 * u * (1 - 2 / 3 * u2 + u2 * u2 / 5) + 0.5).clamp(0, 1)


class OneBlob(_Parameterless):
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("n_bins", *_NESTED_KEYS))
        self.n_bins = C.integer(where, config, "n_bins", 16, 1, 1 << 16)
        if self.n_bins & (self.n_bins - 1):
            raise ValueError(f"{where}: 'n_bins' must be a power of two (tiny-cuda-nn stores its log2), "
                             f"got {self.n_bins}")
        self.n_input_dims, self.n_output_dims = dims, dims * self.n_bins

    def encode(self, x, params):
        n = self.n_bins
        edges = torch.arange(n + 1, device=x.device, dtype=x.dtype) / n
        t = edges - x[:, :, None]  # (N, D, n+1)
        cdf = sum(_quartic_cdf(t + shift, n) for shift in (-1.0, 0.0, 1.0))  # periodic over [0, 1]
        return (cdf[..., 1:] - cdf[..., :-1]).flatten(1)


class SphericalHarmonics(_Parameterless):
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("degree", *_NESTED_KEYS))
        if dims != 3:
            raise ValueError(f"{where}: SphericalHarmonics encodes 3 dims (a direction), got "
                             f"{dims} input dims")
        self.degree = C.integer(where, config, "degree", 4, 1, MAX_DEGREE)
        self.n_input_dims, self.n_output_dims = 3, self.degree ** 2

    def encode(self, x, params):
        return spherical_harmonics(x * 2 - 1, self.degree)  # tcnn's inputs are (v + 1) / 2


class Grid:
    """HashGrid / DenseGrid / Grid on :func:`fastgen.nerf.hash_grid_encode`. The table is
    ``(n_levels, 2^log2_hashmap_size, n_features_per_level)``; a dense grid gets the smallest
    power of two that makes every level dense."""

    def __init__(self, where, dims, config, storage):
        C.check_keys(where, config, ("type", "n_levels", "n_features_per_level", "log2_hashmap_size",
                                     "base_resolution", "per_level_scale", "interpolation", "hash",
                                     *_NESTED_KEYS))
        if storage is None:
            storage = C.choice(where, config, "type", "Hash", {"Hash": "hash", "Dense": "dense"},
                               unsupported=("Tiled",))
        elif "type" in config:
            raise ValueError(f"{where}: the key 'type' belongs to otype 'Grid'; {config['otype']!r} "
                             "fixes its storage")
        if storage == "tiled":
            raise ValueError(f"{where}: otype 'TiledGrid' (type 'Tiled') is not implemented by fastgen; "
                             "use 'HashGrid' or 'DenseGrid'")
        if dims not in hashgrid.DIMS:
            raise ValueError(f"{where}: grid encodings take 2 or 3 input dims in fastgen, got {dims}")
        C.choice(where, config, "interpolation", "Linear", {"Linear": "linear"},
                 unsupported=("Nearest", "Smoothstep"))
        C.choice(where, config, "hash", "CoherentPrime", {"CoherentPrime": "coherent_prime"},
                 unsupported=("Prime", "PCG32", "Reversed", "Rng", "BaseConvert"))
        self.n_levels = C.integer(where, config, "n_levels", 16, 1, hashgrid.MAX_LEVELS)
        self.n_features = config.get("n_features_per_level", 2)
        if isinstance(self.n_features, bool) or self.n_features not in hashgrid.FEATURES:
            raise ValueError(f"{where}: 'n_features_per_level' must be one of {hashgrid.FEATURES}, "
                             f"got {self.n_features!r}")
        self.base_resolution = C.number(where, config, "base_resolution", 16, 1.0)
        self.per_level_scale = C.number(where, config, "per_level_scale", 2.0, 1.0)
        if storage == "hash":
            self.log2 = C.integer(where, config, "log2_hashmap_size", 19, *hashgrid.LOG2_RANGE)
        else:
            top = hashgrid.resolutions(self.n_levels, self.base_resolution, self.per_level_scale)[-1]
            self.log2 = max(hashgrid.LOG2_RANGE[0], math.ceil(dims * math.log2(top + 1)))
            if self.log2 > hashgrid.LOG2_RANGE[1]:
                raise ValueError(f"{where}: a dense grid of resolution {top} in {dims} dims needs more "
                                 "than 2^30 entries per level; lower 'n_levels' or 'per_level_scale'")
        hashgrid.level_info(where, dims, self.n_levels, self.log2, self.base_resolution,
                            self.per_level_scale)
        self.n_input_dims, self.n_output_dims = dims, self.n_levels * self.n_features
        self.n_params = self.n_levels * (1 << self.log2) * self.n_features

    def init(self, generator):
        return torch.empty(self.n_params).uniform_(-1e-4, 1e-4, generator=generator)

    def encode(self, x, params):
        table = params.view(self.n_levels, 1 << self.log2, self.n_features)
        return hashgrid.hash_grid_encode(x, table.to(x.dtype), base_resolution=self.base_resolution,
                                         per_level_scale=self.per_level_scale)


class Composite:
    def __init__(self, where, dims, config):
        C.check_keys(where, config, ("nested", "reduction", *_NESTED_KEYS))
        self.reduction = C.choice(where, config, "reduction", "Concatenation",
                                  {"Concatenation": "cat", "Sum": "sum", "Product": "prod"})
        nested = config.get("nested")
        if not isinstance(nested, (list, tuple)) or not nested:
            raise ValueError(f"{where}: 'nested' must be a non-empty list of encoding configs")
        self.children, left = [], dims
        for i, child in enumerate(nested):
            name = f"{where}['nested'][{i}]"
            if not isinstance(child, dict):
                raise TypeError(f"{name} must be a dict, got {type(child).__name__}")
            last = i == len(nested) - 1
            # "n_dims_to_encode" defaults to the remaining dims, as in tiny-cuda-nn
            n = C.integer(name, child, "n_dims_to_encode", left, 1, max(left, 1)) if left else 0
            if n == 0 or (last and n != left):
                raise ValueError(f"{name}: 'n_dims_to_encode' leaves {left - n} of the {dims} input dims "
                                 "unencoded or none for this encoding; the nested encodings must "
                                 "split the input dims exactly")
            self.children.append(build(name, n, child))
            left -= n
        self.n_input_dims = dims
        widths = [c.n_output_dims for c in self.children]
        if self.reduction != "cat" and len(set(widths)) > 1:
            raise ValueError(f"{where}: 'reduction' {config['reduction']!r} needs nested encodings of one "
                             f"output width, got widths {widths}")
        self.n_output_dims = sum(widths) if self.reduction == "cat" else widths[0]
        self.n_params = sum(c.n_params for c in self.children)

    def init(self, generator):
        return torch.cat([c.init(generator) for c in self.children])

    def encode(self, x, params):
        outs, dim, offset = [], 0, 0
        for c in self.children:
            outs.append(c.encode(x[:, dim:dim + c.n_input_dims], params[offset:offset + c.n_params]))
            dim, offset = dim + c.n_input_dims, offset + c.n_params
        if self.reduction == "cat":
            return torch.cat(outs, 1)
        return torch.stack(outs).sum(0) if self.reduction == "sum" else torch.stack(outs).prod(0)


def build(where: str, n_input_dims: int, config: dict):
    """The encoding object of ``config`` for ``n_input_dims`` input dims."""
    kind = C.otype(where, config, OTYPES)
    if isinstance(n_input_dims, bool) or not isinstance(n_input_dims, int) or n_input_dims < 1:
        raise ValueError(f"{where}: n_input_dims must be a positive int, got {n_input_dims!r}")
    if config.get("n_dims_to_encode", n_input_dims) != n_input_dims:
        raise ValueError(f"{where}: 'n_dims_to_encode' = {config['n_dims_to_encode']!r} but the encoding "
                         f"gets {n_input_dims} input dims; split dims with a Composite")
    simple = {"Identity": Identity, "Frequency": Frequency, "TriangleWave": TriangleWave,
              "OneBlob": OneBlob, "SphericalHarmonics": SphericalHarmonics, "Composite": Composite}
    if kind in simple:
        return simple[kind](where, n_input_dims, config)
    storage = {"HashGrid": "hash", "DenseGrid": "dense", "TiledGrid": "tiled", "Grid": None}[kind]
    return Grid(where, n_input_dims, config, storage)

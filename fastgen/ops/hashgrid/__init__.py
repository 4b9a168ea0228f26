"""Multiresolution hash-grid encoding (family ``hashgrid``), as in Instant-NGP (Müller et al. 2022).

:func:`hash_grid_encode` is the functional op; :class:`HashGridEncoding` is the ``nn.Module``
holding the learnable table (also exported as ``fastgen.nerf.HashGridEncoding``). Forward and
backward run on every backend ("reference", "cpu", "cuda", "triton"); see
:mod:`fastgen.backend` for ``backend=``.

float16 tables on the ``cpu`` backend: on x86 CPUs with F16C (detected at run time) table rows
are converted with the hardware instructions, elsewhere by portable bit manipulation; the
results are identical. ``FASTGEN_NO_F16C=1`` in the environment (read on every call) forces the
portable conversions, to test or compare them on an F16C machine.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.hashgrid import _library as L
from fastgen.ops.hashgrid import reference

__all__ = ["hash_grid_encode", "HashGridEncoding"]
register_op("hash_grid_encode", "hashgrid")

FEATURES = (1, 2, 4, 8)
DIMS = (2, 3)
LOG2_RANGE = (4, 30)  # table sizes 16 .. 2^30 rows per level
MAX_LEVELS = 65535  # the CUDA grid's y dimension holds the level
MAX_RESOLUTION = 1 << 24  # float32 positions x * res stop resolving cells beyond this
_TABLE_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _number(op, name, value, lo):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < lo:
        raise ValueError(f"{op}: {name} must be a finite number >= {lo}, got {value!r}")
    return float(value)


def _int(op, name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{op}: {name} must be an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def resolutions(n_levels: int, base_resolution: float, per_level_scale: float) -> list:
    """Grid resolution of each level: ``floor(base_resolution * per_level_scale ** l)``."""
    return [math.floor(base_resolution * per_level_scale ** level) for level in range(n_levels)]


def level_info(op, dims, n_levels, log2_hashmap_size, base_resolution, per_level_scale) -> tuple:
    """Validated ((res_l, stride_l), ...) of a configuration: stride_l = res_l + 1 for a level
    whose (res_l + 1)^D vertices fit in the 2^log2_hashmap_size rows (dense), else 0 (hashed)."""
    base = _number(op, "base_resolution", base_resolution, 1.0)
    scale = _number(op, "per_level_scale", per_level_scale, 1.0)
    table_size = 1 << log2_hashmap_size
    info = []
    for level, res in enumerate(resolutions(n_levels, base, scale)):
        if res > MAX_RESOLUTION:
            raise ValueError(f"{op}: level {level} has resolution {res} > 2^24 (float32 positions "
                             "cannot resolve its cells); lower per_level_scale, base_resolution "
                             "or n_levels")
        info.append((res, res + 1 if (res + 1) ** dims <= table_size else 0))
    return tuple(info)


_LEVEL_INFO_CACHE: dict = {}


def _level_info_tensor(info: tuple, device: torch.device) -> torch.Tensor:
    """level_info as the kernels read it, (L, 2) int64 on ``device``: built once per
    configuration and device, so calls do not copy it to the GPU (a hidden sync) every time."""
    key = (info, device)
    if key not in _LEVEL_INFO_CACHE:
        _LEVEL_INFO_CACHE[key] = torch.tensor(info, dtype=torch.int64, device=device).view(-1, 2)
    return _LEVEL_INFO_CACHE[key]


def _config(op, table, n_levels, n_features_per_level, log2_hashmap_size, interpolation):
    """(n_levels, log2_hashmap_size, F) from the table, checked against any given values."""
    if interpolation != "linear":
        raise ValueError(f"{op}: interpolation {interpolation!r} is not supported; only 'linear' "
                         "(d-linear, as Instant-NGP) is implemented")
    levels, rows, features = table.shape
    if n_levels is not None and _int(op, "n_levels", n_levels, 1, MAX_LEVELS) != levels:
        raise ValueError(f"{op}: table has {levels} levels (shape {tuple(table.shape)}) but "
                         f"n_levels={n_levels}; the table must be (n_levels, 2^log2_hashmap_size, "
                         "n_features_per_level)")
    if not 1 <= levels <= MAX_LEVELS:
        raise ValueError(f"{op}: the table must have 1..{MAX_LEVELS} levels (dimension 0), got "
                         f"shape {tuple(table.shape)}")
    if n_features_per_level is not None:
        if n_features_per_level not in FEATURES or isinstance(n_features_per_level, bool):
            raise ValueError(f"{op}: n_features_per_level must be one of {FEATURES}, got "
                             f"{n_features_per_level!r}")
        if n_features_per_level != features:
            raise ValueError(f"{op}: table has {features} features per level (shape "
                             f"{tuple(table.shape)}) but n_features_per_level={n_features_per_level}")
    elif features not in FEATURES:
        raise ValueError(f"{op}: the table's last dimension (features per level) must be one of "
                         f"{FEATURES}, got shape {tuple(table.shape)}")
    if log2_hashmap_size is not None:
        log2 = _int(op, "log2_hashmap_size", log2_hashmap_size, *LOG2_RANGE)
        if rows != 1 << log2:
            raise ValueError(f"{op}: table has {rows} rows per level (shape {tuple(table.shape)}) "
                             f"but log2_hashmap_size={log2} needs 2^{log2} = {1 << log2}")
    else:
        log2 = rows.bit_length() - 1
        if rows != 1 << log2 or not LOG2_RANGE[0] <= log2 <= LOG2_RANGE[1]:
            raise ValueError(f"{op}: the table's rows per level (dimension 1) must be "
                             f"2^log2_hashmap_size with log2_hashmap_size in [{LOG2_RANGE[0]}, "
                             f"{LOG2_RANGE[1]}], got shape {tuple(table.shape)}")
    return levels, log2, features


def hash_grid_encode(x, table, n_levels=None, n_features_per_level=None, log2_hashmap_size=None,
                     base_resolution=16, per_level_scale=1.447, interpolation="linear",
                     backend="auto"):
    r"""Multiresolution hash-grid encoding of points in :math:`[0, 1]^D` (Instant-NGP).

    Level :math:`l` is a grid of resolution :math:`N_l = \lfloor b \cdot s^l \rfloor` (``b`` =
    base_resolution, ``s`` = per_level_scale) whose vertices own rows of ``table[l]``
    (:math:`T = 2^{\text{log2\_hashmap\_size}}` rows of F features). For each point and level:

    .. math::
        p = \text{clamp}(x, 0, 1)\, N_l,\quad c = \min(\lfloor p \rfloor, N_l - 1),\quad
        t = p - c,\qquad
        y_l = \sum_{b \in \{0,1\}^D} \Big(\prod_d t_d^{b_d} (1 - t_d)^{1 - b_d}\Big)\,
              \text{table}[l, \text{row}_l(c + b)]

    * ``row_l`` of a vertex :math:`v`: if :math:`(N_l + 1)^D \le T` the level is **dense**,
      :math:`v_0 + v_1 (N_l + 1) + v_2 (N_l + 1)^2`; otherwise it is **hashed**,
      :math:`(v_0 \oplus 2654435761\, v_1 \oplus 805459861\, v_2) \bmod T` in uint32 arithmetic.
    * Points outside :math:`[0, 1]^D` are **clamped** to it (NaN coordinates count as 0), so
      :math:`x = 1` lies in the last cell with :math:`t = 1`.
    * The output is ``[y_0, ..., y_{L-1}]``, level-major: ``out[..., l*F + f]``.

    Gradients: w.r.t. ``table`` (a scatter-add of the interpolation weights times the output
    gradient) and w.r.t. ``x`` (:math:`\partial y_l / \partial x_d = N_l\,\partial y_l /
    \partial t_d`, for normals and eikonal losses; 0 for coordinates outside [0, 1], passed at
    exactly 0 and 1 as ``torch.clamp`` does). The encoding is continuous but its x-gradient is
    piecewise: at an exact cell border it is the one of the cell that ``floor`` picks (the
    upper one, except at :math:`x = 1`). No double backward.

    Determinism: the ``cpu`` backend's table gradient is bitwise reproducible (each level's
    gradient is accumulated by one thread, points in order); ``cuda`` and ``triton`` use atomic
    adds, reproducible only up to float rounding. The x-gradient is deterministic everywhere.

    Args:
        x: ``(..., D)`` points, D = 2 or 3; float32, or float64 with a float64 table.
        table: ``(n_levels, 2^log2_hashmap_size, n_features_per_level)``: float32, float16 or
            bfloat16 (with float32 x; computed and accumulated in float32, gradients in float32
            then rounded to the table's dtype), or float64 (with float64 x).
        n_levels, n_features_per_level, log2_hashmap_size: taken from ``table.shape`` when None,
            checked against it when given. F in {1, 2, 4, 8}; log2_hashmap_size in [4, 30].
        base_resolution, per_level_scale: numbers >= 1; every level's resolution must be
            <= 2^24.
        interpolation: ``"linear"`` (the only one implemented).
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``.

    Returns:
        ``(..., n_levels * F)`` in the table's dtype; differentiable w.r.t. ``x`` and ``table``.

    Example::

        >>> table = torch.empty(16, 2**19, 2).uniform_(-1e-4, 1e-4).requires_grad_()
        >>> x = torch.rand(4096, 3, requires_grad=True)
        >>> y = fastgen.nerf.hash_grid_encode(x, table, per_level_scale=1.447)   # (4096, 32)
        >>> y.square().sum().backward()        # table.grad (16, 2^19, 2), x.grad (4096, 3)
    """
    op = "hash_grid_encode"
    V.tensor(op, "x", x, dtypes=(torch.float32, torch.float64))
    V.tensor(op, "table", table, ndim=3, dtypes=_TABLE_DTYPES)
    if x.dim() < 1 or x.shape[-1] not in DIMS:
        raise ValueError(f"{op}: x must have shape (..., D) with D = 2 or 3 coordinates per point, "
                         f"got shape {tuple(x.shape)}")
    if (x.dtype == torch.float64) != (table.dtype == torch.float64):
        raise TypeError(f"{op}: x is {str(x.dtype)[6:]} but table is {str(table.dtype)[6:]}; pass "
                        "float64 x with a float64 table, or float32 x with a float32, float16 or "
                        "bfloat16 table")
    device = V.same_device(op, x=x, table=table)
    levels, log2, features = _config(op, table, n_levels, n_features_per_level, log2_hashmap_size,
                                     interpolation)
    dims = x.shape[-1]
    info = level_info(op, dims, levels, log2, base_resolution, per_level_scale)
    be = resolve(op, backend, device)
    points = x.reshape(-1, dims)
    if be == "reference":
        out = reference.hash_grid_encode(points, table, list(info)).to(table.dtype)
    else:
        out = L.hash_grid_encode_forward(points.contiguous(), table.contiguous(),
                                         _level_info_tensor(info, device), be)
    return out.view(*x.shape[:-1], levels * features)


class HashGridEncoding(nn.Module):
    """Learnable multiresolution hash-grid encoding (Instant-NGP; tiny-cuda-nn's "HashGrid").

    Holds ``table``, an ``nn.Parameter`` of shape ``(n_levels, 2^log2_hashmap_size,
    n_features_per_level)`` initialised uniform(-1e-4, 1e-4), and computes
    :func:`hash_grid_encode` of points in :math:`[0, 1]^{n\\_input\\_dims}` (clamped) into
    ``n_output_dims = n_levels * n_features_per_level`` features.

    Args:
        n_input_dims: 2 or 3.
        n_levels, n_features_per_level (1, 2, 4 or 8), log2_hashmap_size (4..30),
        base_resolution, per_level_scale, interpolation: see :func:`hash_grid_encode`.
        dtype: the table's dtype: float32 (default), float16, bfloat16 (x stays float32) or
            float64 (x float64).
        device: where the table lives.

    Example::

        >>> enc = fastgen.nerf.HashGridEncoding(n_levels=16, log2_hashmap_size=19).cuda()
        >>> feats = enc(torch.rand(2**20, 3, device="cuda"))      # (2^20, 32)
        >>> feats = enc(x, backend="triton")                      # any backend, as every op
    """

    def __init__(self, n_input_dims=3, n_levels=16, n_features_per_level=2, log2_hashmap_size=19,
                 base_resolution=16, per_level_scale=1.447, interpolation="linear",
                 dtype=torch.float32, device=None):
        super().__init__()
        op = "HashGridEncoding"
        if isinstance(n_input_dims, bool) or n_input_dims not in DIMS:
            raise ValueError(f"{op}: n_input_dims must be 2 or 3, got {n_input_dims!r}")
        _int(op, "n_levels", n_levels, 1, MAX_LEVELS)
        if isinstance(n_features_per_level, bool) or n_features_per_level not in FEATURES:
            raise ValueError(f"{op}: n_features_per_level must be one of {FEATURES}, got "
                             f"{n_features_per_level!r}")
        _int(op, "log2_hashmap_size", log2_hashmap_size, *LOG2_RANGE)
        if interpolation != "linear":
            raise ValueError(f"{op}: interpolation {interpolation!r} is not supported; only "
                             "'linear' is implemented")
        if dtype not in _TABLE_DTYPES:
            raise TypeError(f"{op}: dtype must be one of float32, float16, bfloat16, float64; got "
                            f"{dtype}")
        level_info(op, n_input_dims, n_levels, log2_hashmap_size, base_resolution, per_level_scale)
        self.n_input_dims, self.n_levels = n_input_dims, n_levels
        self.n_features_per_level, self.log2_hashmap_size = n_features_per_level, log2_hashmap_size
        self.base_resolution, self.per_level_scale = base_resolution, per_level_scale
        self.interpolation = interpolation
        self.n_output_dims = n_levels * n_features_per_level
        init = torch.empty(n_levels, 1 << log2_hashmap_size, n_features_per_level, device=device)
        self.table = nn.Parameter(init.uniform_(-1e-4, 1e-4).to(dtype))

    @property
    def resolutions(self) -> list:
        """The grid resolution of each level."""
        return resolutions(self.n_levels, self.base_resolution, self.per_level_scale)

    def forward(self, x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
        """Encode ``x`` ``(..., n_input_dims)`` into ``(..., n_output_dims)`` (the table's dtype)."""
        if isinstance(x, torch.Tensor) and (x.dim() < 1 or x.shape[-1] != self.n_input_dims):
            raise ValueError(f"HashGridEncoding: x must have shape (..., {self.n_input_dims}) "
                             f"(n_input_dims={self.n_input_dims}), got shape {tuple(x.shape)}")
        return hash_grid_encode(x, self.table, self.n_levels, self.n_features_per_level,
                                self.log2_hashmap_size, self.base_resolution, self.per_level_scale,
                                self.interpolation, backend=backend)

    def extra_repr(self) -> str:
        return (f"n_input_dims={self.n_input_dims}, n_levels={self.n_levels}, "
                f"n_features_per_level={self.n_features_per_level}, "
                f"log2_hashmap_size={self.log2_hashmap_size}, "
                f"base_resolution={self.base_resolution}, per_level_scale={self.per_level_scale}, "
                f"dtype={str(self.table.dtype)[6:]}")

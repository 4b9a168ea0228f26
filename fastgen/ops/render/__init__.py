"""Volume rendering (family ``render``): scans, transmittance, weights, visibility, accumulation,
nerfacc-style ``rendering`` and the fused ``composite`` kernel.

Samples are **batched** ``(..., S)`` (one row of S samples per ray) or **packed**: flat ``(N,)``
tensors whose rays are described by ``packed_info`` ``(n_rays, 2)`` int = (start, count) per ray,
or by ``ray_indices`` ``(N,)`` int64 sorted by ray (``n_rays`` required where the output is per
ray). Empty rays are legal everywhere. Names and meanings follow nerfacc 0.5.

Common rules of every function here:

* ``backend``: ``"auto"`` (default), ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``
  (see :mod:`fastgen.backend`).
* dtypes: float32 and float64; float16/bfloat16 are accepted: the kernel backends compute them
  in float32 (the ``composite`` kernels load them natively and accumulate in float32), the
  reference computes in the input dtype.
* non-contiguous inputs are made contiguous (a copy); int32 indices are widened to int64.
* values are not scanned for NaN/inf (that would cost a pass and, on CUDA, a sync): a NaN in a
  sample propagates to its own ray's outputs only.
* index checks (``ray_indices`` sorted and in range, ``packed_info`` inside the samples) read
  the data: on CPU they always run, on CUDA only with ``FASTGEN_CHECKS=1`` (no hidden sync).
  Kernels clamp every ray to the sample range, so unchecked bad indices give wrong numbers,
  never an out-of-bounds access.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.render import _library as L
from fastgen.ops.render import reference

__all__ = [
    "inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod",
    "render_transmittance_from_density", "render_transmittance_from_alpha",
    "render_weight_from_density", "render_weight_from_alpha",
    "render_visibility_from_density", "render_visibility_from_alpha",
    "accumulate_along_rays", "rendering", "composite",
]
for _name in __all__:
    register_op(_name, "render")

_HALF = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------- packing helpers
def _segments(op, n_samples, device, packed_info=None, ray_indices=None, n_rays=None):
    """Validated int64 ``packed_info`` (R, 2) of a packed call, from packed_info or ray_indices.

    With ray_indices and n_rays: one row per ray (binary search, no sync). With ray_indices
    alone: one row per sample, non-empty only where a run of equal indices starts, which groups
    the samples exactly like the rays without knowing how many rays there are.
    """
    if packed_info is not None:
        return V.packed_info(op, packed_info, n_samples)
    ray_indices = V.ray_indices(op, ray_indices, n_samples, n_rays).contiguous()
    if n_rays is not None:
        # Ray r spans [b_r, b_{r+1}) with b_r = #indices < r: one search for both ends (sorted
        # indices in [0, n_rays); unchecked garbage on CUDA gives wrong rows, which kernels clamp).
        bounds = torch.searchsorted(ray_indices, torch.arange(n_rays + 1, device=device))
        starts, ends = bounds[:-1], bounds[1:]
    else:
        positions = torch.arange(n_samples, device=device)
        first = torch.searchsorted(ray_indices, ray_indices)
        starts = positions
        ends = torch.where(first == positions, torch.searchsorted(ray_indices, ray_indices, right=True),
                           positions)
    return torch.stack([starts, ends - starts], 1)


def _batched_segments(shape, device):
    """packed_info of a batched (..., S) tensor flattened row-major."""
    n_rays, s = math.prod(shape[:-1]), shape[-1]
    starts = torch.arange(n_rays, device=device, dtype=torch.long) * s
    return torch.stack([starts, torch.full_like(starts, s)], 1)


def _as_compute(x):
    """Kernel input: contiguous, float16/bfloat16 widened to float32."""
    return (x.float() if x.dtype in _HALF else x).contiguous()


def _packed_args(op, ref, packed_info, ray_indices, n_rays, packed_required=False):
    """Validate the packing arguments against the per-sample tensor ``ref``; return packed_info or
    None for batched input."""
    if packed_info is None and ray_indices is None:
        if packed_required:
            raise ValueError(f"{op}: flattened samples need ray_indices (with n_rays) or packed_info")
        if ref.dim() < 1:
            raise ValueError(f"{op}: samples must have at least one dimension, got a scalar")
        return None
    if ref.dim() != 1:
        raise ValueError(f"{op}: with packed_info or ray_indices the samples must be flat (N,), got shape "
                         f"{tuple(ref.shape)}")
    V.same_device(op, samples=ref, packed_info=packed_info, ray_indices=ray_indices)
    if n_rays is not None:
        V.n_rays_arg(op, n_rays)
    return _segments(op, ref.shape[0], ref.device, packed_info, ray_indices, n_rays)


# ---------------------------------------------------------------------------- scans
def _scan(op, inputs, packed_info, indices, prod, exclusive, backend):
    V.floating(op, "inputs", inputs)
    device = V.same_device(op, inputs=inputs, packed_info=packed_info, indices=indices)
    info = _packed_args(op, inputs, packed_info, indices, None)
    be = resolve(op, backend, device)
    if be == "reference":
        ref_info = info if packed_info is not None else None
        ref_idx = indices.long() if (packed_info is None and indices is not None) else None
        return getattr(reference, op)(inputs, ref_info, ref_idx)
    if info is None:
        info = _batched_segments(inputs.shape, device)
    x = _as_compute(inputs).reshape(-1)
    y = L.segmented_scan(x, info, "prod" if prod else "sum", exclusive, False, be)
    return y.view(inputs.shape).to(inputs.dtype)


_SCAN_DOC = """{title}

    .. math:: {formula}

    The scan runs along the last dimension of batched ``(..., S)`` input, or within each ray of
    packed ``(N,)`` input given ``packed_info`` (n_rays, 2) = (start, count) or sorted
    ``indices`` (N,) (the ray index of each sample; no ``n_rays`` needed).

    Args:
        inputs: float tensor ``(..., S)`` or ``(N,)``.
        packed_info: optional int ``(n_rays, 2)``.
        indices: optional int64 ``(N,)``, sorted.
        backend: see :mod:`fastgen.backend`.

    Returns:
        Tensor of the shape and dtype of ``inputs``; differentiable.{extra}

    Example::

        >>> x = torch.tensor([1., 2., 3., 4., 5.])
        >>> fastgen.{name}(x, packed_info=torch.tensor([[0, 2], [2, 3]]))
        {example}
    """


def inclusive_sum(inputs, packed_info=None, indices=None, backend="auto"):
    return _scan("inclusive_sum", inputs, packed_info, indices, False, False, backend)


def exclusive_sum(inputs, packed_info=None, indices=None, backend="auto"):
    return _scan("exclusive_sum", inputs, packed_info, indices, False, True, backend)


def inclusive_prod(inputs, packed_info=None, indices=None, backend="auto"):
    return _scan("inclusive_prod", inputs, packed_info, indices, True, False, backend)


def exclusive_prod(inputs, packed_info=None, indices=None, backend="auto"):
    return _scan("exclusive_prod", inputs, packed_info, indices, True, True, backend)


_PROD_NOTE = ("\n\n    The gradient is computed without division, so it is exact where inputs are 0.")
inclusive_sum.__doc__ = _SCAN_DOC.format(
    title="Inclusive prefix sum within each ray.", name="inclusive_sum", extra="",
    formula=r"y_i = \sum_{j \le i} x_j", example="tensor([ 1.,  3.,  3.,  7., 12.])")
exclusive_sum.__doc__ = _SCAN_DOC.format(
    title="Exclusive prefix sum within each ray (0 at each ray's first sample).", name="exclusive_sum",
    extra="", formula=r"y_i = \sum_{j < i} x_j", example="tensor([0., 1., 0., 3., 7.])")
inclusive_prod.__doc__ = _SCAN_DOC.format(
    title="Inclusive prefix product within each ray.", name="inclusive_prod", extra=_PROD_NOTE,
    formula=r"y_i = \prod_{j \le i} x_j", example="tensor([ 1.,  2.,  3., 12., 60.])")
exclusive_prod.__doc__ = _SCAN_DOC.format(
    title="Exclusive prefix product within each ray (1 at each ray's first sample).",
    name="exclusive_prod", extra=_PROD_NOTE, formula=r"y_i = \prod_{j < i} x_j",
    example="tensor([ 1.,  1.,  1.,  3., 12.])")


# ---------------------------------------------------------------------------- transmittance & weights
def _check_samples(op, **tensors):
    """Per-sample float tensors: same shape, dtype and device; returns the device."""
    named = {k: V.floating(op, k, t) for k, t in tensors.items() if t is not None}
    first_name, first = next(iter(named.items()))
    V.same_shape(op, first_name, first, **named)
    V.same_dtype(op, **named)
    return V.same_device(op, **named)


def _prefix(op, prefix_trans, ref):
    if prefix_trans is not None:
        V.floating(op, "prefix_trans", prefix_trans)
        V.same_shape(op, "the samples", ref, prefix_trans=prefix_trans)
        V.same_device(op, samples=ref, prefix_trans=prefix_trans)
    return prefix_trans


def render_transmittance_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None,
                                      n_rays=None, prefix_trans=None, backend="auto"):
    r"""Transmittance :math:`T_i` and opacity :math:`\alpha_i` of each sample from densities.

    .. math::
        \delta_i = t^{end}_i - t^{start}_i,\quad \alpha_i = 1 - e^{-\sigma_i\delta_i},\quad
        T_i = \exp\Big(-\sum_{j<i} \sigma_j \delta_j\Big)\ (\times\ \text{prefix\_trans}_i)

    Args:
        t_starts, t_ends, sigmas: float, ``(n_rays, S)`` batched or ``(N,)`` packed.
        packed_info: int ``(n_rays, 2)`` = (start, count) per ray, for packed input; or
        ray_indices: int64 ``(N,)`` sorted ray index of each sample (``n_rays`` optional).
        prefix_trans: optional transmittance ``(like sigmas)`` to multiply in.

    Returns:
        ``(trans, alphas)``, each shaped like ``sigmas``; differentiable w.r.t. all float inputs.

    Example::

        >>> t0 = torch.tensor([0., 1., 2., 3., 4., 5., 6.]); t1 = t0 + 1
        >>> sigmas = torch.tensor([0.4, 0.8, 0.1, 0.8, 0.1, 0.0, 0.9])
        >>> ray_indices = torch.tensor([0, 0, 0, 1, 1, 2, 2])
        >>> trans, alphas = fastgen.render_transmittance_from_density(t0, t1, sigmas, ray_indices=ray_indices)
        >>> trans   # tensor([1.0000, 0.6703, 0.3012, 1.0000, 0.4493, 1.0000, 1.0000])
    """
    return _transmittance_from_density("render_transmittance_from_density", t_starts, t_ends, sigmas, packed_info,
                                       ray_indices, n_rays, prefix_trans, backend)


def _transmittance_from_density(op, t_starts, t_ends, sigmas, packed_info, ray_indices, n_rays, prefix_trans,
                                backend):
    """render_transmittance_from_density on behalf of the public op ``op`` (named in errors)."""
    device = _check_samples(op, t_starts=t_starts, t_ends=t_ends, sigmas=sigmas)
    prefix_trans = _prefix(op, prefix_trans, sigmas)
    info = _packed_args(op, sigmas, packed_info, ray_indices, n_rays)
    be = resolve(op, backend, device)
    if be == "reference":
        return reference.render_transmittance_from_density(
            t_starts, t_ends, sigmas, info if packed_info is not None else None,
            ray_indices if packed_info is None else None, n_rays, prefix_trans)
    sigmas_dt = sigmas * (t_ends - t_starts)
    alphas = -torch.expm1(-sigmas_dt)
    trans = torch.exp(-_scan_kernel(sigmas_dt, info, False, be))
    if prefix_trans is not None:
        trans = trans * prefix_trans
    return trans, alphas


def _scan_kernel(x, info, prod, be):
    """Exclusive scan of a validated per-sample tensor on kernel backend ``be``."""
    if info is None:
        info = _batched_segments(x.shape, x.device)
    y = L.segmented_scan(_as_compute(x).reshape(-1), info, "prod" if prod else "sum", True, False, be)
    return y.view(x.shape).to(x.dtype)


def render_transmittance_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None,
                                    prefix_trans=None, backend="auto"):
    r"""Transmittance :math:`T_i = \prod_{j<i} (1 - \alpha_j)` (times ``prefix_trans``) from opacities.

    Args:
        alphas: float ``(n_rays, S)`` or ``(N,)``; packing arguments as in
            :func:`render_transmittance_from_density`.

    Returns:
        ``trans`` shaped like ``alphas``; differentiable (exact at ``alpha == 1``).

    Example::

        >>> alphas = torch.tensor([0.4, 0.8, 0.1, 0.8, 0.1, 0.0, 0.9])
        >>> fastgen.render_transmittance_from_alpha(alphas, ray_indices=torch.tensor([0, 0, 0, 1, 1, 2, 2]))
        tensor([1.0000, 0.6000, 0.1200, 1.0000, 0.2000, 1.0000, 1.0000])
    """
    return _transmittance_from_alpha("render_transmittance_from_alpha", alphas, packed_info, ray_indices, n_rays,
                                     prefix_trans, backend)


def _transmittance_from_alpha(op, alphas, packed_info, ray_indices, n_rays, prefix_trans, backend):
    """render_transmittance_from_alpha on behalf of the public op ``op`` (named in errors)."""
    device = _check_samples(op, alphas=alphas)
    prefix_trans = _prefix(op, prefix_trans, alphas)
    info = _packed_args(op, alphas, packed_info, ray_indices, n_rays)
    be = resolve(op, backend, device)
    if be == "reference":
        return reference.render_transmittance_from_alpha(
            alphas, info if packed_info is not None else None,
            ray_indices if packed_info is None else None, n_rays, prefix_trans)
    trans = _scan_kernel(1.0 - alphas, info, True, be)
    return trans * prefix_trans if prefix_trans is not None else trans


def render_weight_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None,
                               prefix_trans=None, backend="auto"):
    r"""Rendering weights :math:`w_i = T_i \alpha_i` from densities (see
    :func:`render_transmittance_from_density` for :math:`T_i`, :math:`\alpha_i` and the arguments).

    Returns:
        ``(weights, trans, alphas)``, each shaped like ``sigmas``; differentiable.

    Example::

        >>> weights, trans, alphas = fastgen.render_weight_from_density(t0, t1, sigmas, ray_indices=ray_indices)
        >>> weights  # tensor([0.3297, 0.3691, 0.0287, 0.5507, 0.0428, 0.0000, 0.5934])
    """
    trans, alphas = _transmittance_from_density("render_weight_from_density", t_starts, t_ends, sigmas, packed_info,
                                                ray_indices, n_rays, prefix_trans, backend)
    return trans * alphas, trans, alphas


def render_weight_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None,
                             backend="auto"):
    r"""Rendering weights :math:`w_i = \alpha_i \prod_{j<i}(1-\alpha_j)` from opacities.

    Returns:
        ``(weights, trans)``, each shaped like ``alphas``; differentiable.

    Example::

        >>> weights, trans = fastgen.render_weight_from_alpha(alphas, ray_indices=ray_indices)
        >>> weights  # tensor([0.4000, 0.4800, 0.0120, 0.8000, 0.0200, 0.0000, 0.9000])
    """
    trans = _transmittance_from_alpha("render_weight_from_alpha", alphas, packed_info, ray_indices, n_rays,
                                      prefix_trans, backend)
    return trans * alphas, trans


def _visibility_args(op, early_stop_eps, alpha_thre):
    for name, v in (("early_stop_eps", early_stop_eps), ("alpha_thre", alpha_thre)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{op}: {name} must be a finite number >= 0, got {v!r}")


@torch.no_grad()
def render_visibility_from_alpha(alphas, packed_info=None, ray_indices=None, n_rays=None, early_stop_eps=1e-4,
                                 alpha_thre=0.0, prefix_trans=None, backend="auto"):
    r"""Which samples are visible: :math:`T_i \ge` ``early_stop_eps`` and (when ``alpha_thre > 0``)
    :math:`\alpha_i \ge` ``alpha_thre``. Used to drop samples before the expensive network runs.

    Returns:
        bool tensor shaped like ``alphas`` (no gradient).

    Example::

        >>> fastgen.render_visibility_from_alpha(alphas, ray_indices=ray_indices, early_stop_eps=0.3, alpha_thre=0.2)
        tensor([ True,  True, False,  True, False, False,  True])
    """
    _visibility_args("render_visibility_from_alpha", early_stop_eps, alpha_thre)
    trans = _transmittance_from_alpha("render_visibility_from_alpha", alphas, packed_info, ray_indices, n_rays,
                                      prefix_trans, backend)
    return reference._visibility(trans, alphas, early_stop_eps, alpha_thre)


@torch.no_grad()
def render_visibility_from_density(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None,
                                   early_stop_eps=1e-4, alpha_thre=0.0, prefix_trans=None, backend="auto"):
    r"""Visibility from densities: :math:`T_i \ge` ``early_stop_eps`` and (when ``alpha_thre > 0``)
    :math:`\alpha_i \ge` ``alpha_thre``, with :math:`T_i, \alpha_i` of
    :func:`render_transmittance_from_density`.

    Returns:
        bool tensor shaped like ``sigmas`` (no gradient).
    """
    _visibility_args("render_visibility_from_density", early_stop_eps, alpha_thre)
    trans, alphas = _transmittance_from_density("render_visibility_from_density", t_starts, t_ends, sigmas,
                                                packed_info, ray_indices, n_rays, prefix_trans, backend)
    return reference._visibility(trans, alphas, early_stop_eps, alpha_thre)


# ---------------------------------------------------------------------------- accumulation
def accumulate_along_rays(weights, values=None, ray_indices=None, n_rays=None, backend="auto"):
    r"""Per-ray weighted sum :math:`\sum_i w_i v_i` (or :math:`\sum_i w_i` when ``values`` is None).

    Args:
        weights: float ``(n_rays, S)`` batched, or ``(N,)`` packed with ``ray_indices``.
        values: optional float ``(n_rays, S, D)`` or ``(N, D)``.
        ray_indices: int64 ``(N,)`` sorted ray index of each sample; needs ``n_rays``.
        n_rays: number of rays (output rows) for packed input.

    Returns:
        ``(n_rays, D)`` (D = 1 without ``values``) in the input dtype; differentiable w.r.t.
        weights and values, also twice (the backward is differentiable).

    The kernel backends fuse the product into the per-ray sum (forward) and into the gradient
    kernel (backward), so the per-sample products are never stored; they accumulate float16 /
    bfloat16 in float32. The reference multiplies, then sums with ``index_add``, in the input dtype.

    Example::

        >>> colors = fastgen.accumulate_along_rays(weights, rgbs, ray_indices, n_rays)       # (n_rays, 3)
        >>> opacities = fastgen.accumulate_along_rays(weights, None, ray_indices, n_rays)    # (n_rays, 1)
    """
    op = "accumulate_along_rays"
    V.floating(op, "weights", weights)
    if values is not None:
        V.floating(op, "values", values)
        if values.dim() != weights.dim() + 1 or values.shape[:-1] != weights.shape:
            raise ValueError(f"{op}: values must have shape weights.shape + (D,) = {tuple(weights.shape)} + (D,), "
                             f"got {tuple(values.shape)}")
        V.same_dtype(op, weights=weights, values=values)
    device = V.same_device(op, weights=weights, values=values, ray_indices=ray_indices)
    if ray_indices is not None and n_rays is None:
        raise ValueError(f"{op}: n_rays must be given with ray_indices (it is the number of output rows)")
    info = _packed_args(op, weights, None, ray_indices, n_rays)
    be = resolve(op, backend, device)
    if be == "reference":
        return reference.accumulate_along_rays(weights, values, ray_indices, n_rays)
    if info is None:
        info = _batched_segments(weights.shape, device)
    d = 1 if values is None else values.shape[-1]
    # (N, D), not (-1, D): -1 is ambiguous when N * D = 0
    flat_values = None if values is None else values.contiguous().reshape(weights.numel(), d)
    out = L.weighted_segment_sum(weights.contiguous().reshape(-1), flat_values, info, info.shape[0], be)
    return out.view(*weights.shape[:-1], d) if ray_indices is None else out


def rendering(t_starts, t_ends, ray_indices=None, n_rays=None, rgb_sigma_fn=None, rgb_alpha_fn=None,
              render_bkgd=None, backend="auto"):
    r"""Render rays through a radiance field given as ``rgb_sigma_fn`` or ``rgb_alpha_fn`` (nerfacc API).

    Calls ``rgb_sigma_fn(t_starts, t_ends, ray_indices) -> (rgbs (..., 3), sigmas (...))`` (or
    ``rgb_alpha_fn`` returning alphas), then computes :math:`w_i` and

    .. math::
        C = \sum_i w_i c_i + (1 - O)\,c_{bkgd},\quad O = \sum_i w_i,\quad
        D = \frac{\sum_i w_i (t^{start}_i + t^{end}_i)/2}{\max(O, \epsilon_{f32})}

    Args:
        t_starts, t_ends: ``(n_rays, S)`` batched or ``(N,)`` packed with ``ray_indices`` and ``n_rays``.
        render_bkgd: optional background colour ``(3,)`` (or ``(n_rays, 3)``).

    Returns:
        ``colors (n_rays, 3), opacities (n_rays, 1), depths (n_rays, 1), extras`` where extras holds
        ``weights``, ``trans``, ``alphas``, ``rgbs`` (and ``sigmas``). Differentiable w.r.t. the
        field's outputs. :func:`composite` computes the same colours, opacities and depths in one
        fused kernel without materialising the per-sample tensors.
    """
    op = "rendering"
    if rgb_sigma_fn is None and rgb_alpha_fn is None:
        raise ValueError(f"{op}: give rgb_sigma_fn or rgb_alpha_fn")
    device = _check_samples(op, t_starts=t_starts, t_ends=t_ends)
    if ray_indices is not None and n_rays is None:
        raise ValueError(f"{op}: n_rays must be given with ray_indices")
    _packed_args(op, t_starts, None, ray_indices, n_rays)
    be = resolve(op, backend, device)
    if be == "reference":
        return reference.rendering(t_starts, t_ends, ray_indices, n_rays, rgb_sigma_fn, rgb_alpha_fn, render_bkgd)
    ops = SimpleNamespace(
        render_weight_from_density=lambda *a, **k: render_weight_from_density(*a, **k, backend=be),
        render_weight_from_alpha=lambda *a, **k: render_weight_from_alpha(*a, **k, backend=be),
        accumulate_along_rays=lambda *a, **k: accumulate_along_rays(*a, **k, backend=be))
    return reference.rendering(t_starts, t_ends, ray_indices, n_rays, rgb_sigma_fn, rgb_alpha_fn, render_bkgd,
                               ops=ops)


# ---------------------------------------------------------------------------- composite
def composite(t_starts, t_ends, sigmas, rgbs, ray_indices=None, packed_info=None, n_rays=None, render_bkgd=None,
              early_stop_eps=0.0, backend="auto"):
    r"""Fused volume compositing: colour, opacity and depth of each ray in one kernel pass.

    For the samples :math:`i` of a ray, with :math:`\delta_i = t^{end}_i - t^{start}_i`:

    .. math::
        \alpha_i = 1 - e^{-\sigma_i\delta_i},\quad T_i = e^{-\sum_{j<i}\sigma_j\delta_j},\quad w_i = T_i\alpha_i

        C = \sum_i w_i c_i + (1 - O)\,c_{bkgd},\quad O = \sum_i w_i,\quad
        D = \frac{\sum_i w_i (t^{start}_i + t^{end}_i)/2}{\max(O, \epsilon_{f32})}

    With ``early_stop_eps > 0`` a ray stops at its first sample with :math:`T_i <` early_stop_eps
    (that sample and the rest contribute nothing), as nerfacc's visibility test does.

    It equals :func:`rendering` with ``rgb_sigma_fn`` returning ``(rgbs, sigmas)``, but the forward
    kernel writes only the per-ray outputs (never per-sample weights or transmittance) and the
    backward kernel recomputes each ray in one pass from the inputs and the per-ray outputs, so it
    moves a fraction of the memory.

    Args:
        t_starts, t_ends, sigmas: ``(N,)`` packed or ``(..., S)`` batched; one float dtype.
        rgbs: ``(N, 3)`` or ``(..., S, 3)``, the dtype of ``sigmas``.
        ray_indices: int64 ``(N,)`` sorted ray index per sample (needs ``n_rays``); or
        packed_info: int ``(n_rays, 2)`` = (start, count) per ray (wins when both are given).
        render_bkgd: optional background ``(3,)`` or ``(n_rays, 3)`` (batched: ``(..., 3)``); differentiable.
        early_stop_eps: transmittance threshold, ``>= 0`` (0 = never stop).

    Returns:
        ``rgb (n_rays, 3), opacity (n_rays, 1), depth (n_rays, 1)`` (batched: ``(..., 3)``,
        ``(..., 1)``, ``(..., 1)``), float32 for float16/bfloat16/float32 inputs (accumulated in
        float32), float64 for float64. Differentiable w.r.t. ``sigmas``, ``rgbs`` and
        ``render_bkgd``; not w.r.t. ``t_starts``/``t_ends`` (as nerfacc's rendering).

    Example::

        >>> rgb, opacity, depth = fastgen.composite(t_starts, t_ends, sigmas, rgbs,
        ...                                         ray_indices=ray_indices, n_rays=n_rays)
        >>> (rgb.sum() + depth.sum()).backward()   # gradients reach sigmas and rgbs
    """
    op = "composite"
    device = _check_samples(op, t_starts=t_starts, t_ends=t_ends, sigmas=sigmas)
    V.floating(op, "rgbs", rgbs)
    V.same_dtype(op, sigmas=sigmas, rgbs=rgbs)
    V.same_device(op, sigmas=sigmas, rgbs=rgbs, ray_indices=ray_indices, packed_info=packed_info,
                  render_bkgd=render_bkgd)
    if rgbs.shape != (*sigmas.shape, 3):
        raise ValueError(f"{op}: rgbs must have shape sigmas.shape + (3,) = {tuple(sigmas.shape) + (3,)}, "
                         f"got {tuple(rgbs.shape)}")
    if not isinstance(early_stop_eps, (int, float)) or not math.isfinite(early_stop_eps) or early_stop_eps < 0:
        raise ValueError(f"{op}: early_stop_eps must be a finite number >= 0, got {early_stop_eps!r}")
    if packed_info is None and ray_indices is not None and n_rays is None:
        raise ValueError(f"{op}: n_rays must be given with ray_indices (it is the number of output rows)")
    info = _packed_args(op, sigmas, packed_info, ray_indices, n_rays)
    ray_shape = sigmas.shape[:-1] if info is None else (info.shape[0],)
    if render_bkgd is not None:
        V.floating(op, "render_bkgd", render_bkgd)
        if render_bkgd.shape not in ((3,), (*ray_shape, 3)):
            raise ValueError(f"{op}: render_bkgd must have shape (3,) or {tuple(ray_shape) + (3,)}, "
                             f"got {tuple(render_bkgd.shape)}")
    be = resolve(op, backend, device)
    out_dtype = L.compute_dtype(sigmas.dtype)
    if be == "reference":
        if packed_info is not None:
            ray_indices = None
        else:
            info = None
        outs = reference.composite(t_starts, t_ends, sigmas, rgbs, ray_indices, info, n_rays, render_bkgd,
                                   early_stop_eps)
        return tuple(o.to(out_dtype) for o in outs)
    if info is None:
        info = _batched_segments(sigmas.shape, device)
    n = info.shape[0]
    bkgd = None if render_bkgd is None else render_bkgd.to(out_dtype).expand(*ray_shape, 3).reshape(n, 3).contiguous()
    rgb, opacity, depth = L.composite_forward(
        t_starts.contiguous().view(-1), t_ends.contiguous().view(-1), sigmas.contiguous().view(-1),
        rgbs.contiguous().view(-1, 3), info, bkgd, float(early_stop_eps), be)
    return rgb.view(*ray_shape, 3), opacity.view(*ray_shape, 1), depth.view(*ray_shape, 1)

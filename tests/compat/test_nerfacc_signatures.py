"""fastgen.compat.nerfacc has nerfacc 0.5.3's public API: every module, name and signature.

``NERFACC_053`` states nerfacc 0.5.3's signatures (read from its source), so the test runs
without nerfacc; where nerfacc is installed, the table is also checked against nerfacc's own
objects, and nerfacc's modules are checked to hold no public callable the table lacks.
Not provided (see the module docstring): ``nerfacc.cameras`` and ``_``-prefixed helpers, except
``OccGridEstimator._update``, which nerfacc's error messages tell users to call.
"""
from __future__ import annotations

import importlib
import inspect

import pytest

from tests.compat._signatures import mismatches, resolve

_SCAN = "(inputs, packed_info=None)"
_TRANS_ALPHA = "(alphas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None)"
_TRANS_DENSITY = "(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, n_rays=None, prefix_trans=None)"
_VIS = "early_stop_eps=0.0001, alpha_thre=0.0, prefix_trans=None)"

NERFACC_053 = {
    "scan": {"inclusive_sum": _SCAN, "exclusive_sum": _SCAN, "inclusive_prod": _SCAN, "exclusive_prod": _SCAN},
    "pack": {"pack_info": "(ray_indices, n_rays=None)"},
    "data_specs": {
        "RaySamples": "(vals, packed_info=None, ray_indices=None, is_valid=None)",
        "RayIntervals": "(vals, packed_info=None, ray_indices=None, is_left=None, is_right=None)",
    },
    "grid": {
        "ray_aabb_intersect": "(rays_o, rays_d, aabbs, near_plane=-inf, far_plane=inf, miss_value=inf)",
        "traverse_grids": "(rays_o, rays_d, binaries, aabbs, near_planes=None, far_planes=None, step_size=0.001, "
                          "cone_angle=0.0, traverse_steps_limit=None, over_allocate=False, rays_mask=None, "
                          "t_sorted=None, t_indices=None, hits=None)",
    },
    "pdf": {
        "searchsorted": "(sorted_sequence, values)",
        "importance_sampling": "(intervals, cdfs, n_intervals_per_ray, stratified=False)",
    },
    "volrend": {
        "rendering": "(t_starts, t_ends, ray_indices=None, n_rays=None, rgb_sigma_fn=None, rgb_alpha_fn=None, "
                     "render_bkgd=None)",
        "render_transmittance_from_alpha": _TRANS_ALPHA,
        "render_transmittance_from_density": _TRANS_DENSITY,
        "render_weight_from_alpha": _TRANS_ALPHA,
        "render_weight_from_density": _TRANS_DENSITY,
        "render_visibility_from_alpha": "(alphas, packed_info=None, ray_indices=None, n_rays=None, " + _VIS,
        "render_visibility_from_density": "(t_starts, t_ends, sigmas, packed_info=None, ray_indices=None, "
                                          "n_rays=None, " + _VIS,
        "accumulate_along_rays": "(weights, values=None, ray_indices=None, n_rays=None)",
        "accumulate_along_rays_": "(weights, values=None, ray_indices=None, outputs=None)",
    },
    "estimators.base": {
        "AbstractEstimator": "()",
        "AbstractEstimator.sampling": "(self, *args, **kwargs)",
        "AbstractEstimator.update_every_n_steps": "(self, *args, **kwargs)",
    },
    "estimators.occ_grid": {
        "OccGridEstimator": "(roi_aabb, resolution=128, levels=1, **kwargs)",
        "OccGridEstimator.sampling": "(self, rays_o, rays_d, sigma_fn=None, alpha_fn=None, near_plane=0.0, "
                                     "far_plane=10000000000.0, t_min=None, t_max=None, render_step_size=0.001, "
                                     "early_stop_eps=0.0001, alpha_thre=0.0, stratified=False, cone_angle=0.0)",
        "OccGridEstimator.update_every_n_steps": "(self, step, occ_eval_fn, occ_thre=0.01, ema_decay=0.95, "
                                                 "warmup_steps=256, n=16)",
        "OccGridEstimator.mark_invisible_cells": "(self, K, c2w, width, height, near_plane=0.0, chunk=32768)",
        "OccGridEstimator._update": "(self, step, occ_eval_fn, occ_thre=0.01, ema_decay=0.95, warmup_steps=256)",
    },
    "estimators.prop_net": {
        "PropNetEstimator": "(optimizer=None, scheduler=None)",
        "PropNetEstimator.sampling": "(self, prop_sigma_fns, prop_samples, num_samples, n_rays, near_plane, "
                                     "far_plane, sampling_type='lindisp', stratified=False, requires_grad=False)",
        "PropNetEstimator.compute_loss": "(self, trans, loss_scaler=1.0)",
        "PropNetEstimator.update_every_n_steps": "(self, trans, requires_grad=False, loss_scaler=1.0)",
        "get_proposal_requires_grad_fn": "(target=5.0, num_steps=1000)",
    },
}

# nerfacc/__init__.py's __all__ and the submodule each name comes from.
TOP_LEVEL = {name: module for module, entries in NERFACC_053.items() for name in entries
             if "." not in name and name not in ("accumulate_along_rays_", "AbstractEstimator",
                                                 "get_proposal_requires_grad_fn")}


def test_signatures_match_nerfacc_053_table():
    assert mismatches("fastgen.compat.nerfacc", NERFACC_053) == []


def test_top_level_names_are_the_submodules_objects():
    import fastgen.compat.nerfacc as compat

    assert sorted(compat.__all__) == sorted(["__version__", *TOP_LEVEL])
    assert compat.__version__ == "0.5.3"
    for name, module in TOP_LEVEL.items():
        assert getattr(compat, name) is resolve("fastgen.compat.nerfacc", module, name), name


def test_estimators_are_nerfacc_style_modules():
    from fastgen.compat.nerfacc.estimators.base import AbstractEstimator
    from fastgen.compat.nerfacc import OccGridEstimator, PropNetEstimator

    assert issubclass(OccGridEstimator, AbstractEstimator) and issubclass(PropNetEstimator, AbstractEstimator)
    est = PropNetEstimator()
    assert est.device.type == "cpu" and est.state_dict() == {}


def test_table_is_nerfacc_053():
    nerfacc = pytest.importorskip("nerfacc", reason="nerfacc 0.5.3 is not installed (pip install nerfacc==0.5.3)")
    assert nerfacc.__version__ == "0.5.3"
    assert mismatches("nerfacc", NERFACC_053) == []
    assert sorted(nerfacc.__all__) == sorted(["__version__", *TOP_LEVEL])


def test_table_lists_every_public_callable_of_nerfacc():
    pytest.importorskip("nerfacc", reason="nerfacc 0.5.3 is not installed (pip install nerfacc==0.5.3)")
    for module in NERFACC_053:
        mod = importlib.import_module(f"nerfacc.{module}")
        public = {name for name, obj in vars(mod).items()
                  if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", "") == mod.__name__}
        assert public <= set(NERFACC_053[module]), (module, public - set(NERFACC_053[module]))
        for name, obj in vars(mod).items():  # and every public method of its classes
            if inspect.isclass(obj) and obj.__module__ == mod.__name__:
                methods = {f"{name}.{m}" for m, f in vars(obj).items()
                           if inspect.isfunction(f) and not m.startswith("_")}
                assert methods <= set(NERFACC_053[module]), (module, methods - set(NERFACC_053[module]))

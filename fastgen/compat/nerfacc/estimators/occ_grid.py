"""``nerfacc.estimators.occ_grid``: :class:`OccGridEstimator` with nerfacc's signatures and
state_dict (``resolution``, ``aabbs``, ``occs``, ``binaries``), on fastgen's kernels."""
from __future__ import annotations

import math

import torch

from fastgen.ops.march import OccGridEstimator as _OccGridEstimator
from fastgen.compat.nerfacc.estimators.base import AbstractEstimator


class OccGridEstimator(_OccGridEstimator, AbstractEstimator):
    """:class:`fastgen.nerf.OccGridEstimator` as nerfacc 0.5.3 has it.

    Differences from fastgen's own estimator: cone steps are not capped (nerfacc's behaviour),
    ``aabbs`` is saved in the state_dict (checkpoints load both ways between nerfacc and fastgen),
    unknown keyword arguments are ignored and ``contraction_type`` is refused, as in nerfacc.
    Backend: ``"auto"`` or ``FASTGEN_BACKEND``.
    """

    DIM: int = 3

    def __init__(self, roi_aabb, resolution=128, levels=1, **kwargs) -> None:
        if "contraction_type" in kwargs:
            raise ValueError("`contraction_type` is not supported anymore for nerfacc >= 0.4.0.")
        super().__init__(roi_aabb, resolution, levels)
        self.register_buffer("aabbs", self.aabbs, persistent=True)  # nerfacc checkpoints carry it

    @torch.no_grad()
    def sampling(self, rays_o, rays_d, sigma_fn=None, alpha_fn=None, near_plane=0.0, far_plane=1e10, t_min=None,
                 t_max=None, render_step_size=1e-3, early_stop_eps=1e-4, alpha_thre=0.0, stratified=False,
                 cone_angle=0.0):
        return super().sampling(rays_o, rays_d, sigma_fn, alpha_fn, near_plane, far_plane, t_min, t_max,
                                render_step_size, early_stop_eps, alpha_thre, stratified, cone_angle,
                                max_step_size=math.inf)

    @torch.no_grad()
    def update_every_n_steps(self, step, occ_eval_fn, occ_thre=1e-2, ema_decay=0.95, warmup_steps=256, n=16):
        if not self.training:
            raise RuntimeError("OccGridEstimator.update_every_n_steps: call it in training mode "
                               "(module.train()); use _update() to update the grid at inference")
        if step % n == 0:
            self._update(step, occ_eval_fn, occ_thre, ema_decay, warmup_steps)

    @torch.no_grad()
    def _update(self, step, occ_eval_fn, occ_thre=0.01, ema_decay=0.95, warmup_steps=256):
        super()._update(step, occ_eval_fn, occ_thre, ema_decay, warmup_steps)

    sampling.__doc__ = _OccGridEstimator.sampling.__doc__
    update_every_n_steps.__doc__ = _OccGridEstimator.update_every_n_steps.__doc__


__all__ = ["OccGridEstimator"]

"""``nerfacc.estimators.prop_net``: :class:`PropNetEstimator` and
:func:`get_proposal_requires_grad_fn`, on fastgen's sampling and rendering kernels."""
from __future__ import annotations

import torch

from fastgen.ops.sample import PropNetEstimator as _PropNetEstimator
from fastgen.compat.nerfacc.estimators.base import AbstractEstimator


class PropNetEstimator(AbstractEstimator, _PropNetEstimator):
    """:class:`fastgen.nerf.PropNetEstimator` as nerfacc 0.5.3 has it: an ``nn.Module`` (so
    ``.to(device)`` chooses where samples are made), ``sampling_type`` defaulting to
    ``"lindisp"``, and ``update_every_n_steps(requires_grad=False)`` valid without an optimizer."""

    def __init__(self, optimizer=None, scheduler=None) -> None:
        AbstractEstimator.__init__(self)
        _PropNetEstimator.__init__(self, optimizer, scheduler)

    @torch.no_grad()
    def sampling(self, prop_sigma_fns, prop_samples, num_samples, n_rays, near_plane, far_plane,
                 sampling_type="lindisp", stratified=False, requires_grad=False):
        return _PropNetEstimator.sampling(self, prop_sigma_fns, prop_samples, num_samples, n_rays, near_plane,
                                          far_plane, sampling_type, stratified, requires_grad, device=self.device)

    @torch.enable_grad()
    def update_every_n_steps(self, trans, requires_grad=False, loss_scaler=1.0):
        if not requires_grad:  # nerfacc steps the scheduler only, with or without an optimizer
            if self.scheduler is not None:
                self.scheduler.step()
            return 0.0
        return _PropNetEstimator.update_every_n_steps(self, trans, requires_grad, loss_scaler)

    sampling.__doc__ = _PropNetEstimator.sampling.__doc__
    update_every_n_steps.__doc__ = _PropNetEstimator.update_every_n_steps.__doc__


def get_proposal_requires_grad_fn(target=5.0, num_steps=1000):
    """Nerfacto's schedule of proposal updates: ``fn(step) -> bool``, True when more steps have
    passed since the last True than ``min(step / num_steps, 1) * target`` (so every step early on,
    every ``target + 1``-th step later). The returned function is stateful: call it once per step."""
    since_last = 0

    def proposal_requires_grad_fn(step):
        nonlocal since_last
        requires_grad = since_last > min(step / num_steps, 1.0) * target
        if requires_grad:
            since_last = 0
        since_last += 1
        return requires_grad

    return proposal_requires_grad_fn


__all__ = ["PropNetEstimator", "get_proposal_requires_grad_fn"]

"""Proposal-network sampling (mip-NeRF 360 / Nerfacto), with nerfacc's ``PropNetEstimator`` API."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from fastgen.ops.render import render_transmittance_from_density
from fastgen.ops.sample.data import RayIntervals


def _s_to_t(sampling_type: str, s, near, far):
    """Map normalised s in [0, 1] to t in [near, far]: linearly ('uniform') or linearly in 1/t
    ('lindisp')."""
    if sampling_type == "uniform":
        return near + s * (far - near)
    if sampling_type == "lindisp":
        return 1.0 / (s / far + (1.0 - s) / near)
    raise ValueError(f"PropNetEstimator.sampling: sampling_type must be 'uniform' or 'lindisp', "
                     f"got {sampling_type!r}")


def _pdf_loss(query: RayIntervals, cdfs_query, key: RayIntervals, cdfs_key, eps=1e-7):
    """The interlevel (histogram bound) loss of mip-NeRF 360: the mass a query interval holds beyond
    what the proposal histogram allows over the key intervals that cover it, squared over the
    query mass."""
    from fastgen.ops.sample import searchsorted

    ids_left, ids_right = searchsorted(key, query)
    w = cdfs_query[..., 1:] - cdfs_query[..., :-1]
    ids_left, ids_right = ids_left[..., :-1], ids_right[..., 1:]
    w_outer = cdfs_key.gather(-1, ids_right) - cdfs_key.gather(-1, ids_left)
    return torch.clip(w - w_outer, min=0) ** 2 / (w + eps)


class PropNetEstimator:
    """Proposal-network estimator: each proposal density resamples the rays' intervals by
    importance sampling (in normalised s-space), the last one gives the final samples; the
    interlevel loss trains the proposals to bound the radiance field's weights.

    Args:
        optimizer: optional optimizer of the proposal networks (for :meth:`update_every_n_steps`).
        scheduler: optional learning-rate scheduler stepped with it.

    Example::

        >>> est = PropNetEstimator(optimizer, scheduler)
        >>> t_starts, t_ends = est.sampling([prop_fn], [64], 32, n_rays, 2.0, 6.0, requires_grad=True)
        >>> ... render with t_starts, t_ends -> trans (n_rays, 32)
        >>> loss = est.update_every_n_steps(trans, requires_grad=True)
    """

    def __init__(self, optimizer: torch.optim.Optimizer | None = None, scheduler=None):
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.prop_cache: list = []

    @torch.no_grad()
    def sampling(self, prop_sigma_fns: Sequence[Callable], prop_samples: Sequence[int], num_samples: int,
                 n_rays: int, near_plane: float, far_plane: float, sampling_type: str = "uniform",
                 stratified: bool = False, requires_grad: bool = False, device=None, generator=None):
        """Sample ``num_samples`` intervals per ray through the proposal levels.

        Args:
            prop_sigma_fns: per level, ``fn(t_starts, t_ends) -> sigmas`` on ``(n_rays, k)``.
            prop_samples: per level, the number of intervals k it evaluates.
            num_samples: intervals per ray returned.
            n_rays, near_plane, far_plane: the rays and their range.
            sampling_type: ``'uniform'`` in t or ``'lindisp'`` (uniform in 1/t).
            stratified: jittered importance sampling (``generator`` seeds it).
            requires_grad: keep the proposals' graphs for :meth:`compute_loss`.
            device: of the outputs (default: CPU, or the first proposal's parameters' device).

        Returns:
            ``(t_starts, t_ends)``, each ``(n_rays, num_samples)``.
        """
        from fastgen.ops.sample import importance_sampling

        if len(prop_sigma_fns) != len(prop_samples):
            raise ValueError("PropNetEstimator.sampling: prop_sigma_fns and prop_samples must have one "
                             f"entry per level, got {len(prop_sigma_fns)} and {len(prop_samples)}")
        _s_to_t(sampling_type, 0.0, near_plane, far_plane)  # validates sampling_type
        if device is None:  # nerfacc keeps a buffer for this; here: the first proposal module's device
            params = [p for fn in prop_sigma_fns if isinstance(fn, torch.nn.Module) for p in fn.parameters()]
            device = params[0].device if params else torch.device("cpu")
        device = torch.device(device)
        cdfs = torch.tensor([0.0, 1.0], device=device).expand(n_rays, 2).contiguous()
        intervals = RayIntervals(vals=cdfs)
        for level_fn, level_samples in zip(prop_sigma_fns, prop_samples):
            intervals, _ = importance_sampling(intervals, cdfs, level_samples, stratified, generator=generator)
            t_vals = _s_to_t(sampling_type, intervals.vals, near_plane, far_plane)
            t_starts, t_ends = t_vals[..., :-1], t_vals[..., 1:]
            with torch.set_grad_enabled(requires_grad):
                sigmas = level_fn(t_starts, t_ends)
                if sigmas.shape != t_starts.shape:
                    raise ValueError(f"PropNetEstimator.sampling: a proposal returned sigmas of shape "
                                     f"{tuple(sigmas.shape)}, expected {tuple(t_starts.shape)}")
                trans, _ = render_transmittance_from_density(t_starts, t_ends, sigmas)
                cdfs = 1.0 - torch.cat([trans, torch.zeros_like(trans[:, :1])], -1)
                if requires_grad:
                    self.prop_cache.append((intervals, cdfs))
        intervals, _ = importance_sampling(intervals, cdfs, num_samples, stratified, generator=generator)
        t_vals = _s_to_t(sampling_type, intervals.vals, near_plane, far_plane)
        if requires_grad:
            self.prop_cache.append((intervals, None))
        return t_vals[..., :-1], t_vals[..., 1:]

    @torch.enable_grad()
    def compute_loss(self, trans: torch.Tensor, loss_scaler: float = 1.0) -> torch.Tensor:
        """The interlevel loss of the cached proposal levels against the final transmittance
        ``trans`` ``(n_rays, num_samples)`` (detached), averaged per level and summed; clears the
        cache. 0 when nothing is cached."""
        if not self.prop_cache:
            return torch.zeros((), device=trans.device)
        intervals, _ = self.prop_cache.pop()
        cdfs = (1.0 - torch.cat([trans, torch.zeros_like(trans[:, :1])], -1)).detach()
        loss = torch.zeros((), device=trans.device)
        while self.prop_cache:
            prop_intervals, prop_cdfs = self.prop_cache.pop()
            loss = loss + _pdf_loss(intervals, cdfs, prop_intervals, prop_cdfs).mean()
        return loss * loss_scaler

    @torch.enable_grad()
    def update_every_n_steps(self, trans: torch.Tensor, requires_grad: bool = False,
                             loss_scaler: float = 1.0) -> float:
        """With ``requires_grad``: one optimizer step on :meth:`compute_loss` (returns the loss);
        otherwise only the scheduler steps (returns 0.0)."""
        if self.optimizer is None:
            raise ValueError("PropNetEstimator.update_every_n_steps: no optimizer was given")
        if not requires_grad:
            if self.scheduler is not None:
                self.scheduler.step()
            return 0.0
        if not self.prop_cache:
            raise ValueError("PropNetEstimator.update_every_n_steps: no cached proposals; call "
                             "sampling(..., requires_grad=True) first")
        loss = self.compute_loss(trans, loss_scaler)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return float(loss.item())

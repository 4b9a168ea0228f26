"""``nerfacc.estimators.base``: the estimators' common base class."""
from __future__ import annotations

import torch
from torch import nn


class AbstractEstimator(nn.Module):
    """A transmittance estimator for sampling: an ``nn.Module`` whose ``device`` follows
    ``.to()`` (through an empty non-persistent buffer, so state_dicts are unaffected)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_dummy", torch.empty(0), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._dummy.device

    def sampling(self, *args, **kwargs):
        raise NotImplementedError

    def update_every_n_steps(self, *args, **kwargs):
        raise NotImplementedError


__all__ = ["AbstractEstimator"]

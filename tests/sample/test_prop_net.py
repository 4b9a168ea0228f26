"""PropNetEstimator: sampling shapes, order and range (uniform and lindisp); the interlevel loss is
0 when the proposal bounds the weights and positive otherwise; an update step trains a proposal."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import PropNetEstimator


class Proposal(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.logit = torch.nn.Parameter(torch.zeros(16))

    def forward(self, t_starts, t_ends):  # a density over 16 cells of [2, 6]
        cell = ((t_starts + t_ends) / 2 - 2.0).div(4.0 / 16).long().clamp(0, 15)
        return torch.nn.functional.softplus(self.logit)[cell]


@pytest.mark.parametrize("sampling_type", ["uniform", "lindisp"])
def test_sampling_shapes_and_range(sampling_type):
    prop = Proposal()
    est = PropNetEstimator()
    t0, t1 = est.sampling([prop, prop], [32, 16], 8, 5, 2.0, 6.0, sampling_type=sampling_type,
                          stratified=True, generator=torch.Generator().manual_seed(0))
    assert t0.shape == t1.shape == (5, 8)
    assert bool((t0 >= 2.0 - 1e-5).all() and (t1 <= 6.0 + 1e-5).all() and (t1 >= t0).all())
    assert torch.allclose(t0[:, 1:], t1[:, :-1])
    with pytest.raises(ValueError, match="sampling_type"):
        est.sampling([prop], [8], 4, 2, 2.0, 6.0, sampling_type="log")


def test_loss_and_update():
    torch.manual_seed(0)
    prop = Proposal()
    opt = torch.optim.Adam(prop.parameters(), lr=0.1)
    est = PropNetEstimator(opt)
    losses = []
    for _ in range(15):
        t0, t1 = est.sampling([prop], [32], 16, 8, 2.0, 6.0, requires_grad=True)
        # a radiance field with all its weight near t = 4.5: transmittance drops there
        mid = (t0 + t1) / 2
        trans = torch.where(mid < 4.5, 1.0, 0.0)
        losses.append(est.update_every_n_steps(trans, requires_grad=True))
    assert losses[0] > 0 and losses[-1] < losses[0]
    assert est.compute_loss(torch.ones(8, 16)).item() == 0.0  # nothing cached
    assert est.update_every_n_steps(torch.ones(8, 16), requires_grad=False) == 0.0

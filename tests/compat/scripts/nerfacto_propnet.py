"""A Nerfacto-style training loop written against nerfacc 0.5.3 (proposal networks, as
examples/train_ngp_nerf_prop.py writes it). Run unchanged on fastgen after
``fastgen.compat.nerfacc.install()`` (see tests/compat/test_nerfacc_scripts.py)."""
import os

import torch
import torch.nn.functional as F

from nerfacc.estimators.prop_net import PropNetEstimator, get_proposal_requires_grad_fn
from nerfacc.volrend import rendering

torch.manual_seed(0)
device = "cpu"
near_plane, far_plane = 0.2, 4.0
num_samples, num_samples_per_prop = 16, [32, 16]


class DensityField(torch.nn.Module):
    def __init__(self, out=1):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, out))

    def forward(self, x):
        return self.mlp(x)


proposal_networks = [DensityField().to(device) for _ in num_samples_per_prop]
radiance_field = DensityField(out=4).to(device)
prop_optimizer = torch.optim.Adam([p for net in proposal_networks for p in net.parameters()], lr=1e-2)
prop_scheduler = torch.optim.lr_scheduler.MultiStepLR(prop_optimizer, milestones=[3], gamma=0.5)
optimizer = torch.optim.Adam(radiance_field.parameters(), lr=1e-2)
estimator = PropNetEstimator(prop_optimizer, prop_scheduler).to(device)
proposal_requires_grad_fn = get_proposal_requires_grad_fn()

n_rays, n_steps = int(os.environ.get("N_RAYS", 48)), int(os.environ.get("N_STEPS", 6))  # tests shrink them
rays_o = torch.randn(n_rays, 3, device=device) * 0.1
rays_d = F.normalize(torch.randn(n_rays, 3, device=device), dim=-1)
pixels = torch.rand(n_rays, 3, device=device)
render_bkgd = torch.zeros(3, device=device)

losses, prop_losses = [], []
for step in range(n_steps):
    proposal_requires_grad = proposal_requires_grad_fn(step)

    def prop_sigma_fn(t_starts, t_ends, proposal_network):
        t_origins = rays_o[..., None, :]
        t_dirs = rays_d[..., None, :]
        positions = t_origins + t_dirs * (t_starts + t_ends)[..., None] / 2.0
        return F.softplus(proposal_network(positions)).squeeze(-1)

    def rgb_sigma_fn(t_starts, t_ends, ray_indices):
        t_origins = rays_o[..., None, :]
        t_dirs = rays_d[..., None, :].repeat_interleave(t_starts.shape[-1], dim=-2)
        positions = t_origins + t_dirs * (t_starts + t_ends)[..., None] / 2.0
        out = radiance_field(positions)
        return torch.sigmoid(out[..., :3]), F.softplus(out[..., 3])

    t_starts, t_ends = estimator.sampling(
        prop_sigma_fns=[lambda *args, net=net: prop_sigma_fn(*args, net) for net in proposal_networks],
        prop_samples=num_samples_per_prop,
        num_samples=num_samples,
        n_rays=n_rays,
        near_plane=near_plane,
        far_plane=far_plane,
        sampling_type="lindisp",
        stratified=True,
        requires_grad=proposal_requires_grad,
    )
    assert t_starts.shape == t_ends.shape == (n_rays, num_samples)
    rgb, opacity, depth, extras = rendering(
        t_starts, t_ends, ray_indices=None, n_rays=None, rgb_sigma_fn=rgb_sigma_fn, render_bkgd=render_bkgd,
    )
    prop_losses.append(estimator.update_every_n_steps(extras["trans"], proposal_requires_grad, loss_scaler=1024))
    loss = F.smooth_l1_loss(rgb, pixels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    assert all(p.grad is not None for p in radiance_field.parameters())

assert any(x > 0 for x in prop_losses), prop_losses  # the proposals were trained on some steps
assert all(p.grad is not None for net in proposal_networks for p in net.parameters())
assert all(torch.isfinite(torch.tensor(losses + prop_losses))), (losses, prop_losses)
print("nerfacto_propnet ok", " ".join(f"{x:.4f}" for x in losses), "prop", " ".join(f"{x:.4f}" for x in prop_losses))

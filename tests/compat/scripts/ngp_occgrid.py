"""An Instant-NGP training loop written against nerfacc 0.5.3, as its README and
examples/train_ngp_nerf_occ.py write it. Run unchanged on fastgen after
``fastgen.compat.nerfacc.install()`` (see tests/compat/test_nerfacc_scripts.py)."""
import os
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

import nerfacc
from nerfacc.estimators.occ_grid import OccGridEstimator
from nerfacc.grid import ray_aabb_intersect, traverse_grids
from nerfacc.volrend import accumulate_along_rays_, render_weight_from_density

torch.manual_seed(0)
device = "cpu"
aabb = torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0], device=device)
# Sizes: small by default; the tests shrink them further for the Triton interpreter.
n_rays, n_steps = int(os.environ.get("N_RAYS", 64)), int(os.environ.get("N_STEPS", 6))
render_step_size = float(os.environ.get("STEP_SIZE", 0.05))
alpha_thre, cone_angle, near_plane = 1e-2, 0.004, 0.0


class RadianceField(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))

    def query_density(self, x):
        return F.softplus(self.mlp(x)[..., 3] + 1.0)

    def forward(self, x, condition=None):
        out = self.mlp(x)
        return torch.sigmoid(out[..., :3]), F.softplus(out[..., 3] + 1.0)


radiance_field = RadianceField().to(device)
optimizer = torch.optim.Adam(radiance_field.parameters(), lr=1e-2)
estimator = OccGridEstimator(roi_aabb=aabb, resolution=16, levels=2).to(device)

rays_o = torch.randn(n_rays, 3, device=device) * 0.1 + torch.tensor([0.0, 0.0, -2.5], device=device)
rays_d = F.normalize(torch.randn(n_rays, 3, device=device) * 0.2 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
color_gt = torch.rand(n_rays, 3, device=device)
render_bkgd = torch.ones(3, device=device)

losses = []
for step in range(n_steps):
    radiance_field.train()
    estimator.train()

    def occ_eval_fn(x):
        density = radiance_field.query_density(x)
        return density * render_step_size

    estimator.update_every_n_steps(step=step, occ_eval_fn=occ_eval_fn, occ_thre=1e-2, n=2)

    def sigma_fn(t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor) -> Tensor:
        t_origins = rays_o[ray_indices]
        t_dirs = rays_d[ray_indices]
        positions = t_origins + t_dirs * (t_starts + t_ends)[:, None] / 2.0
        return radiance_field.query_density(positions)

    def rgb_sigma_fn(t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor) -> Tuple[Tensor, Tensor]:
        t_origins = rays_o[ray_indices]
        t_dirs = rays_d[ray_indices]
        positions = t_origins + t_dirs * (t_starts + t_ends)[:, None] / 2.0
        return radiance_field(positions, condition=t_dirs)

    ray_indices, t_starts, t_ends = estimator.sampling(
        rays_o, rays_d, sigma_fn=sigma_fn, near_plane=near_plane, render_step_size=render_step_size,
        stratified=radiance_field.training, cone_angle=cone_angle, alpha_thre=alpha_thre,
    )
    color, opacity, depth, extras = nerfacc.rendering(
        t_starts, t_ends, ray_indices, n_rays=rays_o.shape[0], rgb_sigma_fn=rgb_sigma_fn, render_bkgd=render_bkgd,
    )
    assert color.shape == (n_rays, 3) and opacity.shape == (n_rays, 1) and depth.shape == (n_rays, 1)
    assert set(extras) >= {"weights", "alphas", "trans"} and ray_indices.shape[0] > 0

    loss = F.smooth_l1_loss(color, color_gt)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    assert all(p.grad is not None for p in radiance_field.parameters())

# Test-time rendering in chunks of samples per ray, as nerfacc's examples/utils.py does it.
radiance_field.eval()
estimator.eval()
with torch.no_grad():
    t_mins, t_maxs, hits = ray_aabb_intersect(rays_o, rays_d, estimator.aabbs)
    t_sorted, t_indices = torch.sort(torch.cat([t_mins, t_maxs], -1), -1)
    near_planes = torch.full_like(rays_o[:, 0], near_plane)
    far_planes = torch.full_like(rays_o[:, 0], 1e10)
    opacity = torch.zeros(n_rays, 1, device=device)
    rgb = torch.zeros(n_rays, 3, device=device)
    ray_mask = torch.ones(n_rays, dtype=torch.bool, device=device)
    for _ in range(50):
        if not ray_mask.any():
            break
        intervals, samples, termination_planes = traverse_grids(
            rays_o, rays_d, estimator.binaries, estimator.aabbs, near_planes, far_planes, render_step_size,
            cone_angle, 8, True, ray_mask, t_sorted, t_indices, hits,
        )
        t_starts = intervals.vals[intervals.is_left]
        t_ends = intervals.vals[intervals.is_right]
        ray_indices = samples.ray_indices[samples.is_valid]
        packed_info = samples.packed_info
        positions = rays_o[ray_indices] + rays_d[ray_indices] * ((t_starts + t_ends)[:, None] / 2.0)
        rgbs, sigmas = radiance_field(positions)
        weights, _, _ = render_weight_from_density(
            t_starts, t_ends, sigmas, ray_indices=ray_indices, n_rays=n_rays,
            prefix_trans=1 - opacity[ray_indices].squeeze(-1),
        )
        accumulate_along_rays_(weights, values=rgbs, ray_indices=ray_indices, outputs=rgb)
        accumulate_along_rays_(weights, values=None, ray_indices=ray_indices, outputs=opacity)
        near_planes = termination_planes
        ray_mask = ray_mask & (opacity.view(-1) < 1 - 1e-4) & (packed_info[:, 1] == 8)
    assert torch.isfinite(rgb).all() and bool((opacity <= 1 + 1e-5).all())

assert all(torch.isfinite(torch.tensor(losses))), losses
print("ngp_occgrid ok", " ".join(f"{x:.4f}" for x in losses), f"samples={t_starts.shape[0]}")

"""An Instant-NGP-style radiance field and renderer on fastgen's ops.

* :class:`NGPField`: ``HashGridEncoding`` of the point (normalised to the scene box) -> a small
  density MLP whose first output is the density before a truncated exponential
  (``sigma = trunc_exp(raw - 1)``) and whose other outputs are geometry features -> a colour MLP
  fed with those features and the degree-4 real spherical harmonics of the view direction ->
  sigmoid RGB. The MLPs are plain ``torch.nn.Linear`` layers behind :class:`MLP`.
* :class:`NGPModel`: the field, an ``OccGridEstimator`` (updated every 16 steps, all cells during
  the first 256 steps, as Instant-NGP) and fastgen's fused ``composite``. Every fastgen op is
  called with the model's ``backend``, so ``backend="reference"`` runs the same model on the ops'
  PyTorch references.
* :func:`make_optimizer`: Adam with Instant-NGP's hyperparameters.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.profiler import record_function

import fastgen.nerf as fnerf

# record_function scopes (free unless a profiler runs): benchmarks/e2e_nerf.py --profile splits a
# training step by them


class _TruncExp(torch.autograd.Function):
    """exp(x) with its gradient clamped at exp(15): Instant-NGP's density activation."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    return _TruncExp.apply(x)


def spherical_harmonics(d: torch.Tensor) -> torch.Tensor:
    """The 16 real spherical harmonics of degree <= 3 (tiny-cuda-nn's "degree 4") of unit ``d (..., 3)``."""
    x, y, z = d.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    return torch.stack([
        torch.full_like(x, 0.28209479177387814),
        -0.48860251190291987 * y, 0.48860251190291987 * z, -0.48860251190291987 * x,
        1.0925484305920792 * x * y, -1.0925484305920792 * y * z, 0.94617469575755997 * zz - 0.31539156525251999,
        -1.0925484305920792 * x * z, 0.54627421529603959 * (xx - yy),
        0.59004358992664352 * y * (-3 * xx + yy), 2.8906114426405538 * x * y * z,
        0.45704579946446572 * y * (1 - 5 * zz), 0.3731763325901154 * z * (5 * zz - 3),
        0.45704579946446572 * x * (1 - 5 * zz), 1.4453057213202769 * z * (xx - yy),
        0.59004358992664352 * x * (-xx + 3 * yy),
    ], -1)


class MLP(nn.Module):
    """ReLU MLP without biases (as tiny-cuda-nn's FullyFusedMLP): ``n_hidden`` layers of ``width``.

    The boundary a fused MLP kernel replaces: it maps ``(n, n_in)`` to ``(n, n_out)`` and holds
    nothing but its ``nn.Linear`` layers.
    """

    def __init__(self, n_in: int, n_out: int, width: int = 64, n_hidden: int = 1):
        super().__init__()
        dims = [n_in] + [width] * n_hidden + [n_out]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class NGPField(nn.Module):
    """Hash grid + density MLP + colour MLP (see the module docstring).

    Args:
        aabb: the scene box (6 floats); points outside it have zero density.
        n_levels, log2_hashmap_size, base_resolution, max_resolution: the hash grid (per-level
            scale chosen so that the finest level has ``max_resolution``).
        width: hidden width of both MLPs. geo_features: geometry features passed to colour.
    """

    def __init__(self, aabb, n_levels=16, log2_hashmap_size=19, base_resolution=16, max_resolution=2048,
                 width=64, geo_features=15, backend="auto"):
        super().__init__()
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).flatten())
        scale = math.exp(math.log(max_resolution / base_resolution) / max(n_levels - 1, 1))
        self.encoding = fnerf.HashGridEncoding(3, n_levels, 2, log2_hashmap_size, base_resolution, scale)
        self.density_mlp = MLP(self.encoding.n_output_dims, 1 + geo_features, width, n_hidden=1)
        self.color_mlp = MLP(geo_features + 16, 3, width, n_hidden=2)
        self.backend = backend

    def _features(self, x: torch.Tensor):
        lo, hi = self.aabb[:3], self.aabb[3:]
        u = (x - lo) / (hi - lo)
        inside = ((u > 0) & (u < 1)).all(-1)
        with record_function("encoding"):
            features = self.encoding(u, backend=self.backend)
        with record_function("mlp"):
            h = self.density_mlp(features)
            sigma = trunc_exp(h[:, 0] - 1) * inside
        return sigma, h[:, 1:]

    def density(self, x: torch.Tensor) -> torch.Tensor:
        """Density ``(n,)`` at world points ``x (n, 3)``."""
        return self._features(x)[0]

    def forward(self, x: torch.Tensor, d: torch.Tensor):
        """``(rgb (n, 3), sigma (n,))`` at points ``x (n, 3)`` seen along unit directions ``d (n, 3)``."""
        sigma, geo = self._features(x)
        with record_function("mlp"):
            rgb = torch.sigmoid(self.color_mlp(torch.cat([geo, spherical_harmonics(d)], -1)))
        return rgb, sigma


class NGPModel(nn.Module):
    """An :class:`NGPField` with its occupancy grid, marched and composited with fastgen's ops.

    Args:
        aabb: scene box. grid_resolution: occupancy grid cells per axis (one level).
        render_steps: samples across the box diagonal (the marching step is diagonal / this).
        backend: the backend of every fastgen op ("auto", "reference", "cpu", "cuda", "triton").
        nerfacc: None (fastgen's marching and compositing), or a module with nerfacc 0.5.3's API
            (``nerfacc`` itself, or ``fastgen.compat.nerfacc``) whose ``OccGridEstimator`` and
            ``rendering`` take their place, the field staying the same: the nerfacc side-by-side
            of ``benchmarks/e2e_nerf.py --nerfacc``.
        field_kwargs: passed to :class:`NGPField`.
    """

    def __init__(self, aabb, grid_resolution=64, render_steps=256, backend="auto", nerfacc=None, **field_kwargs):
        super().__init__()
        aabb = torch.as_tensor(aabb, dtype=torch.float32).flatten()
        self.field = NGPField(aabb, backend=backend, **field_kwargs)
        self.nerfacc = nerfacc
        estimator = fnerf.OccGridEstimator if nerfacc is None else nerfacc.OccGridEstimator
        self.estimator = estimator(aabb, resolution=grid_resolution, levels=1)
        self.render_step_size = float((aabb[3:] - aabb[:3]).norm()) / render_steps
        self.backend = backend
        # nerfacc's own methods take no backend= (or generator=) argument
        self._op_kwargs = {"backend": backend} if nerfacc is None else {}

    def update_grid(self, step: int, generator: torch.Generator | None = None) -> None:
        """Instant-NGP's occupancy schedule: every 16 steps; every cell during the first 256.

        ``generator`` draws the cells and their jitter: seed it alike on every rank."""
        with record_function("grid_update"):
            self.estimator.update_every_n_steps(
                step, occ_eval_fn=lambda x: self.field.density(x) * self.render_step_size, occ_thre=1e-2,
                warmup_steps=256, n=16, **({"generator": generator} if self.nerfacc is None else {}),
                **self._op_kwargs)

    def render(self, rays_o, rays_d, background, field: nn.Module | None = None, stratified=False,
               alpha_thre=0.0, early_stop_eps=1e-4):
        """Render rays: ``(rgb (n, 3), opacity (n, 1), n_samples)``.

        ``field`` is the module to evaluate with gradients (a DistributedDataParallel wrapper
        while training on several ranks); the visibility test always uses the bare field.
        ``background``: ``(3,)`` or ``(n, 3)``.
        """
        field = field or self.field
        bare = self.field

        def sigma_fn(t_starts, t_ends, ray_indices):
            x = rays_o[ray_indices] + rays_d[ray_indices] * ((t_starts + t_ends) / 2)[:, None]
            return bare.density(x)

        with record_function("marching"):
            ray_indices, t_starts, t_ends = self.estimator.sampling(
                rays_o, rays_d, sigma_fn=sigma_fn, render_step_size=self.render_step_size, stratified=stratified,
                alpha_thre=alpha_thre, early_stop_eps=early_stop_eps, **self._op_kwargs)
        if self.nerfacc is not None:
            def rgb_sigma_fn(t_starts, t_ends, ray_indices):
                x = rays_o[ray_indices] + rays_d[ray_indices] * ((t_starts + t_ends) / 2)[:, None]
                rgbs, sigmas = field(x, rays_d[ray_indices])
                return rgbs, sigmas

            with record_function("compositing"):
                rgb, opacity, _, _ = self.nerfacc.rendering(
                    t_starts, t_ends, ray_indices, n_rays=rays_o.shape[0], rgb_sigma_fn=rgb_sigma_fn,
                    render_bkgd=background)
            return rgb, opacity, t_starts.shape[0]
        x = rays_o[ray_indices] + rays_d[ray_indices] * ((t_starts + t_ends) / 2)[:, None]
        rgbs, sigmas = field(x, rays_d[ray_indices])
        with record_function("compositing"):
            rgb, opacity, _ = fnerf.composite(t_starts, t_ends, sigmas, rgbs, ray_indices=ray_indices,
                                              n_rays=rays_o.shape[0], render_bkgd=background,
                                              backend=self.backend)
        return rgb, opacity, t_starts.shape[0]

    @torch.no_grad()
    def render_image(self, c2w, K, width, height, background, chunk=8192):
        """The ``(height, width, 3)`` image of one camera (evaluation: no jitter, no grad)."""
        from fastgen.data.cameras import image_rays

        rays_o, rays_d = image_rays(c2w, K, width, height)
        out = [self.render(rays_o[a:a + chunk], rays_d[a:a + chunk], background)[0]
               for a in range(0, rays_o.shape[0], chunk)]
        return torch.cat(out).reshape(height, width, 3)


def make_optimizer(model: NGPModel, lr=1e-2, betas=(0.9, 0.99), eps=1e-15, hash_weight_decay=1e-6,
                   mlp_weight_decay=1e-6) -> torch.optim.Adam:
    """Adam with Instant-NGP's hyperparameters: lr 1e-2, betas (0.9, 0.99), eps 1e-15, L2 1e-6."""
    field = model.field
    mlps = [p for m in (field.density_mlp, field.color_mlp) for p in m.parameters()]
    groups = [{"params": list(field.encoding.parameters()), "weight_decay": hash_weight_decay},
              {"params": mlps, "weight_decay": mlp_weight_decay}]
    # the fused kernel updates the (large) hash table in one pass; the default loops over it per op
    return torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps, fused=True)


def make_scheduler(optimizer, total_steps: int, warmup_steps: int = 100):
    """nerfacc's Instant-NGP schedule: linear warm-up over ``warmup_steps`` (at most a tenth of the
    run, so that short runs are not all warm-up), then x0.33 at 50%, 75% and 90% of the steps."""
    warmup_steps = max(1, min(warmup_steps, total_steps // 10))
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup_steps)
    decay = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[total_steps // 2, total_steps * 3 // 4, total_steps * 9 // 10], gamma=0.33)
    return torch.optim.lr_scheduler.ChainedScheduler([warmup, decay], optimizer=optimizer)

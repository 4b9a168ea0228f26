"""Instant-NGP's occupancy-grid estimator (nerfacc's ``OccGridEstimator`` API)."""
from __future__ import annotations

import math

import torch
from torch import nn

from fastgen import _validate as V
from fastgen.backend import kernels, resolve
from fastgen.ops import march as M
from fastgen.ops.march import reference


def _resolution(resolution):
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        resolution = [resolution] * 3
    res = list(resolution) if isinstance(resolution, (list, tuple, torch.Tensor)) else None
    if res is None or len(res) != 3 or any(isinstance(r, bool) or int(r) != r or int(r) < 1 for r in res):
        raise ValueError(f"OccGridEstimator: resolution must be an int >= 1 or three of them, got {resolution!r}")
    return [int(r) for r in res]


class OccGridEstimator(nn.Module):
    r"""Occupancy-grid sampler of Instant-NGP, with nerfacc's names and buffers.

    ``levels`` binary grids of ``resolution`` cells: level ``l`` covers ``roi_aabb`` scaled by
    ``2^l`` about its centre. Buffers (state_dict keys as in nerfacc): ``resolution`` (3,) int32,
    ``occs`` (levels * cells,) float32 occupancy (EMA of the density; -1 marks cells no camera
    sees), ``binaries`` (levels, X, Y, Z) bool; non-persistent: ``aabbs`` (levels, 6),
    ``grid_coords`` (cells, 3) and ``grid_indices`` (cells,). Cell ``(i, j, k)`` of a level has flat
    index ``(i * Y + j) * Z + k``.

    Args:
        roi_aabb: 6 floats ``(xmin, ymin, zmin, xmax, ymax, zmax)`` with min < max.
        resolution: int or 3 ints >= 1.
        levels: int >= 1.
    """

    def __init__(self, roi_aabb, resolution=128, levels=1):
        super().__init__()
        res = _resolution(resolution)
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"OccGridEstimator: levels must be an int >= 1, got {levels!r}")
        roi = torch.as_tensor(roi_aabb, dtype=torch.float32).flatten()
        if roi.numel() != 6 or not bool(torch.isfinite(roi).all()) or bool((roi[:3] >= roi[3:]).any()):
            raise ValueError(f"OccGridEstimator: roi_aabb must be 6 finite floats with min < max, got {roi_aabb!r}")
        self.levels = levels
        self.cells_per_lvl = res[0] * res[1] * res[2]
        mid, half = (roi[:3] + roi[3:]) / 2, (roi[3:] - roi[:3]) / 2
        aabbs = torch.stack([torch.cat([mid - half * 2**i, mid + half * 2**i]) for i in range(levels)])
        self.register_buffer("resolution", torch.tensor(res, dtype=torch.int32))
        self.register_buffer("aabbs", aabbs, persistent=False)
        self.register_buffer("occs", torch.zeros(levels * self.cells_per_lvl))
        self.register_buffer("binaries", torch.zeros([levels, *res], dtype=torch.bool))
        coords = torch.stack(torch.meshgrid(*(torch.arange(r) for r in res), indexing="ij"), -1)
        self.register_buffer("grid_coords", coords.reshape(-1, 3), persistent=False)
        self.register_buffer("grid_indices", torch.arange(self.cells_per_lvl), persistent=False)
        self.default_max_step = M.default_max_step(self.binaries, aabbs)  # a float: no sync when sampling

    # ------------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sampling(self, rays_o, rays_d, sigma_fn=None, alpha_fn=None, near_plane=0.0, far_plane=1e10,
                 t_min=None, t_max=None, render_step_size=1e-3, early_stop_eps=1e-4, alpha_thre=0.0,
                 stratified=False, cone_angle=0.0, max_step_size=None, max_samples_per_ray=None,
                 generator=None, backend="auto"):
        r"""Sample intervals along rays where the grid is occupied.

        Marches with :func:`fastgen.nerf.traverse_grids` from ``max(near_plane, t_min)`` to
        ``min(far_plane, t_max)`` (per ray where given) inside the grids' boxes. With ``sigma_fn``
        (or ``alpha_fn``), evaluates the candidates without grad and drops the invisible ones:
        those behind early termination (transmittance < ``early_stop_eps``) and, with
        ``alpha_thre > 0``, those whose alpha is below ``min(alpha_thre, occs.mean())``.

        Args:
            rays_o, rays_d: float ``(n_rays, 3)``, unit directions.
            sigma_fn: ``(t_starts, t_ends, ray_indices) -> sigmas (n,)``, optional.
            alpha_fn: ``(t_starts, t_ends, ray_indices) -> alphas (n,)``, optional (if no sigma_fn).
            near_plane, far_plane: floats; t_min, t_max: optional ``(n_rays,)`` per-ray limits.
            render_step_size: step (> 0). cone_angle: >= 0 (cone stepping, see traverse_grids).
            max_step_size: largest cone step; default the coarsest cell's longest edge.
            stratified: jitter each ray's first sample by U[0, 1) steps (``generator``).
            max_samples_per_ray: K: return batched ``(n_rays, K)`` samples with no host sync.
            backend: see :mod:`fastgen.backend` (marching and the visibility test).

        Returns:
            packed (default): ``(ray_indices, t_starts, t_ends)``, each ``(n,)``.
            batched (K given): ``(t_starts, t_ends, mask)``, each ``(n_rays, K)``; row r holds ray r.
        """
        op = "sampling"
        V.floating(op, "rays_o", rays_o, ndim=2)
        n_rays, device, dtype = rays_o.shape[0], rays_o.device, rays_o.dtype
        resolve(op, backend, device)
        near = torch.full((n_rays,), float(near_plane), dtype=dtype, device=device)
        far = torch.full((n_rays,), float(far_plane), dtype=dtype, device=device)
        if t_min is not None:
            near = torch.maximum(near, M._planes(op, "t_min", t_min, 0.0, n_rays, dtype, device))
        if t_max is not None:
            far = torch.minimum(far, M._planes(op, "t_max", t_max, 0.0, n_rays, dtype, device))
        jitter = torch.rand(n_rays, generator=generator, device=device, dtype=dtype) if stratified else None
        if max_step_size is None and isinstance(render_step_size, (int, float)):
            max_step_size = max(self.default_max_step, render_step_size)
        out = M.traverse_grids(rays_o, rays_d, self.binaries, self.aabbs, near, far, render_step_size,
                               cone_angle, max_step_size, jitter, max_samples_per_ray, backend=backend)
        evaluate = (alpha_thre > 0.0 or early_stop_eps > 0.0) and (sigma_fn is not None or alpha_fn is not None)
        if max_samples_per_ray is not None:
            t_starts, t_ends, mask = out
            if evaluate:
                K = max_samples_per_ray
                ids = torch.arange(n_rays, device=device)[:, None].expand(n_rays, K).reshape(-1)
                alphas = self._alphas(sigma_fn, alpha_fn, t_starts.reshape(-1), t_ends.reshape(-1), ids)
                alphas = torch.where(mask, alphas.reshape(n_rays, K), torch.zeros_like(t_starts))
                trans = torch.cumprod(torch.cat([torch.ones_like(alphas[:, :1]), 1 - alphas[:, :-1]], 1), 1)
                visible = trans >= early_stop_eps
                if alpha_thre > 0.0:  # min(alpha_thre, occs.mean()) without a sync
                    visible = visible & (alphas >= torch.clamp(self.occs.mean(), max=alpha_thre))
                mask = mask & visible
            return t_starts, t_ends, mask
        t_starts, t_ends, ray_indices, packed_info = out
        if evaluate and t_starts.shape[0]:
            from fastgen.ops.render import render_visibility_from_alpha

            alpha_thre = min(alpha_thre, float(self.occs.mean()))
            alphas = self._alphas(sigma_fn, alpha_fn, t_starts, t_ends, ray_indices)
            keep = render_visibility_from_alpha(alphas, packed_info=packed_info, early_stop_eps=early_stop_eps,
                                                alpha_thre=alpha_thre, backend=backend)
            ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        return ray_indices, t_starts, t_ends

    @staticmethod
    def _alphas(sigma_fn, alpha_fn, t_starts, t_ends, ray_indices):
        if sigma_fn is not None:
            sigmas = sigma_fn(t_starts, t_ends, ray_indices).reshape(t_starts.shape)
            return 1.0 - torch.exp(-sigmas * (t_ends - t_starts))
        return alpha_fn(t_starts, t_ends, ray_indices).reshape(t_starts.shape)

    # ------------------------------------------------------------------------ update
    @torch.no_grad()
    def update_every_n_steps(self, step, occ_eval_fn, occ_thre=0.01, ema_decay=0.95, warmup_steps=256, n=16,
                             generator=None, backend="auto"):
        r"""Instant-NGP's occupancy update, every ``n`` training steps (a no-op otherwise).

        During warm-up (``step < warmup_steps``) every cell of every level is re-evaluated;
        afterwards, per level, ``cells // 4`` cells drawn uniformly (with replacement) plus up to
        ``cells // 4`` of the occupied cells (all of them if fewer, else drawn with replacement).
        Each chosen cell is evaluated at a uniformly jittered point inside it:
        ``occ_eval_fn(x)``, ``x`` ``(n, 3)`` world positions -> ``(n,)`` or ``(n, 1)`` densities.
        Then ``occs[c] = max(occs[c] * ema_decay, max of the cell's new values)`` for cells not
        marked invisible, and ``binaries = occs > min(mean(occs[occs >= 0]), occ_thre)``.
        Random draws use ``generator`` (on the grid's device), so a seed fixes the cells chosen.
        Must be called in training mode (as in nerfacc). The occupied-cell draw syncs once per level.
        """
        if not self.training:
            raise RuntimeError("OccGridEstimator.update_every_n_steps: call it in training mode "
                               "(module.train()); use _update() to update the grid at inference")
        if step % n == 0:
            self._update(step, occ_eval_fn, occ_thre, ema_decay, warmup_steps, generator, backend)

    def _cells(self, step, warmup_steps, generator):
        """The (level, flat index) cells re-evaluated at ``step``: the Instant-NGP schedule."""
        device, per = self.occs.device, self.cells_per_lvl
        chosen = []
        for lvl in range(self.levels):
            if step < warmup_steps:
                idx = self.grid_indices
            else:
                n = per // 4
                uniform = torch.randint(per, (n,), generator=generator, device=device)
                occupied = torch.nonzero(self.binaries[lvl].flatten())[:, 0]
                if occupied.shape[0] > n:
                    occupied = occupied[torch.randint(occupied.shape[0], (n,), generator=generator, device=device)]
                idx = torch.cat([uniform, occupied])
            chosen.append((lvl, idx))
        return chosen

    def _update(self, step, occ_eval_fn, occ_thre=0.01, ema_decay=0.95, warmup_steps=256, generator=None,
                backend="auto"):
        device = self.occs.device
        chosen = resolve("update_every_n_steps", backend, device)
        res = self.resolution.to(device=device, dtype=torch.float32)
        cell_ids, values = [], []
        for lvl, idx in self._cells(step, warmup_steps, generator):
            coords = self.grid_coords[idx].float()
            u = (coords + torch.rand(coords.shape, generator=generator, device=device)) / res
            lo, hi = self.aabbs[lvl, :3], self.aabbs[lvl, 3:]
            occ = occ_eval_fn(lo + u * (hi - lo)).reshape(-1).float()
            if occ.shape[0] != idx.shape[0]:
                raise ValueError(f"update_every_n_steps: occ_eval_fn returned {occ.shape[0]} values for "
                                 f"{idx.shape[0]} points")
            cell_ids.append(lvl * self.cells_per_lvl + idx)
            values.append(occ)
        cell_ids, values = torch.cat(cell_ids), torch.cat(values).contiguous()
        if chosen == "reference":
            self.occs.copy_(reference.occ_update(self.occs, cell_ids, values, ema_decay))
        else:
            kernels("march", chosen).occ_update_(self.occs, cell_ids, values, ema_decay)
        valid = self.occs >= 0
        mean = torch.where(valid, self.occs, torch.zeros_like(self.occs)).sum() / valid.sum().clamp(min=1)
        thre = torch.clamp(mean, max=occ_thre)
        self.binaries.copy_((self.occs > thre).view(self.binaries.shape))

    # ------------------------------------------------------------------------ visibility
    @torch.no_grad()
    def mark_invisible_cells(self, K, c2w, width, height, near_plane=0.0, chunk=32**3):
        r"""Mark the cells no training camera sees (``occs = -1``, never occupied again).

        A cell is visible when its centre projects inside the image (``0 <= u < width``,
        ``0 <= v < height``) of at least one camera at depth ``>= near_plane``, and no camera
        sees it in its image closer than ``near_plane``. Visible cells keep their occupancy (a
        previously invisible one restarts at 0).

        Args:
            K: ``(3, 3)`` or ``(n_cams, 3, 3)`` intrinsics (OpenCV convention: +z forward).
            c2w: ``(n_cams, 3, 4)`` or ``(n_cams, 4, 4)`` camera-to-world matrices.
            width, height: image size in pixels.
            near_plane: float. chunk: cells per batch (memory bound).
        """
        op = "mark_invisible_cells"
        V.floating(op, "c2w", c2w, ndim=3)
        if c2w.shape[1:] not in ((3, 4), (4, 4)):
            raise ValueError(f"{op}: c2w must have shape (n_cams, 3, 4) or (n_cams, 4, 4), got {tuple(c2w.shape)}")
        V.floating(op, "K", K, ndim=(2, 3))
        n_cams = c2w.shape[0]
        K = K.expand(n_cams, 3, 3) if K.dim() == 2 else K
        if K.shape != (n_cams, 3, 3):
            raise ValueError(f"{op}: K must have shape (3, 3) or ({n_cams}, 3, 3), got {tuple(K.shape)}")
        if not (width > 0 and height > 0):
            raise ValueError(f"{op}: width and height must be positive, got {width}, {height}")
        device = self.occs.device
        K, c2w = K.to(device, torch.float32), c2w.to(device, torch.float32)
        rot_t = c2w[:, :3, :3].transpose(1, 2)  # world -> camera rotation
        trans = -rot_t @ c2w[:, :3, 3:]
        res = self.resolution.to(device=device, dtype=torch.float32)
        for lvl in range(self.levels):
            lo, hi = self.aabbs[lvl, :3], self.aabbs[lvl, 3:]
            for a in range(0, self.cells_per_lvl, chunk):
                idx = self.grid_indices[a:a + chunk]
                x = lo + (self.grid_coords[idx].float() + 0.5) / res * (hi - lo)
                cam = rot_t @ x.T[None] + trans  # (n_cams, 3, n)
                uvd = K @ cam
                depth = uvd[:, 2]
                uv = uvd[:, :2] / torch.where(depth == 0, torch.ones_like(depth), depth)[:, None]
                in_image = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
                seen = (in_image & (depth >= near_plane)).any(0)
                too_near = (in_image & (depth < near_plane)).any(0)
                visible = seen & ~too_near
                ids = lvl * self.cells_per_lvl + idx
                self.occs[ids] = torch.where(visible, self.occs[ids].clamp(min=0), torch.full_like(self.occs[ids], -1.0))
        self.binaries &= (self.occs >= 0).view(self.binaries.shape)

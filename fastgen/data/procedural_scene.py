"""A procedural NeRF scene rendered analytically and written in the Blender (nerf_synthetic) format.

The scene is a few convex primitives inside the unit cube ``[-0.5, 0.5]^3``: solid ones (a slab,
a sphere, a rotated box, a capped cylinder) with Lambertian shading under a fixed light (so the
colour of a surface point does not depend on the view), and semi-transparent ones of constant
density ``sigma`` and constant colour. Every pixel is computed exactly, with no sampling and none
of fastgen's kernels:

* each primitive is convex, so a ray meets it in one interval ``[t_in, t_out]``, found in closed
  form (sphere: a quadratic; box: slabs; cylinder: a quadratic and a slab);
* a solid primitive is opaque: the ray ends at the nearest solid entry ``t_s``;
* the semi-transparent intervals, clipped to ``[0, t_s]``, split the ray into segments on which
  the total density is constant; segment ``j`` of length ``L_j``, density
  ``s_j = sum_k sigma_k`` and colour ``c_j = sum_k sigma_k c_k / s_j`` (over the primitives
  covering it) contributes ``T_j (1 - exp(-s_j L_j)) c_j`` with ``T_j = exp(-sum_{i<j} s_i L_i)``:
  the emission-absorption integral in closed form;
* a solid hit adds ``T c_solid`` and makes the pixel opaque; otherwise alpha is ``1 - T``.

Images are RGBA PNGs with straight (not premultiplied) alpha, as Blender writes them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from fastgen.data.cameras import focal_from_fov, intrinsics, pixel_rays, sphere_poses

CAMERA_ANGLE_X = 0.6911112070083618  # nerf_synthetic's field of view
CAMERA_RADIUS = 2.0
SCENE_AABB = (-0.5, -0.5, -0.5, 0.5, 0.5, 0.5)
LIGHT = (0.4, -0.5, 0.77)  # direction towards the light
AMBIENT = 0.35
FORMAT_VERSION = 1  # bump when the scene or the files change, so cached copies are regenerated


def _rotation_z(degrees: float) -> torch.Tensor:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


@dataclass(frozen=True)
class Primitive:
    """A convex primitive. ``kind``: "sphere" (size = (radius,)), "box" (size = half extents),
    "cylinder" (size = (radius, half height), axis = local z). ``sigma=None``: solid."""

    kind: str
    center: tuple
    size: tuple
    color: tuple
    sigma: float | None = None
    rotation_z_deg: float = 0.0


SCENE = (
    Primitive("box", (0.0, 0.0, -0.42), (0.46, 0.46, 0.04), (0.75, 0.72, 0.68)),
    Primitive("sphere", (-0.2, -0.15, -0.2), (0.18,), (0.85, 0.2, 0.15)),
    Primitive("box", (0.2, 0.17, -0.25), (0.12, 0.12, 0.13), (0.15, 0.3, 0.85), rotation_z_deg=30.0),
    Primitive("cylinder", (0.22, -0.2, -0.22), (0.08, 0.16), (0.2, 0.75, 0.25)),
    Primitive("sphere", (0.0, 0.05, 0.12), (0.2,), (0.95, 0.85, 0.2), sigma=6.0),
    Primitive("box", (-0.2, 0.2, -0.1), (0.1, 0.1, 0.18), (0.1, 0.85, 0.9), sigma=12.0),
)


def _slab(o, d, lo, hi):
    """Entry/exit of ``lo <= o + t d <= hi`` per axis (inf/-inf for rays parallel to a slab)."""
    t1, t2 = (lo - o) / d, (hi - o) / d
    return torch.minimum(t1, t2), torch.maximum(t1, t2)


def intersect(prim: Primitive, rays_o: torch.Tensor, rays_d: torch.Tensor):
    """``(t_in, t_out, normal_in)`` of float64 rays with ``prim``; ``t_in = t_out = inf`` on a miss."""
    rot = _rotation_z(prim.rotation_z_deg)
    o = (rays_o - torch.tensor(prim.center, dtype=torch.float64)) @ rot  # world -> local: R^T x
    d = rays_d @ rot
    inf = torch.full_like(o[:, 0], math.inf)
    if prim.kind == "sphere":
        r = prim.size[0]
        b = (o * d).sum(-1)
        disc = b * b - ((o * o).sum(-1) - r * r)
        root = torch.sqrt(disc.clamp(min=0))
        t_in, t_out = -b - root, -b + root
        n = o + t_in[:, None] * d
        hit = disc > 0
    elif prim.kind == "box":
        half = torch.tensor(prim.size, dtype=torch.float64)
        near, far = _slab(o, d, -half, half)
        t_in, axis = near.max(-1)
        t_out = far.min(-1).values
        n = torch.zeros_like(o).scatter_(1, axis[:, None], -torch.sign(d.gather(1, axis[:, None])))
        hit = t_in < t_out
    elif prim.kind == "cylinder":
        r, h = prim.size
        a = d[:, 0] ** 2 + d[:, 1] ** 2
        b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
        c = o[:, 0] ** 2 + o[:, 1] ** 2 - r * r
        disc = b * b - a * c
        root = torch.sqrt(disc.clamp(min=0))
        safe_a = torch.where(a > 0, a, torch.ones_like(a))
        side_in = torch.where(a > 0, (-b - root) / safe_a, torch.where(c < 0, -inf, inf))
        side_out = torch.where(a > 0, (-b + root) / safe_a, torch.where(c < 0, inf, -inf))
        cap_in, cap_out = _slab(o[:, 2], d[:, 2], -h, h)
        t_in, t_out = torch.maximum(side_in, cap_in), torch.minimum(side_out, cap_out)
        p = o + torch.where(torch.isfinite(t_in), t_in, torch.zeros_like(t_in))[:, None] * d
        radial = torch.stack([p[:, 0], p[:, 1], torch.zeros_like(p[:, 0])], -1)
        cap = torch.stack([torch.zeros_like(d[:, 2])] * 2 + [-torch.sign(d[:, 2])], -1)
        n = torch.where((side_in > cap_in)[:, None], radial, cap)
        hit = (t_in < t_out) & (disc > 0)
    else:
        raise ValueError(f"unknown primitive kind {prim.kind!r}")
    hit = hit & (t_out > 0)
    normal = torch.nn.functional.normalize(n @ rot.T, dim=-1)
    return torch.where(hit, t_in, inf), torch.where(hit, t_out, inf), normal


def render_rays(rays_o: torch.Tensor, rays_d: torch.Tensor, scene=SCENE):
    """Exact colour of rays through ``scene``: ``(premultiplied rgb (n, 3), alpha (n,))``, float64.

    Composite on a background ``bg`` as ``rgb + (1 - alpha) * bg``.
    """
    rays_o, rays_d = rays_o.to(torch.float64), rays_d.to(torch.float64)
    n = rays_o.shape[0]
    light = torch.nn.functional.normalize(torch.tensor(LIGHT, dtype=torch.float64), dim=0)
    t_solid = torch.full((n,), math.inf, dtype=torch.float64)
    solid_rgb = torch.zeros(n, 3, dtype=torch.float64)
    media = []
    for prim in scene:
        t_in, t_out, normal = intersect(prim, rays_o, rays_d)
        color = torch.tensor(prim.color, dtype=torch.float64)
        if prim.sigma is None:
            closer = t_in < t_solid
            shade = AMBIENT + (1 - AMBIENT) * (normal @ light).clamp(min=0)
            t_solid = torch.where(closer, t_in, t_solid)
            solid_rgb = torch.where(closer[:, None], shade[:, None] * color, solid_rgb)
        else:
            media.append((t_in, t_out, prim.sigma, color))
    rgb = torch.zeros(n, 3, dtype=torch.float64)
    log_trans = torch.zeros(n, dtype=torch.float64)
    if media:
        lo = torch.stack([m[0] for m in media], -1).clamp(min=0)
        hi = torch.stack([m[1] for m in media], -1)
        lo, hi = torch.minimum(lo, t_solid[:, None]), torch.minimum(hi, t_solid[:, None])
        hi = torch.maximum(hi, lo)  # missed or hidden media: empty intervals
        finite = torch.isfinite(lo)
        lo, hi = torch.where(finite, lo, 0.0), torch.where(finite, hi, 0.0)
        edges = torch.sort(torch.cat([lo, hi], -1), -1).values  # (n, 2M): constant density between
        mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
        length = edges[:, 1:] - edges[:, :-1]
        inside = (lo[:, None, :] < mid[:, :, None]) & (mid[:, :, None] < hi[:, None, :])  # (n, 2M-1, M)
        sigmas = torch.tensor([m[2] for m in media], dtype=torch.float64)
        colors = torch.stack([m[3] for m in media])
        s = (inside * sigmas).sum(-1)
        c = ((inside * sigmas) @ colors) / torch.where(s > 0, s, 1.0)[..., None]
        optical = s * length
        before = torch.cumsum(optical, -1) - optical
        rgb = ((torch.exp(-before) * -torch.expm1(-optical))[..., None] * c).sum(1)
        log_trans = -optical.sum(-1)
    trans = torch.exp(log_trans)
    solid = torch.isfinite(t_solid)
    rgb = rgb + torch.where(solid, trans, 0.0)[:, None] * solid_rgb
    alpha = torch.where(solid, torch.ones_like(trans), 1 - trans)
    return rgb, alpha


def render_view(c2w: torch.Tensor, width: int, height: int, scene=SCENE) -> torch.Tensor:
    """The exact straight-alpha RGBA image ``(height, width, 4)`` float64 in [0, 1] of one camera."""
    focal = focal_from_fov(CAMERA_ANGLE_X, width)
    K = intrinsics(focal, focal, width / 2, height / 2).to(torch.float64)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    cams = torch.zeros(height * width, dtype=torch.int64)
    rays_o, rays_d = pixel_rays(c2w.to(torch.float64)[None], K, cams, xs.reshape(-1), ys.reshape(-1))
    rgb, alpha = render_rays(rays_o, rays_d, scene)
    straight = rgb / torch.where(alpha > 0, alpha, 1.0)[:, None]
    return torch.cat([straight.clamp(0, 1), alpha[:, None]], -1).reshape(height, width, 4)


def _save_png(path: Path, rgba: torch.Tensor) -> None:
    from PIL import Image

    pixels = (rgba * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    Image.fromarray(pixels, "RGBA").save(path)


def generate(root, resolution: int = 64, n_train: int = 100, n_val: int = 8, n_test: int = 16,
             seed: int = 0, scene=SCENE) -> Path:
    """Write the scene as a Blender dataset under ``root``; deterministic for ``seed``.

    Writes ``transforms_{train,val,test}.json`` (``camera_angle_x``, frames with ``file_path`` and
    4x4 ``transform_matrix``; also ``aabb``, the scene's box, which Blender readers ignore) and
    ``{train,val,test}/r_<i>.png`` RGBA images of ``resolution`` x ``resolution``, from cameras
    drawn uniformly on the upper half (z >= 0) of a sphere of radius 2 about the origin (one
    generator seeded with ``seed``).
    Returns the root as a Path.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"generate: resolution must be a positive int, got {resolution!r}")
    root = Path(root)
    gen = torch.Generator().manual_seed(seed)
    for split, count in (("train", n_train), ("val", n_val), ("test", n_test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        poses = sphere_poses(count, CAMERA_RADIUS, gen)
        frames = []
        for i, c2w in enumerate(poses):
            _save_png(root / split / f"r_{i}.png", render_view(c2w, resolution, resolution, scene))
            frames.append({"file_path": f"./{split}/r_{i}", "rotation": 0.0, "transform_matrix": c2w.tolist()})
        meta = {"camera_angle_x": CAMERA_ANGLE_X, "aabb": list(SCENE_AABB), "frames": frames}
        (root / f"transforms_{split}.json").write_text(json.dumps(meta, indent=1))
    params = {"version": FORMAT_VERSION, "resolution": resolution, "seed": seed,
              "n_train": n_train, "n_val": n_val, "n_test": n_test}
    (root / "scene.json").write_text(json.dumps(params))
    return root


def cached(cache_dir, resolution: int = 64, seed: int = 0, **counts) -> Path:
    """The scene at ``resolution`` for ``seed`` under ``cache_dir``, generated on first use."""
    root = Path(cache_dir) / f"procedural-{resolution}px-seed{seed}"
    params = {"version": FORMAT_VERSION, "resolution": resolution, "seed": seed,
              "n_train": counts.get("n_train", 100), "n_val": counts.get("n_val", 8),
              "n_test": counts.get("n_test", 16)}
    marker = root / "scene.json"
    if not marker.exists() or json.loads(marker.read_text()) != params:
        generate(root, resolution=resolution, seed=seed, **counts)
    return root

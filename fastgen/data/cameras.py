"""Pinhole cameras in the Blender / NeRF convention, and ray generation on the device.

Conventions (those of nerf_synthetic and nerfstudio): ``c2w`` is a 4x4 camera-to-world matrix,
the camera looks along its -z axis with +y up and +x right (OpenGL). Pixel ``(x, y)`` (column,
row, row 0 at the top) is sampled at its centre, ``(x + 0.5, y + 0.5)``, so the ray direction
in camera space is ``((x + 0.5 - cx) / fx, -(y + 0.5 - cy) / fy, -1)``.
"""
from __future__ import annotations

import math

import torch


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> torch.Tensor:
    """The ``(3, 3)`` float32 matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)


def focal_from_fov(camera_angle_x: float, width: int) -> float:
    """Blender's focal length in pixels: ``0.5 * width / tan(0.5 * camera_angle_x)``."""
    return 0.5 * width / math.tan(0.5 * camera_angle_x)


def pixel_rays(c2w: torch.Tensor, K: torch.Tensor, cams: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor):
    """Rays through pixel centres, for any batch of (camera, column, row) triples, in one pass.

    Args:
        c2w: ``(n_cams, 4, 4)`` (or ``(n_cams, 3, 4)``) camera-to-world matrices.
        K: ``(3, 3)`` shared or ``(n_cams, 3, 3)`` per-camera intrinsics.
        cams, xs, ys: int64 ``(n,)`` camera index, pixel column and pixel row of each ray.

    Returns:
        ``rays_o, rays_d``: ``(n, 3)`` origins and unit directions, in ``c2w``'s dtype and device.
    """
    K = K.to(c2w)
    Ks = K[cams] if K.dim() == 3 else K.expand(cams.shape[0], 3, 3)
    x = (xs.to(c2w.dtype) + 0.5 - Ks[:, 0, 2]) / Ks[:, 0, 0]
    y = -(ys.to(c2w.dtype) + 0.5 - Ks[:, 1, 2]) / Ks[:, 1, 1]
    dirs_cam = torch.stack([x, y, -torch.ones_like(x)], -1)
    rot = c2w[cams, :3, :3]
    dirs = (rot @ dirs_cam[:, :, None])[:, :, 0]
    return c2w[cams, :3, 3].contiguous(), torch.nn.functional.normalize(dirs, dim=-1)


def image_rays(c2w: torch.Tensor, K: torch.Tensor, width: int, height: int):
    """All ``height * width`` rays of one camera (``c2w`` ``(4, 4)``, ``K`` ``(3, 3)``), row-major."""
    device = c2w.device
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    cams = torch.zeros(height * width, dtype=torch.int64, device=device)
    return pixel_rays(c2w[None], K, cams, xs.reshape(-1), ys.reshape(-1))


def look_at(eye: torch.Tensor, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """``(n, 4, 4)`` camera-to-world matrices of cameras at ``eye`` ``(n, 3)`` looking at ``target``."""
    eye = torch.as_tensor(eye, dtype=torch.float64).reshape(-1, 3)
    target = torch.as_tensor(target, dtype=torch.float64).expand_as(eye)
    up = torch.as_tensor(up, dtype=torch.float64).expand_as(eye)
    back = torch.nn.functional.normalize(eye - target, dim=-1)  # the camera looks along -z
    right = torch.linalg.cross(up, back, dim=-1)
    # a camera straight above or below the target: any right vector perpendicular to the view
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-9
    right = torch.where(degenerate, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    cam_up = torch.linalg.cross(back, right, dim=-1)
    c2w = torch.eye(4, dtype=torch.float64).repeat(eye.shape[0], 1, 1)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, cam_up, back, eye
    return c2w


def sphere_poses(n: int, radius: float, generator: torch.Generator, upper: bool = True) -> torch.Tensor:
    """``n`` cameras uniformly at random on a sphere (``upper``: its z >= 0 half) of ``radius``
    about the origin, looking at it."""
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator, dtype=torch.float64), dim=-1)
    if upper:
        dirs[:, 2] = dirs[:, 2].abs()
    return look_at(dirs * radius)


def turntable_poses(n: int, radius: float, elevation_deg: float = 30.0) -> torch.Tensor:
    """``n`` cameras on a horizontal circle at ``elevation_deg`` above the xy-plane, one full turn."""
    az = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    el = math.radians(elevation_deg)
    eye = torch.stack([torch.cos(az) * math.cos(el), torch.sin(az) * math.cos(el),
                       torch.full_like(az, math.sin(el))], -1)
    return look_at(eye * radius)

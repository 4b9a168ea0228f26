"""A procedural image dataset that needs no download: coloured shapes on soft backgrounds.

Each image holds one shape (circle, square or triangle) with a random centre, size, rotation
and colour, lit by a random light direction (soft shading across the shape and a drop shadow),
on a background with a gentle vertical gradient. The images are rendered with 4x4 supersampling
(anti-aliased edges), so a generator has a real, smooth distribution to learn, with latent
directions (size, colour, position, rotation, shape) to find.

:func:`write_shapes` writes them as an image folder, one sub-folder per shape (so the folder
loader in :mod:`fastgen.data.images` derives class labels from it), deterministically for a seed.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

SHAPES = ("circle", "square", "triangle")
SUPERSAMPLE = 4
_DONE = "done.json"  # written last: a cache folder without it is incomplete and is rewritten


def _coverage(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1 inside the unit shape (in its own rotated frame, radius 1), 0 outside."""
    if shape == "circle":
        return (u * u + v * v <= 1.0).astype(np.float32)
    if shape == "square":
        half = 1.0 / math.sqrt(2.0)  # the square inscribed in the unit circle
        return ((np.abs(u) <= half) & (np.abs(v) <= half)).astype(np.float32)
    # equilateral triangle inscribed in the unit circle: inside all three edge half-planes
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        a = math.pi / 2 + k * 2 * math.pi / 3 + math.pi / 3  # outward normal of edge k
        inside &= u * math.cos(a) + v * math.sin(a) <= 0.5
    return inside.astype(np.float32)


def render_shape(rng: np.random.Generator, resolution: int, shape: str) -> np.ndarray:
    """One (resolution, resolution, 3) uint8 image of ``shape`` with random parameters from rng."""
    n = resolution * SUPERSAMPLE
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n  # pixel centres in [0, 1]
    y, x = np.meshgrid(coords, coords, indexing="ij")
    radius = rng.uniform(0.15, 0.35)
    cx, cy = rng.uniform(radius, 1 - radius, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    colour = rng.uniform(0.15, 1.0, size=3).astype(np.float32)
    light = rng.uniform(0, 2 * math.pi)
    lx, ly = math.cos(light), math.sin(light)

    def frame(dx, dy):
        """Pixel coordinates in the shape's rotated, radius-1 frame, offset by (dx, dy)."""
        px, py = (x - cx - dx) / radius, (y - cy - dy) / radius
        c, s = math.cos(angle), math.sin(angle)
        return c * px + s * py, -s * px + c * py

    u, v = frame(0.0, 0.0)
    inside = _coverage(shape, u, v)
    shadow = _coverage(shape, *frame(-0.06 * lx, -0.06 * ly))  # cast away from the light
    # Soft shading: brighter towards the light, a sphere-like falloff for circles.
    ramp = ((x - cx) * lx + (y - cy) * ly) / radius
    if shape == "circle":
        ramp = ramp - 0.5 * (u * u + v * v)
    shade = np.clip(0.75 + 0.35 * ramp, 0.3, 1.2)[..., None]

    top, bottom = rng.uniform(0.05, 0.6, size=(2, 3)).astype(np.float32)
    background = top + (bottom - top) * y[..., None]
    background = background * (1 - 0.35 * shadow[..., None])
    image = background * (1 - inside[..., None]) + np.clip(colour * shade, 0, 1) * inside[..., None]
    image = image.reshape(resolution, SUPERSAMPLE, resolution, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_shapes(root, count: int = 5000, resolution: int = 32, seed: int = 0) -> Path:
    """Write ``count`` shape images at ``resolution`` under ``root``/<shape>/<index>.png.

    Deterministic: the same (count, resolution, seed) always gives the same files. When ``root``
    already holds a finished dataset of the same parameters, nothing is rewritten.

    Returns:
        ``root`` as a Path.
    """
    if resolution not in (32, 64):
        raise ValueError(f"write_shapes: resolution must be 32 or 64, got {resolution!r}")
    if count < 1:
        raise ValueError(f"write_shapes: count must be >= 1, got {count!r}")
    root = Path(root)
    params = {"count": count, "resolution": resolution, "seed": seed, "shapes": list(SHAPES)}
    done = root / _DONE
    if done.exists() and json.loads(done.read_text()) == params:
        return root
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        Image.fromarray(render_shape(rng, resolution, shape)).save(root / shape / f"{i:06d}.png")
    done.write_text(json.dumps(params))
    return root


def default_cache_dir(resolution: int, seed: int, count: int) -> Path:
    """Where the demo caches the procedural dataset: $FASTGEN_CACHE, else $XDG_CACHE_HOME/fastgen,
    else ~/.cache/fastgen."""
    base = os.environ.get("FASTGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fastgen")
    return Path(base) / f"shapes-{resolution}px-{count}-seed{seed}"

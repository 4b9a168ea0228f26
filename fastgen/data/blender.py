"""Loader of NeRF scenes in the Blender (nerf_synthetic) and nerfstudio ``transforms.json`` formats.

Blender: ``transforms_{train,val,test}.json``, each with ``camera_angle_x`` (horizontal field of
view, radians) and ``frames``: ``{"file_path": "./train/r_0", "transform_matrix": 4x4}``; the image
is ``<root>/<file_path>.png`` (RGBA, straight alpha). nerfstudio: one ``transforms.json`` with
intrinsics ``fl_x, fl_y, cx, cy, w, h`` at the top level or per frame, ``file_path`` with its
extension; every 8th frame is the test (and val) split, the rest is train. Both use the OpenGL
camera convention (see :mod:`fastgen.data.cameras`).

Every problem with a folder raises :class:`DatasetError` naming the file: a missing folder or
split, malformed JSON, missing or unreadable frames, images of mixed sizes, a non-4x4 matrix.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from fastgen.data.cameras import focal_from_fov, intrinsics, pixel_rays

SPLITS = ("train", "val", "test")
DEFAULT_AABB = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5)  # nerf_synthetic's scene box
NERFSTUDIO_TEST_EVERY = 8


class DatasetError(ValueError):
    """A dataset folder or file is missing or malformed; the message names the file."""


@dataclass
class SceneSplit:
    """The cameras and images of one split.

    Attributes:
        images: ``(n, H, W, 4)`` float32 straight-alpha RGBA in [0, 1] (alpha 1 without an alpha channel).
        c2w: ``(n, 4, 4)`` float32 camera-to-world matrices.
        K: ``(n, 3, 3)`` float32 intrinsics.
        aabb: the scene box (6 floats): the dataset's ``aabb`` key, else nerf_synthetic's.
        files: the image paths, for messages.
    """

    images: torch.Tensor
    c2w: torch.Tensor
    K: torch.Tensor
    aabb: tuple
    files: list

    @property
    def height(self) -> int:
        return self.images.shape[1]

    @property
    def width(self) -> int:
        return self.images.shape[2]

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device) -> "SceneSplit":
        return SceneSplit(self.images.to(device), self.c2w.to(device), self.K.to(device), self.aabb, self.files)

    def rays(self, cams: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor):
        """``rays_o, rays_d (n, 3)`` and the straight-alpha ``rgba (n, 4)`` of pixels, on the data's device."""
        rays_o, rays_d = pixel_rays(self.c2w, self.K, cams, xs, ys)
        return rays_o, rays_d, self.images[cams, ys, xs]

    def random_rays(self, n: int, generator: torch.Generator):
        """``n`` rays of pixels drawn uniformly from all images (on the generator's device)."""
        device = self.images.device
        cams = torch.randint(len(self), (n,), generator=generator, device=device)
        xs = torch.randint(self.width, (n,), generator=generator, device=device)
        ys = torch.randint(self.height, (n,), generator=generator, device=device)
        return self.rays(cams, xs, ys)


def over(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Straight-alpha ``rgba (..., 4)`` composited over ``background`` (``(3,)`` or ``(..., 3)``)."""
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + background * (1 - alpha)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path} not found")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a JSON object at the top level, got {type(meta).__name__}")
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{path}: no frames (a non-empty 'frames' list is required)")
    return meta


def _load_image(path: Path, json_path: Path, downscale: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DatasetError(f"{json_path}: frame image {path} not found")
    try:
        with Image.open(path) as img:
            img = img.convert("RGBA")
            if downscale > 1:
                # premultiplied ("RGBa") so that transparent pixels do not bleed their colour
                size = (img.width // downscale, img.height // downscale)
                img = img.convert("RGBa").resize(size, Image.BOX).convert("RGBA")
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(img.height, img.width, 4)
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{json_path}: cannot read frame image {path} ({exc})") from None
    return data.to(torch.float32) / 255


def _matrix(frame, i: int, json_path: Path) -> torch.Tensor:
    m = frame.get("transform_matrix") if isinstance(frame, dict) else None
    if m is None:
        raise DatasetError(f"{json_path}: frame {i} has no transform_matrix")
    try:
        t = torch.tensor(m, dtype=torch.float32)
    except (TypeError, ValueError):
        raise DatasetError(f"{json_path}: frame {i}: transform_matrix is not a numeric matrix") from None
    if t.shape != (4, 4):
        raise DatasetError(f"{json_path}: frame {i}: transform_matrix must be 4x4, got shape {tuple(t.shape)}")
    return t


def _intrinsics(meta: dict, frame: dict, width: int, height: int, downscale: int, json_path: Path, i: int):
    if "camera_angle_x" in meta:
        focal = focal_from_fov(float(meta["camera_angle_x"]), width)
        return intrinsics(focal, focal, width / 2, height / 2)
    keys = {}
    for key in ("fl_x", "fl_y", "cx", "cy"):
        value = frame.get(key, meta.get(key))
        if value is None and key == "fl_y":
            value = frame.get("fl_x", meta.get("fl_x"))
        if value is None:
            raise DatasetError(f"{json_path}: frame {i}: no camera_angle_x and no {key} (Blender format needs "
                               "camera_angle_x, nerfstudio's fl_x, fl_y, cx, cy)")
        keys[key] = float(value) / downscale
    return intrinsics(keys["fl_x"], keys["fl_y"], keys["cx"], keys["cy"])


def _frames_of(root: Path, split: str):
    """(json path, meta, frames of ``split``, whether file paths carry their extension)."""
    blender = root / f"transforms_{split}.json"
    nerfstudio = root / "transforms.json"
    if blender.is_file() or not nerfstudio.is_file():
        if not blender.is_file():
            raise DatasetError(f"{blender} not found: a Blender dataset has transforms_{{train,val,test}}.json, "
                               f"a nerfstudio one has transforms.json")
        meta = _read_json(blender)
        return blender, meta, meta["frames"], False
    meta = _read_json(nerfstudio)
    frames = meta["frames"]
    test = [f for i, f in enumerate(frames) if i % NERFSTUDIO_TEST_EVERY == 0]
    train = [f for i, f in enumerate(frames) if i % NERFSTUDIO_TEST_EVERY != 0] or test
    return nerfstudio, meta, (train if split == "train" else test), True


def load_split(root, split: str = "train", downscale: int = 1, device="cpu") -> SceneSplit:
    """Load one split of a Blender or nerfstudio dataset folder.

    Args:
        root: the dataset folder.
        split: "train", "val" or "test".
        downscale: integer factor (>= 1) to shrink images by (area filter) and intrinsics with them.
        device: where the returned tensors live.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"load_split: split must be one of {SPLITS}, got {split!r}")
    if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 1:
        raise ValueError(f"load_split: downscale must be an int >= 1, got {downscale!r}")
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    json_path, meta, frames, has_ext = _frames_of(root, split)
    images, poses, Ks, files = [], [], [], []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise DatasetError(f"{json_path}: frame {i} has no file_path")
        path = (root / frame["file_path"]).resolve()
        if not has_ext and path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        poses.append(_matrix(frame, i, json_path))
        image = _load_image(path, json_path, downscale)
        if images and image.shape != images[0].shape:
            raise DatasetError(f"{json_path}: images of mixed sizes: {path} is {image.shape[1]}x{image.shape[0]} "
                               f"but {files[0]} is {images[0].shape[1]}x{images[0].shape[0]}")
        height, width = image.shape[:2]
        Ks.append(_intrinsics(meta, frame, width, height, downscale, json_path, i))
        images.append(image)
        files.append(path)
    aabb = meta.get("aabb", DEFAULT_AABB)
    if not (isinstance(aabb, (list, tuple)) and len(aabb) == 6):
        raise DatasetError(f"{json_path}: aabb must be 6 numbers (xmin, ymin, zmin, xmax, ymax, zmax), got {aabb!r}")
    return SceneSplit(torch.stack(images).to(device), torch.stack(poses).to(device), torch.stack(Ks).to(device),
                      tuple(float(a) for a in aabb), files)

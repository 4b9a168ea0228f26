"""The Blender / nerfstudio loader: reads a generated folder, rejects broken ones naming the file."""
import json
import shutil

import pytest
import torch
from PIL import Image

from fastgen.data import procedural_scene as P
from fastgen.data.blender import DatasetError, load_split, over
from fastgen.data.cameras import image_rays, pixel_rays


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return P.generate(tmp_path_factory.mktemp("scene"), resolution=8, n_train=3, n_val=1, n_test=2, seed=1)


@pytest.fixture
def copy(scene, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(scene, root)
    return root


def test_reads_a_generated_folder(scene):
    data = load_split(scene, "train")
    assert data.images.shape == (3, 8, 8, 4) and data.c2w.shape == (3, 4, 4) and data.K.shape == (3, 3, 3)
    assert data.aabb == P.SCENE_AABB
    meta = json.loads((scene / "transforms_train.json").read_text())
    assert torch.allclose(data.c2w[1], torch.tensor(meta["frames"][1]["transform_matrix"]))
    # the rays of a pixel go from the camera through the scene's centre region
    rays_o, rays_d = image_rays(data.c2w[0], data.K[0], 8, 8)
    assert torch.allclose(rays_d.norm(dim=-1), torch.ones(64))
    centre = rays_o[36] + rays_d[36] * rays_o[36].norm()
    assert centre.norm() < 0.2
    o, d, rgba = data.rays(torch.tensor([2]), torch.tensor([5]), torch.tensor([3]))
    assert torch.equal(rgba[0], data.images[2, 3, 5])
    assert over(rgba, torch.ones(3)).shape == (1, 3)


def test_downscale_halves_images_and_intrinsics(scene):
    full, half = load_split(scene, "test"), load_split(scene, "test", downscale=2)
    assert half.images.shape == (2, 4, 4, 4)
    assert torch.allclose(half.K[:, :2], full.K[:, :2] / 2)
    # premultiplied box filter: the mean premultiplied colour is kept
    pre = lambda im: im[..., :3] * im[..., 3:]  # noqa: E731
    assert torch.allclose(pre(half.images).mean(), pre(full.images).mean(), atol=2 / 255)


def test_pixel_rays_match_image_rays(scene):
    data = load_split(scene, "train")
    o, d = image_rays(data.c2w[1], data.K[1], 8, 8)
    ys, xs = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    o2, d2 = pixel_rays(data.c2w, data.K, torch.ones(64, dtype=torch.int64), xs.reshape(-1), ys.reshape(-1))
    assert torch.allclose(o, o2) and torch.allclose(d, d2)


def test_nerfstudio_transforms(scene, tmp_path):
    frames = []
    for i in range(9):
        src = scene / "train" / f"r_{i % 3}.png"
        shutil.copy(src, tmp_path / f"frame_{i}.png")
        frames.append({"file_path": f"frame_{i}.png", "transform_matrix": torch.eye(4).tolist()})
    frames[2].update(fl_x=20.0, fl_y=21.0)
    meta = {"fl_x": 10.0, "fl_y": 11.0, "cx": 4.0, "cy": 3.5, "w": 8, "h": 8, "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    train, test = load_split(tmp_path, "train"), load_split(tmp_path, "test")
    assert len(train) == 7 and len(test) == 2  # every 8th frame is a test frame
    assert train.K[0].tolist() == [[10.0, 0.0, 4.0], [0.0, 11.0, 3.5], [0.0, 0.0, 1.0]]
    assert train.K[1, 0, 0] == 20.0 and train.K[1, 1, 1] == 21.0  # per-frame intrinsics win


def _edit(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="nope.*does not exist"):
        load_split(tmp_path / "nope")


def test_missing_split(copy):
    (copy / "transforms_test.json").unlink()
    with pytest.raises(DatasetError, match="transforms_test.json not found"):
        load_split(copy, "test")


def test_malformed_json(copy):
    (copy / "transforms_train.json").write_text('{"camera_angle_x": 0.7, "frames": [')
    with pytest.raises(DatasetError, match="transforms_train.json: malformed JSON"):
        load_split(copy, "train")


def test_no_frames(copy):
    _edit(copy / "transforms_val.json", lambda m: m.update(frames=[]))
    with pytest.raises(DatasetError, match="transforms_val.json: no frames"):
        load_split(copy, "val")


def test_missing_frame_image(copy):
    (copy / "train" / "r_1.png").unlink()
    with pytest.raises(DatasetError, match=r"transforms_train.json: frame image .*r_1.png not found"):
        load_split(copy, "train")


def test_unreadable_frame_image(copy):
    (copy / "train" / "r_2.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"cannot read frame image .*r_2.png"):
        load_split(copy, "train")


def test_mixed_image_sizes(copy):
    Image.new("RGBA", (6, 8)).save(copy / "train" / "r_2.png")
    with pytest.raises(DatasetError, match=r"mixed sizes: .*r_2.png is 6x8 but .*r_0.png is 8x8"):
        load_split(copy, "train")


def test_matrix_not_4x4(copy):
    _edit(copy / "transforms_train.json", lambda m: m["frames"][1].update(transform_matrix=[[1, 0, 0, 0]] * 3))
    with pytest.raises(DatasetError, match=r"transforms_train.json: frame 1: transform_matrix must be 4x4"):
        load_split(copy, "train")


def test_missing_intrinsics(copy):
    _edit(copy / "transforms_train.json", lambda m: m.pop("camera_angle_x"))
    with pytest.raises(DatasetError, match="transforms_train.json: frame 0: no camera_angle_x"):
        load_split(copy, "train")

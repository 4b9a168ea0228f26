"""The procedural scene: its files match its analytic renders, and its compositing is exact."""
import json
import math

import pytest
import torch

from fastgen.data import procedural_scene as P
from fastgen.data.blender import load_split
from fastgen.data.cameras import look_at


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return P.generate(tmp_path_factory.mktemp("scene"), resolution=16, n_train=6, n_val=2, n_test=3, seed=3)


def test_images_match_the_analytic_renders(scene):
    for split in ("train", "val", "test"):
        data = load_split(scene, split)
        for i in range(len(data)):
            expected = P.render_view(data.c2w[i].double(), 16, 16)
            # straight colour is undefined where alpha rounds to 0: compare premultiplied colour
            pre = lambda im: torch.cat([im[..., :3] * im[..., 3:], im[..., 3:]], -1)  # noqa: E731
            assert (pre(data.images[i].double()) - pre(expected)).abs().max() <= 1.0 / 255


def test_deterministic_for_a_seed(scene, tmp_path):
    again = P.generate(tmp_path, resolution=16, n_train=6, n_val=2, n_test=3, seed=3)
    for split in ("train", "test"):
        assert (scene / f"transforms_{split}.json").read_text() == (again / f"transforms_{split}.json").read_text()
        assert (scene / split / "r_1.png").read_bytes() == (again / split / "r_1.png").read_bytes()
    other = P.generate(tmp_path / "other", resolution=16, n_train=6, n_val=2, n_test=3, seed=4)
    assert (other / "transforms_train.json").read_text() != (scene / "transforms_train.json").read_text()


def test_blender_format(scene):
    meta = json.loads((scene / "transforms_train.json").read_text())
    assert meta["camera_angle_x"] == pytest.approx(P.CAMERA_ANGLE_X)
    assert len(meta["frames"]) == 6
    assert torch.tensor(meta["frames"][0]["transform_matrix"]).shape == (4, 4)
    assert (scene / "train" / "r_0.png").is_file()


def _ray_through(center, direction=(1.0, 0.0, 0.0), start=3.0):
    d = torch.tensor([direction], dtype=torch.float64)
    d = d / d.norm()
    return torch.tensor([center], dtype=torch.float64) - start * d, d


def test_semi_transparent_sphere_closed_form():
    sigma, r, color = 4.0, 0.3, (0.2, 0.6, 0.9)
    scene = (P.Primitive("sphere", (0.1, 0.0, 0.0), (r,), color, sigma=sigma),)
    o, d = _ray_through((0.1, 0.0, 0.0))
    rgb, alpha = P.render_rays(o, d, scene)
    expected = 1 - math.exp(-sigma * 2 * r)  # the chord through the centre is a diameter
    assert alpha.item() == pytest.approx(expected, rel=1e-12)
    assert rgb[0].tolist() == pytest.approx([c * expected for c in color], rel=1e-12)


def test_overlapping_media_in_front_of_a_solid_match_quadrature():
    """Two overlapping media before an opaque box: the closed form equals a fine Riemann sum."""
    scene = (P.Primitive("sphere", (0.0, 0.0, 0.0), (0.3,), (1.0, 0.0, 0.0), sigma=3.0),
             P.Primitive("box", (0.15, 0.0, 0.0), (0.2, 0.2, 0.2), (0.0, 0.0, 1.0), sigma=5.0),
             P.Primitive("box", (0.6, 0.0, 0.0), (0.1, 0.3, 0.3), (0.0, 1.0, 0.0)))
    o, d = _ray_through((0.0, 0.02, 0.01), direction=(1.0, 0.05, -0.03))
    rgb, alpha = P.render_rays(o, d, scene)
    t_solid = P.intersect(scene[2], o, d)[0].item()
    n = 200_000
    t = (torch.arange(n, dtype=torch.float64) + 0.5) * (t_solid / n)
    x = o + t[:, None] * d
    in_sphere = (x.norm(dim=-1) < 0.3).double()
    in_box = ((x - torch.tensor([0.15, 0.0, 0.0], dtype=torch.float64)).abs() < 0.2).all(-1).double()
    s = 3.0 * in_sphere + 5.0 * in_box
    c = (3.0 * in_sphere[:, None] * torch.tensor([1.0, 0, 0], dtype=torch.float64)
         + 5.0 * in_box[:, None] * torch.tensor([0, 0, 1.0], dtype=torch.float64))
    dt = t_solid / n
    trans = torch.exp(-torch.cumsum(s * dt, 0))
    emitted = ((torch.cat([torch.ones(1, dtype=torch.float64), trans[:-1]]) * dt)[:, None] * c).sum(0)
    _, _, normal = P.intersect(scene[2], o, d)
    light = torch.nn.functional.normalize(torch.tensor(P.LIGHT, dtype=torch.float64), dim=0)
    shade = P.AMBIENT + (1 - P.AMBIENT) * max(0.0, float(normal[0] @ light))
    expected = emitted + trans[-1] * shade * torch.tensor([0, 1.0, 0], dtype=torch.float64)
    assert alpha.item() == 1.0
    assert torch.allclose(rgb[0], expected, atol=1e-4)


def test_primitives_hit_where_expected():
    eye = torch.tensor([[0.0, -2.0, 0.0]], dtype=torch.float64)
    c2w = look_at(eye)
    d = -c2w[:, :3, 2]
    for prim, t_in in ((P.Primitive("sphere", (0, 0, 0), (0.25,), (1, 1, 1)), 1.75),
                       (P.Primitive("box", (0, 0, 0), (0.1, 0.2, 0.3), (1, 1, 1), rotation_z_deg=90.0), 1.9),
                       (P.Primitive("cylinder", (0, 0, 0), (0.3, 0.1), (1, 1, 1)), 1.7)):
        hit, _, normal = P.intersect(prim, eye, d)
        assert hit.item() == pytest.approx(t_in)
        assert normal[0].tolist() == pytest.approx([0.0, -1.0, 0.0], abs=1e-12)

"""The image dataset (folder, zip, labels, flips, error paths) and the procedural shapes."""
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.data.images import ImageDataset, image_loader
from fastgen.data.procedural_shapes import write_shapes


def _png(path, colour, size=24):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:, : size // 2] = colour  # left half coloured: a flip is visible
    Image.fromarray(pixels).save(path)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no PNG or JPEG"):
        ImageDataset(tmp_path, 16)


def test_zip_without_images_is_a_clear_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        z.writestr("readme.txt", "nothing")
    with pytest.raises(ValueError, match="zip archive .* holds no PNG or JPEG"):
        ImageDataset(tmp_path / "d.zip", 16)


def test_missing_path_and_bad_resolution(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageDataset(tmp_path / "nope", 16)
    _png(tmp_path / "a.png", 255)
    with pytest.raises(ValueError, match="resolution"):
        ImageDataset(tmp_path, 0)
    (tmp_path / "x.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match="not a zip"):
        ImageDataset(tmp_path / "x.bin", 16)


def test_folder_resize_flip_and_subfolder_labels(tmp_path):
    _png(tmp_path / "cats" / "0.png", (255, 0, 0))
    _png(tmp_path / "dogs" / "1.jpg", (0, 255, 0), size=40)
    ds = ImageDataset(tmp_path, 16, xflip=True, use_labels=True)
    assert len(ds) == 4 and ds.class_names == ["cats", "dogs"] and ds.label_dim == 2
    image, label = ds[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8
    assert label.tolist() == [1.0, 0.0]
    assert image[0, :, 0].float().mean() > 200 and image[0, :, -1].float().mean() < 50
    flipped, _ = ds[2]  # index >= n: the mirrored copy
    assert torch.equal(flipped, image.flip(-1))
    assert ds[1][1].tolist() == [0.0, 1.0]


def test_zip_with_dataset_json_labels(tmp_path):
    _png(tmp_path / "src" / "a.png", 200)
    _png(tmp_path / "src" / "b.png", 100)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        for name in ("a.png", "b.png"):
            z.write(tmp_path / "src" / name, name)
        z.writestr("dataset.json", json.dumps({"labels": [["a.png", 2], ["b.png", 0]]}))
    ds = ImageDataset(tmp_path / "d.zip", 8, use_labels=True)
    assert [ds[i][1].tolist() for i in range(2)] == [[0, 0, 1], [1, 0, 0]]
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.write(tmp_path / "src" / "a.png", "a.png")
        z.writestr("dataset.json", json.dumps({"labels": []}))
    with pytest.raises(ValueError, match="no label for 1 image"):
        ImageDataset(tmp_path / "bad.zip", 8, use_labels=True)


def test_unreadable_file_is_skipped_and_counted(tmp_path, caplog):
    _png(tmp_path / "a.png", 255)
    (tmp_path / "b.png").write_bytes(b"not a png")
    ds = ImageDataset(tmp_path, 8)
    with caplog.at_level("WARNING"):
        images = [ds[i][0] for i in range(len(ds))]
    assert ds.skipped == 1 and "skipped unreadable image b.png" in caplog.text
    assert all(torch.equal(x, images[0]) for x in images)
    batch = next(image_loader(ds, batch=4, workers=0))  # the loader keeps going past it
    assert batch[0].shape == (4, 3, 8, 8)


def test_procedural_shapes_are_deterministic_and_loadable(tmp_path):
    a = write_shapes(tmp_path / "a", count=6, resolution=32, seed=3)
    b = write_shapes(tmp_path / "b", count=6, resolution=32, seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 6 and files == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    c = write_shapes(tmp_path / "c", count=6, resolution=32, seed=4)
    assert any(not (c / f).exists() or (c / f).read_bytes() != (a / f).read_bytes() for f in files)
    ds = ImageDataset(a, 32, use_labels=True)
    image, _ = ds[0]
    assert image.shape == (3, 32, 32) and image.float().std() > 10  # not blank
    assert set(ds.class_names) <= {"circle", "square", "triangle"}
    with pytest.raises(ValueError, match="resolution"):
        write_shapes(tmp_path / "d", count=1, resolution=48)

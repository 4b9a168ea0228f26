"""Image datasets for GAN training: a folder or a zip of PNG / JPEG images (StyleGAN's formats).

* Images are read with Pillow, converted to RGB, centre-cropped to a square when they are not
  square, and resized (Lanczos) to the chosen resolution.
* ``xflip=True`` doubles the dataset with mirrored copies (index >= n is image ``index - n``
  flipped left-right), as StyleGAN's ``--mirror``.
* Class labels, when ``use_labels``: from a ``dataset.json`` at the root in StyleGAN's
  dataset-tool format ``{"labels": [["sub/img.png", 3], ...]}`` (an int is a class index; a list is
  a label vector), else from the sub-folder names (sorted; the files directly in the root get no
  class). Without either source the labels are all zero-length.
* An unreadable file never stops training: it is replaced by the next readable image and counted
  (:attr:`ImageDataset.skipped` in this process, a warning in the log per file).
"""
from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ImageDataset(torch.utils.data.Dataset):
    """Images of a folder or zip as (uint8 CHW tensor, float32 label) pairs.

    Args:
        path: a directory (searched recursively) or a ``.zip`` file.
        resolution: side of the square output images, in pixels.
        xflip: add a mirrored copy of every image.
        use_labels: read class labels (see the module docstring).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no PNG / JPEG image in ``path``, a bad resolution, or a ``dataset.json``
            that does not name every image.
    """

    def __init__(self, path, resolution: int, xflip: bool = False, use_labels: bool = False):
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"ImageDataset: resolution must be a positive int, got {resolution!r}")
        self.path = Path(path)
        self._zip = self._zip_pid = None  # opened lazily, once per process (DataLoader workers)
        if not self.path.exists():
            raise FileNotFoundError(f"ImageDataset: {self.path} does not exist")
        self.is_zip = self.path.is_file()
        if self.is_zip and not zipfile.is_zipfile(self.path):
            raise ValueError(f"ImageDataset: {self.path} is a file but not a zip archive; give a folder or a .zip")
        names = self._all_names()
        self.fnames = sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES))
        if not self.fnames:
            kind = "zip archive" if self.is_zip else "folder"
            raise ValueError(f"ImageDataset: the {kind} {self.path} holds no PNG or JPEG images "
                             f"(looked for {', '.join(IMAGE_SUFFIXES)})")
        self.resolution = resolution
        self.xflip = xflip
        self.labels, self.class_names = self._load_labels(names) if use_labels else (None, [])
        self.skipped = 0

    # ------------------------------------------------------------------ listing and labels
    def _all_names(self) -> list:
        if self.is_zip:
            with zipfile.ZipFile(self.path) as z:
                return [n for n in z.namelist() if not n.endswith("/")]
        return [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]

    def __getstate__(self):
        return {**self.__dict__, "_zip": None, "_zip_pid": None}  # an open ZipFile does not pickle

    def _read_bytes(self, name: str) -> bytes:
        if self.is_zip:
            if self._zip is None or self._zip_pid != os.getpid():
                self._zip, self._zip_pid = zipfile.ZipFile(self.path), os.getpid()
            return self._zip.read(name)
        return (self.path / name).read_bytes()

    def _load_labels(self, names: list):
        if "dataset.json" in names:
            meta = json.loads(self._read_bytes("dataset.json"))
            table = dict((str(k), v) for k, v in (meta.get("labels") or []))
            missing = [f for f in self.fnames if f not in table]
            if missing:
                raise ValueError(f"ImageDataset: dataset.json gives no label for {len(missing)} "
                                 f"image(s), e.g. {missing[0]!r}")
            raw = [table[f] for f in self.fnames]
            if all(isinstance(v, int) for v in raw):
                return self._one_hot(np.array(raw)), [str(i) for i in range(max(raw) + 1)]
            return np.array(raw, dtype=np.float32).reshape(len(raw), -1), []
        folders = [f.split("/")[0] if "/" in f else None for f in self.fnames]
        class_names = sorted({d for d in folders if d is not None})
        if not class_names:
            return None, []
        index = {d: i for i, d in enumerate(class_names)}
        classes = np.array([index[d] if d is not None else -1 for d in folders])
        return self._one_hot(classes, len(class_names)), class_names

    @staticmethod
    def _one_hot(classes: np.ndarray, n: int | None = None) -> np.ndarray:
        n = int(classes.max()) + 1 if n is None else n
        onehot = np.zeros((len(classes), n), dtype=np.float32)
        rows = np.nonzero(classes >= 0)[0]
        onehot[rows, classes[rows]] = 1
        return onehot

    @property
    def label_dim(self) -> int:
        return 0 if self.labels is None else self.labels.shape[1]

    # ------------------------------------------------------------------ images
    def __len__(self) -> int:
        return len(self.fnames) * (2 if self.xflip else 1)

    def _load(self, i: int) -> np.ndarray:
        with Image.open(io.BytesIO(self._read_bytes(self.fnames[i]))) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w != h:  # centre crop: the models are square
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            if im.size[0] != self.resolution:
                im = im.resize((self.resolution, self.resolution), Image.LANCZOS)
            return np.asarray(im)

    def __getitem__(self, index: int):
        n = len(self.fnames)
        i, flip = index % n, index >= n
        for attempt in range(n):
            j = (i + attempt) % n
            try:
                image = self._load(j)
                break
            except Exception as exc:  # a broken file must not stop training: count it, use the next
                self.skipped += 1
                log.warning("skipped unreadable image %s (%s: %s); %d skipped so far in this process",
                            self.fnames[j], type(exc).__name__, exc, self.skipped)
        else:
            raise RuntimeError(f"ImageDataset: none of the {n} images in {self.path} could be read")
        if flip:
            image = image[:, ::-1]
        label = self.labels[j] if self.labels is not None else np.zeros(0, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), torch.from_numpy(label)


class InfiniteSampler(torch.utils.data.Sampler):
    """Endless shuffled indices for rank ``rank`` of ``world`` (each rank sees every world-th
    index of one shared permutation per epoch, so the ranks never draw the same image)."""

    def __init__(self, size: int, rank: int = 0, world: int = 1, seed: int = 0):
        self.size, self.rank, self.world, self.seed = size, rank, world, seed

    def __iter__(self):
        epoch = 0
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.size)
            yield from order[self.rank::self.world].tolist()
            epoch += 1


def image_loader(dataset: ImageDataset, batch: int, rank: int = 0, world: int = 1, seed: int = 0,
                 workers: int = 2, pin_memory: bool = False):
    """An endless iterator of (images uint8 NCHW, labels) batches of ``batch`` for one rank."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=InfiniteSampler(len(dataset), rank, world, seed),
        num_workers=workers, pin_memory=pin_memory, persistent_workers=workers > 0,
        prefetch_factor=2 if workers > 0 else None)
    return iter(loader)

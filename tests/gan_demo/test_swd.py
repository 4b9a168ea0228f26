"""The sliced Wasserstein distance on Laplacian pyramids."""
import pytest
import torch
import torch.nn.functional as F

from fastgen.demo import swd


def _blobs(n, gen, sharp):
    x = torch.rand(n, 3, 8, 8, generator=gen) * 2 - 1
    return F.interpolate(x, size=32, mode="nearest" if sharp else "bilinear", align_corners=False if not sharp else None)


def test_pyramid_levels_rebuild_the_image(gen):
    images = torch.rand(2, 3, 32, 32, generator=gen, dtype=torch.float64)
    levels = swd.laplacian_pyramid(images)
    assert [lv.shape[-1] for lv in levels] == [32, 16]
    k = swd._binomial(images.device, images.dtype)
    assert torch.allclose(levels[0] + swd._pyr_up(levels[1], k), images)


def test_swd_is_small_for_one_distribution_and_large_between_two(gen):
    real = swd.descriptors(_blobs(128, gen, sharp=True), patches_per_image=64, seed=0)
    same = swd.swd(real, _blobs(128, gen, sharp=True), patches_per_image=64)
    other = swd.swd(real, _blobs(128, gen, sharp=False), patches_per_image=64)
    noise = swd.swd(real, torch.rand(128, 3, 32, 32, generator=gen) * 2 - 1, patches_per_image=64)
    assert len(same["levels"]) == 2 and same["mean"] >= 0
    assert other["mean"] > 1.5 * same["mean"] and noise["mean"] > 1.5 * same["mean"]  # ~2x measured


def test_swd_input_checks():
    with pytest.raises(ValueError, match="H, W >= 16"):
        swd.descriptors(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        swd.sliced_wasserstein(torch.zeros(4, 3), torch.zeros(5, 3))

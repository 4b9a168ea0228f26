"""The StyleGAN3-T alias-free synthesis (``arch="sg3"``): its filter schedule, a few training
iterations with R1 and path length, and second-order gradients equal to the reference backend's."""
import numpy as np
import pytest
import torch

from fastgen.models.stylegan2 import make_models
from fastgen.models.stylegan3 import AliasFreeSynthesis, kaiser_lowpass
from tests.gan_demo.conftest import TINY
from tests.gan_demo.test_train import assert_matches_reference, skip_cpu, train_a_few_iterations

SG3 = {**TINY, "arch": "sg3", "sg3_layers": 4}


def test_schedule_and_filters_follow_the_paper():
    s = AliasFreeSynthesis(8, 32, channel_base=256, channel_max=16, layers=6, critical=2, margin=4).schedule
    cutoffs = np.array(s["cutoffs"])
    assert cutoffs[0] == 2 and np.allclose(cutoffs[-3:], 16)  # critically sampled last layers: f_c = R / 2
    assert np.allclose(cutoffs[1:5] / cutoffs[:4], cutoffs[1] / cutoffs[0])  # geometric growth
    assert s["sizes"][-2:] == [32, 32] and all(r <= 32 and r >= 2 * c for r, c in zip(s["rates"], cutoffs))
    assert s["channels"][-1] == 3
    f = kaiser_lowpass(12, cutoff=4, width=4, fs=32).double()
    assert kaiser_lowpass(1, 4, 4, 32) is None and abs(float(f.sum()) - 1) < 1e-6 and torch.equal(f, f.flip(0))
    response = torch.fft.rfft(f, n=256).abs()  # |H| at 256 frequencies in [0, fs/2]
    freq = torch.linspace(0, 16, 129)
    assert response[freq <= 2].min() > 0.9 and response[freq >= 8].max() < 0.05  # pass band, stop band


def test_outputs_vary_with_z_and_the_resolution_is_exact():
    torch.manual_seed(0)
    G, _ = make_models(16, **SG3)
    with torch.no_grad():
        img = G.eval()(torch.randn(3, G.z_dim))
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all() and (img[0] - img[1]).abs().mean() > 1e-4
    assert G.num_ws == 5 and G.mapping.num_ws == 5


def test_r1_and_path_length_gradients_match_the_reference(backend, device):
    skip_cpu(backend)  # the model's other ops (modulated_conv2d, bias_act, conv2d_resample) have no cpu backend
    # 8x8 under the interpreter, whose cost is per kernel launch and pixel (16x16 takes ~40 s there)
    assert_matches_reference(backend, device, 8 if backend == "triton" and device.type == "cpu" else 16, SG3)


def test_a_few_iterations_with_both_regularisers(backend, device):
    train_a_few_iterations(backend, device, SG3)


def test_demo_trains_the_sg3_generator(tmp_path):
    import json

    from fastgen.data.procedural_shapes import write_shapes
    from fastgen.demo import gan as demo

    data = write_shapes(tmp_path / "shapes", count=8, resolution=32, seed=0)
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.004",
            "--batch", "4", "--channel-base", "64", "--channel-max", "8", "--snap-kimg", "0.004", "--swd-images", "8",
            "--workers", "0", "--no-progress", "--arch", "sg3", "--sg3-layers", "3"]
    assert demo.main(args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["sizes"]["arch"] == "sg3" and summary["steps"] == 1
    assert (tmp_path / "run" / "samples.png").is_file()

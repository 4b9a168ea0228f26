"""Class conditioning (StyleGAN2-ADA's design): G's and D's outputs depend on the label, bad labels
are clear errors, a few conditional iterations train, and the demo's ``--cond`` needs labels."""
import json

import pytest
import torch

from fastgen.data.procedural_shapes import write_shapes
from fastgen.demo import gan as demo
from fastgen.demo.gan_train import Trainer, TrainConfig
from fastgen.models.stylegan2 import make_models
from tests.gan_demo.conftest import TINY

COND = {**TINY, "c_dim": 3}


def _one_hot(classes):
    return torch.nn.functional.one_hot(torch.tensor(classes), 3).float()


def test_outputs_depend_on_the_label():
    torch.manual_seed(0)
    G, D = make_models(16, **COND)
    G.eval()
    z = torch.randn(3, G.z_dim).repeat(2, 1)  # the same latents under two label sets
    c = _one_hot([0, 1, 2, 1, 2, 0])
    with torch.no_grad():
        img = G(z, c, noise_mode="const")
        assert (img[:3] - img[3:]).abs().mean() > 1e-4
        same = G(z, c, noise_mode="const")
        assert torch.equal(img, same)  # deterministic given (z, c)
        logits = D(img[:3].repeat(2, 1, 1, 1), c)
        assert logits.shape == (6, 1) and (logits[:3] - logits[3:]).abs().max() > 1e-6


def test_missing_or_misshapen_labels_are_clear_errors():
    torch.manual_seed(0)
    G, D = make_models(16, **COND)
    z = torch.randn(2, G.z_dim)
    with pytest.raises(ValueError, match=r"conditional: c must be a \(2, 3\) label tensor, got None"):
        G(z)
    with pytest.raises(ValueError, match=r"got shape \(2, 2\)"):
        D(torch.zeros(2, 3, 16, 16), torch.zeros(2, 2))
    G0, _ = make_models(16, **TINY)
    with pytest.raises(ValueError, match="unconditional"):
        G0(z, _one_hot([0, 1]))
    trainer = Trainer(TrainConfig(resolution=16, batch=4, sizes=COND), torch.device("cpu"))
    with pytest.raises(ValueError, match="pass the reals' labels"):
        trainer.step(torch.zeros(4, 3, 16, 16))


def test_a_few_conditional_iterations_with_both_regularisers():
    cfg = TrainConfig(resolution=16, batch=4, r1_interval=2, pl_interval=2, sizes=COND)
    trainer = Trainer(cfg, torch.device("cpu"))
    before = [p.detach().clone() for p in (*trainer.G.mapping.embed.parameters(), *trainer.D.cmap.parameters())]
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(3):
        stats = trainer.step(torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1, _one_hot([0, 1, 2, 0]))
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
        seen |= set(stats)
    assert seen == {"loss_G", "loss_D", "r1_penalty", "pl_penalty"}
    after = [*trainer.G.mapping.embed.parameters(), *trainer.D.cmap.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # the label paths learn


def _demo_args(data, out):
    return ["--data", str(data), "--out", str(out), "--resolution", "16", "--kimg", "0.004", "--batch", "4",
            "--channel-base", "64", "--channel-max", "8", "--snap-kimg", "0.004", "--swd-images", "8",
            "--workers", "0", "--no-progress", "--cond"]


def test_demo_cond_trains_on_labelled_data_and_refuses_unlabelled(tmp_path):
    data = write_shapes(tmp_path / "shapes", count=8, resolution=32, seed=0)  # one sub-folder per shape
    assert demo.main(_demo_args(data, tmp_path / "run")) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["sizes"]["c_dim"] == 3 and summary["data"]["classes"] == ["circle", "square", "triangle"]
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, png in enumerate(sorted(data.rglob("*.png"))[:2]):
        (flat / f"{i}.png").write_bytes(png.read_bytes())
    with pytest.raises(ValueError, match="--cond: the data at .* has no class labels"):
        demo.main(_demo_args(flat, tmp_path / "run2"))

"""Training on every CPU-side backend: R1 and path-length second-order gradients equal the
reference's, and a few full iterations (with both lazy regularisers) run and move the weights."""
import pytest
import torch

from fastgen.demo.gan_train import Trainer, TrainConfig
from fastgen.models.stylegan2 import make_models
from tests.conftest import assert_close_rel
from tests.gan_demo.conftest import TINY


def _models(backend, device, resolution, sizes):
    torch.manual_seed(0)
    G, D = make_models(resolution, backend=backend, **sizes)
    with torch.no_grad():
        for p in G.parameters():  # untrained noise strengths are 0: make every path active
            p.add_(0.05 * torch.randn_like(p))
    return G.double().to(device), D.double().to(device)


def _grads(loss, module):
    """d loss / d every parameter; zeros for those a gradient penalty does not depend on (biases
    that shift the output without changing its derivative: D's last one, G's toRGB ones)."""
    params = list(module.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def second_order_gradients(backend, device, resolution, sizes=TINY):
    """d(R1)/d(D's weights) and d(path-length penalty)/d(G's weights), in float64."""
    G, D = _models(backend, device, resolution, sizes)
    gen = torch.Generator().manual_seed(1)
    reals = torch.randn(4, 3, resolution, resolution, generator=gen, dtype=torch.float64).to(device).requires_grad_(True)
    (g_x,) = torch.autograd.grad(D(reals).sum(), reals, create_graph=True)
    r1 = g_x.square().sum(dim=[1, 2, 3]).mean()
    r1_grads = _grads(r1, D)

    z = torch.randn(2, G.z_dim, generator=gen, dtype=torch.float64).to(device)
    ws = G.mapping(z)
    img = G.synthesis(ws, noise_mode="const")
    y = torch.randn(img.shape, generator=gen, dtype=torch.float64).to(device) / resolution
    (g_w,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = g_w.square().sum(dim=2).mean(dim=1).sqrt()
    pl = (lengths - 0.1).square().mean()
    pl_grads = _grads(pl, G)
    return r1, r1_grads, pl, pl_grads


def skip_cpu(backend):
    if backend == "cpu":
        pytest.skip("the GAN ops register no cpu backend (modconv_block has no C++ kernel: torch's oneDNN "
                    "convolution is the fast CPU path); 'auto' on CPU tensors is the reference")


def test_r1_and_path_length_gradients_match_the_reference(backend, device):
    skip_cpu(backend)
    # 8x8 (two synthesis blocks, one D block) under the interpreter, whose cost is per kernel launch
    resolution = 8 if backend == "triton" and device.type == "cpu" else 16
    assert_matches_reference(backend, device, resolution, TINY)


def assert_matches_reference(backend, device, resolution, sizes):
    r1, r1_grads, pl, pl_grads = second_order_gradients(backend, device, resolution, sizes)
    r1_ref, r1_grads_ref, pl_ref, pl_grads_ref = second_order_gradients("reference", torch.device("cpu"), resolution, sizes)
    assert float(r1_ref.detach()) > 0 and float(pl_ref.detach()) > 0
    assert_close_rel(r1, r1_ref, torch.float64, "R1", factor=100)
    assert_close_rel(pl, pl_ref, torch.float64, "path length", factor=100)
    for i, (a, e) in enumerate(zip(r1_grads, r1_grads_ref)):
        assert_close_rel(a, e, torch.float64, f"dR1/dD param {i}", factor=100)
    for i, (a, e) in enumerate(zip(pl_grads, pl_grads_ref)):
        assert_close_rel(a, e, torch.float64, f"dPL/dG param {i}", factor=100)
    assert sum(float(g.abs().sum()) for g in r1_grads) > 0 and sum(float(g.abs().sum()) for g in pl_grads) > 0


def test_a_few_iterations_with_both_regularisers(backend, device):
    train_a_few_iterations(backend, device, TINY)


def train_a_few_iterations(backend, device, sizes):
    skip_cpu(backend)
    if backend == "triton" and device.type == "cpu":
        pytest.skip("the Triton interpreter takes minutes per training step; the second-order gradient "
                    "test runs every op of the model on it")
    cfg = TrainConfig(resolution=16, batch=4, backend=backend, r1_interval=2, pl_interval=2, sizes=sizes)
    trainer = Trainer(cfg, device)
    before = [p.detach().clone() for p in (*trainer.G.parameters(), *trainer.D.parameters())]
    reals = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)).to(device) * 2 - 1
    seen = set()
    for _ in range(3):
        stats = trainer.step(reals)
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
        seen |= set(stats)
    assert seen == {"loss_G", "loss_D", "r1_penalty", "pl_penalty"}
    assert trainer.nimg == 12 and float(trainer.pl_mean) > 0
    after = [*trainer.G.parameters(), *trainer.D.parameters()]
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) > len(before) // 2
    ema_diff = sum(float((a - b).abs().sum()) for a, b in zip(trainer.G_ema.parameters(), trainer.G.parameters()))
    assert ema_diff > 0  # G_ema trails G

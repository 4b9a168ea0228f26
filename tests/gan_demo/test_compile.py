"""The torch.compile baseline's training step: G's synthesis and D compiled in the main phases,
the regularisation phases eager; it trains exactly as the eager step does."""
import torch

from fastgen.demo.gan_train import Trainer, TrainConfig
from tests.gan_demo.conftest import TINY


def _losses(compiled):
    cfg = TrainConfig(resolution=16, batch=4, r1_interval=2, pl_interval=2, mixing_prob=0.0, sizes=TINY)
    trainer = Trainer(cfg, torch.device("cpu"))
    if compiled:
        trainer.compile_main_phases(backend="eager", fullgraph=True)  # dynamo's tracing, no codegen: fast
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(1)  # the synthesis noise
    return [trainer.step(torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1) for _ in range(2)]


def test_compiled_main_phases_train_as_the_eager_ones():
    torch._dynamo.reset()
    eager, compiled = _losses(False), _losses(True)
    assert set(eager[0]) == {"loss_G", "loss_D", "r1_penalty", "pl_penalty"}
    for e, c in zip(eager, compiled):
        assert e.keys() == c.keys()
        for k in e:
            assert abs(e[k] - c[k]) <= 1e-4 * max(1.0, abs(e[k])), (k, e[k], c[k])

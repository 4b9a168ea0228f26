"""StyleGAN2's training step on fastgen's models: the four phases of StyleGAN2-ADA's loop.

* Gmain: non-saturating logistic loss softplus(-D(G(z))), with style mixing.
* Greg (every ``pl_interval`` steps): path-length regularisation
  (|J_w^T y| - a)^2 with y ~ N(0, I) / sqrt(H W), a = running mean of the lengths; the gradient
  of the penalty with respect to G's weights is a second-order gradient through G.
* Dmain: softplus(D(G(z))) + softplus(-D(x)).
* Dreg (every ``r1_interval`` steps): R1 = gamma / 2 * |grad_x D(x)|^2 on reals, a second-order
  gradient through D.

Conditional models (``sizes["c_dim"] > 0``): :meth:`Trainer.step` takes the reals' labels; the
generated images get the same batch's labels in a random order, so the fakes' classes follow
the data's class frequencies (StyleGAN2-ADA draws them from the dataset's labels).

Lazy regularisation as StyleGAN2: the penalties are scaled by their interval, and Adam's learning
rate and betas are adjusted by interval / (interval + 1). The EMA of G (``G_ema``) follows the
half-life ``ema_kimg`` with a ramp-up.

More than one process (torchrun): every rank holds the full models, draws its own latents and
its share of the batch; after each backward the gradients are all-reduced (averaged) by hand,
as StyleGAN does, instead of wrapping the models in DistributedDataParallel, whose hooks do not
support the double backward of R1 and path length. The path-length mean and the w average are
averaged too, so the ranks' weights and buffers stay identical.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F

from fastgen.models.stylegan2 import make_models


@dataclass
class TrainConfig:
    resolution: int = 32
    batch: int = 16  # over all ranks
    seed: int = 0
    backend: str = "auto"
    lr: float = 0.0025
    betas: tuple = (0.0, 0.99)
    r1_gamma: float | None = None  # None: StyleGAN2-ADA's heuristic 0.0002 * R^2 / batch
    r1_interval: int = 16
    pl_interval: int = 4
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    mixing_prob: float = 0.9
    ema_kimg: float | None = None  # None: batch * 10 / 32, as StyleGAN2-ADA
    ema_rampup: float = 0.05
    num_fp16_res: int = 0  # highest synthesis resolutions in float16 (CUDA only)
    sizes: dict = field(default_factory=lambda: {"z_dim": 64, "w_dim": 64, "channel_base": 512, "channel_max": 64})

    def gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution ** 2 / self.batch


def world() -> tuple:
    """(rank, world size) of the process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _sync_gradients(module: torch.nn.Module, world_size: int) -> None:
    """Average every parameter's gradient over the ranks (a missing gradient counts as zeros)."""
    params = [p for p in module.parameters() if p.requires_grad]
    if world_size > 1:
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        dist.all_reduce(flat)
        flat /= world_size
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad = g.reshape(p.shape).clone()
    for p in params:
        if p.grad is not None:
            torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)  # as StyleGAN: one bad step is not fatal


def _adam(module, cfg: TrainConfig, interval: int) -> torch.optim.Adam:
    ratio = interval / (interval + 1)  # lazy regularisation (StyleGAN2, appendix B)
    return torch.optim.Adam(module.parameters(), lr=cfg.lr * ratio, betas=tuple(b ** ratio for b in cfg.betas), eps=1e-8)


class Trainer:
    """G, D, G_ema, their optimisers and the regularisation state; :meth:`step` trains one batch."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.rank, self.world = world()
        if cfg.batch % self.world:
            raise ValueError(f"--batch {cfg.batch} must be divisible by the number of processes {self.world}")
        self.batch_per_rank = cfg.batch // self.world
        if self.batch_per_rank < cfg.pl_batch_shrink:
            raise ValueError(f"--batch per process must be >= {cfg.pl_batch_shrink} (path-length batch shrink)")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank (then broadcast, to be sure)
        self.G, self.D = make_models(cfg.resolution, cfg.backend, cfg.num_fp16_res, **cfg.sizes)
        self.G.to(device).train()
        self.D.to(device).train()
        if self.world > 1:
            for t in [*self.G.state_dict().values(), *self.D.state_dict().values()]:
                dist.broadcast(t, src=0)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_opt = _adam(self.G, cfg, cfg.pl_interval)
        self.D_opt = _adam(self.D, cfg, cfg.r1_interval)
        self.pl_mean = torch.zeros([], device=device)
        self.step_count = 0
        self.nimg = 0
        self._labels = None  # the current step's real labels (conditional models)
        # what the non-regularised phases run: G's synthesis and D, or their torch.compile'd versions
        self.synthesis_main, self.D_main = self.G.synthesis, self.D
        self.gen = torch.Generator(device).manual_seed(cfg.seed * 1009 + self.rank + 1)

    def compile_main_phases(self, **options) -> None:
        """Run G's synthesis and D under ``torch.compile(**options)`` in Gmain and Dmain. The R1 and
        path-length phases stay eager: AOTAutograd has no double backward."""
        self.synthesis_main, self.D_main = torch.compile(self.G.synthesis, **options), torch.compile(self.D, **options)

    # ------------------------------------------------------------------ helpers
    def _z(self, n):
        return torch.randn(n, self.G.z_dim, device=self.device, generator=self.gen)

    def _fake_labels(self, n):
        """Labels for n generated images: the current reals' labels, shuffled (None: unconditional)."""
        if self._labels is None:
            return None
        order = torch.randperm(self._labels.shape[0], device=self.device, generator=self.gen)
        return self._labels[order[:n]]

    def _train_only(self, module) -> None:
        """Let gradients flow into ``module``'s weights only (the other network is held fixed)."""
        for m in (self.G, self.D):
            m.requires_grad_(m is module)

    def _phase(self, module, opt, loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _sync_gradients(module, self.world)
        opt.step()

    # ------------------------------------------------------------------ the four phases
    def g_main(self) -> float:
        self._train_only(self.G)
        c = self._fake_labels(self.batch_per_rank)
        img = self.synthesis_main(self.G.map(self._z(self.batch_per_rank), c, update_w_avg=True,
                                             mixing_prob=self.cfg.mixing_prob))
        if self.world > 1:  # the update is linear in the batch mean of w: averaging w_avg averages it over ranks
            dist.all_reduce(self.G.mapping.w_avg)
            self.G.mapping.w_avg /= self.world
        loss = F.softplus(-self.D_main(img, c)).mean()
        self._phase(self.G, self.G_opt, loss)
        return float(loss.detach())

    def g_reg(self) -> float:
        """Path-length penalty; its backward differentiates through the gradient of G."""
        self._train_only(self.G)
        n = self.batch_per_rank // self.cfg.pl_batch_shrink
        ws = self.G.map(self._z(n), self._fake_labels(n), mixing_prob=self.cfg.mixing_prob)
        img = self.G.synthesis(ws)
        noise = torch.randn(img.shape, device=self.device, generator=self.gen) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        batch_mean = lengths.detach().mean()
        if self.world > 1:
            dist.all_reduce(batch_mean)
            batch_mean /= self.world
        self.pl_mean.copy_(self.pl_mean.lerp(batch_mean, self.cfg.pl_decay))
        penalty = (lengths - self.pl_mean).square().mean()
        self._phase(self.G, self.G_opt, penalty * self.cfg.pl_weight * self.cfg.pl_interval)
        return float(penalty.detach())

    def d_main(self, reals) -> float:
        self._train_only(self.D)
        with torch.no_grad():
            c = self._fake_labels(self.batch_per_rank)
            fakes = self.synthesis_main(self.G.map(self._z(self.batch_per_rank), c, mixing_prob=self.cfg.mixing_prob))
        loss = F.softplus(self.D_main(fakes, c)).mean() + F.softplus(-self.D_main(reals, self._labels)).mean()
        self._phase(self.D, self.D_opt, loss)
        return float(loss.detach())

    def d_reg(self, reals) -> float:
        """R1 on reals; its backward differentiates through the gradient of D."""
        self._train_only(self.D)
        x = reals.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x, self._labels).sum(), x, create_graph=True)
        penalty = grad.square().sum(dim=[1, 2, 3]).mean()
        self._phase(self.D, self.D_opt, penalty * (self.cfg.gamma() / 2) * self.cfg.r1_interval)
        return float(penalty.detach())

    @torch.no_grad()
    def update_ema(self) -> None:
        cfg = self.cfg
        ema_nimg = (cfg.ema_kimg if cfg.ema_kimg is not None else cfg.batch * 10 / 32) * 1000
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def step(self, reals: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        """One training iteration on this rank's reals (float, [-1, 1]) and, for a conditional
        model, their labels (N, c_dim); returns its losses."""
        if self.G.c_dim and labels is None:
            raise ValueError(f"Trainer.step: the model is conditional (c_dim={self.G.c_dim}): pass the reals' labels")
        self._labels = labels.to(self.device, torch.float32) if self.G.c_dim else None
        stats = {"loss_G": self.g_main()}
        if self.step_count % self.cfg.pl_interval == 0:
            stats["pl_penalty"] = self.g_reg()
        stats["loss_D"] = self.d_main(reals)
        if self.step_count % self.cfg.r1_interval == 0:
            stats["r1_penalty"] = self.d_reg(reals)
        self.step_count += 1
        self.nimg += self.cfg.batch
        self.update_ema()
        return stats

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(), "pl_mean": self.pl_mean,
                "step": self.step_count, "nimg": self.nimg, "config": asdict(self.cfg)}

    def load_state_dict(self, state: dict) -> None:
        for name in ("G", "D", "G_ema", "G_opt", "D_opt"):
            getattr(self, name).load_state_dict(state[name])
        self.pl_mean.copy_(state["pl_mean"])
        self.step_count, self.nimg = state["step"], state["nimg"]

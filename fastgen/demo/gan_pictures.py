"""The GAN demo's pictures: sample grids, latent-interpolation and truncation strips, loss plot."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) floats in [-1, 1] -> (N, H, W, 3) uint8."""
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def class_labels(n: int, c_dim: int, device) -> torch.Tensor | None:
    """One-hot labels cycling through the classes (image i gets class i % c_dim); None when c_dim is 0."""
    if c_dim == 0:
        return None
    return torch.nn.functional.one_hot(torch.arange(n, device=device) % c_dim, c_dim).float()


def save_grid(images: torch.Tensor, rows: int, path, scale: int = 2) -> None:
    """Tile N images into ``rows`` rows (N / rows columns) and save as a PNG, upscaled by ``scale``."""
    pixels = to_uint8(images)
    n, h, w, _ = pixels.shape
    cols = n // rows
    grid = pixels[:rows * cols].reshape(rows, cols, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, 3)
    im = Image.fromarray(grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    im.save(path)


@torch.no_grad()
def interpolation_strip(G, path, rows=4, steps=10, seed=0) -> None:
    """Each row walks linearly in w from one latent's w to another's (constant noise; row i of a
    conditional G has class i)."""
    device = G.mapping.w_avg.device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, 2, G.z_dim, generator=gen).to(device)
    c = class_labels(rows, G.c_dim, device)
    w0, w1 = G.mapping(z[:, 0], c), G.mapping(z[:, 1], c)
    t = torch.linspace(0, 1, steps, device=device).reshape(1, steps, 1, 1)
    ws = w0[:, None].lerp(w1[:, None], t).reshape(rows * steps, G.num_ws, -1)
    save_grid(G.synthesis(ws, noise_mode="const"), rows, path)


@torch.no_grad()
def truncation_strip(G, path, rows=4, psis=(1.0, 0.8, 0.6, 0.4, 0.2, 0.0), seed=0) -> None:
    """Each row is one latent at decreasing truncation psi; the last column (psi 0) is the w_avg image."""
    device = G.mapping.w_avg.device
    z = torch.randn(rows, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    c = class_labels(rows, G.c_dim, device)
    images = [G(z, c, truncation_psi=psi, noise_mode="const") for psi in psis]
    save_grid(torch.stack(images, dim=1).flatten(0, 1), rows, path)


def loss_plot(history: list, swd_history: list, path) -> None:
    """Losses and penalties against kimg (left) and SWD against kimg (right), with matplotlib Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_swd) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("loss_G", "loss_D", "r1_penalty", "pl_penalty"):
        points = [(h["kimg"], h[key]) for h in history if key in h]
        if points:
            k, v = np.array(points).T
            window = max(1, len(v) // 50)  # smooth the noisy per-step values for reading
            smooth = np.convolve(v, np.ones(window) / window, mode="valid")
            ax.plot(k[window - 1:], smooth, label=key)
    ax.set_xlabel("kimg")
    ax.set_ylabel("loss / penalty")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.legend()
    ax.set_title("training losses")
    if swd_history:
        k = [s["kimg"] for s in swd_history]
        ax_swd.plot(k, [s["mean"] for s in swd_history], "o-", label="mean over levels")
        for i in range(len(swd_history[0]["levels"])):
            ax_swd.plot(k, [s["levels"][i] for s in swd_history], "--", alpha=0.6, label=f"level {i}")
        ax_swd.legend()
    ax_swd.set_xlabel("kimg")
    ax_swd.set_ylabel("SWD x 1e3 (lower is better)")
    ax_swd.set_title("sliced Wasserstein distance (Laplacian pyramid)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

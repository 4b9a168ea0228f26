"""Pictures the demos write: side-by-side comparisons, a PSNR-versus-time plot, a turntable GIF."""
from __future__ import annotations

from pathlib import Path

import torch


def to_uint8(image: torch.Tensor):
    """``(H, W, C)`` float in [0, 1] -> a uint8 numpy array."""
    return (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def save_side_by_side(path: Path, rendered: torch.Tensor, truth: torch.Tensor) -> None:
    """Save ``rendered`` (left) beside ``truth`` (right), both ``(H, W, 3)``, as a PNG."""
    from PIL import Image

    Image.fromarray(to_uint8(torch.cat([rendered, truth], 1))).save(path)


def save_gif(path: Path, frames: list, fps: float = 12.0) -> None:
    """Save ``(H, W, 3)`` frames as a looping GIF."""
    from PIL import Image

    images = [Image.fromarray(to_uint8(f)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def plot_psnr(path: Path, curves: dict, milestones=(), title: str = "test PSNR") -> None:
    """Plot test PSNR against training wall time: ``curves`` maps a label to ``[(seconds, psnr), ...]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, points in curves.items():
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=label)
    for m in milestones:
        ax.axhline(m, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if any(curves.values()):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

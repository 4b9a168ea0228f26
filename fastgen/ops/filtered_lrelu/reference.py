"""filtered_lrelu in plain PyTorch: the definition of correct, composed from GAN ops I exactly as
StyleGAN3 defines the op (bias, upfirdn2d up with gain up^2, lrelu * gain + clamp, upfirdn2d
down), so autograd of any order comes from torch."""
from __future__ import annotations

import torch

from fastgen.ops.bias_act import reference as bias_act
from fastgen.ops.upfirdn2d import reference as upfirdn2d


def filtered_lrelu(x: torch.Tensor, fu, fd, b, up: int, down: int, padding: tuple, gain: float, slope: float,
                   clamp: float | None, flip_filter: bool) -> torch.Tensor:
    """Arguments already validated; ``padding = (x0, x1, y0, y1)``."""
    if b is not None:
        x = bias_act.bias_act(x, b, 1, "linear", 0.0, 1.0, None)
    x = upfirdn2d.upfirdn2d(x, fu, (up, up), (1, 1), padding, flip_filter, float(up * up))
    x = bias_act.bias_act(x, None, 1, "lrelu", slope, gain, clamp)
    return upfirdn2d.upfirdn2d(x, fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1.0)

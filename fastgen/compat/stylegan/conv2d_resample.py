"""StyleGAN's ``torch_utils.ops.conv2d_resample`` on fastgen (same signature; backend "auto")."""
from __future__ import annotations

from fastgen.ops.conv2d_resample import conv2d_resample as _conv2d_resample


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    return _conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                            flip_weight=flip_weight, flip_filter=flip_filter)


conv2d_resample.__doc__ = _conv2d_resample.__doc__

__all__ = ["conv2d_resample"]

"""StyleGAN3's ``torch_utils.ops.filtered_lrelu`` on fastgen: ``filtered_lrelu`` (with ``impl``),
``_filtered_lrelu_ref`` and ``_init``. ``impl='cuda'`` runs the fastest fastgen backend for the
tensors' device (also on CPU tensors), ``'ref'`` the reference."""
from __future__ import annotations

import numpy as np

from fastgen.compat.stylegan._impl import backend_of
from fastgen.ops import filtered_lrelu as _ops


def _init():
    """StyleGAN3 builds its plugin here; fastgen's kernels are built or JIT-compiled already."""
    return True


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, clamp=None,
                   flip_filter=False, impl="cuda"):
    return _ops.filtered_lrelu(x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=float(gain),
                               slope=float(slope), clamp=None if clamp is None else float(clamp),
                               flip_filter=flip_filter, backend=backend_of(impl))


def _filtered_lrelu_ref(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, clamp=None,
                        flip_filter=False):
    return filtered_lrelu(x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain, slope=slope,
                          clamp=clamp, flip_filter=flip_filter, impl="ref")


filtered_lrelu.__doc__ = _ops.filtered_lrelu.__doc__
_filtered_lrelu_ref.__doc__ = "The reference composition (StyleGAN3's signature, ``impl`` dropped); see filtered_lrelu."


__all__ = ["filtered_lrelu"]

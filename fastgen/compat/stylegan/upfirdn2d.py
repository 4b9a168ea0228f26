"""StyleGAN's ``torch_utils.ops.upfirdn2d`` on fastgen: ``setup_filter``, ``upfirdn2d``,
``filter2d``, ``upsample2d``, ``downsample2d`` (with ``impl``), ``_init``, and the private helpers
other StyleGAN modules import (``_parse_scaling``, ``_parse_padding``, ``_get_filter_size``)."""
from __future__ import annotations

from fastgen.compat.stylegan._impl import backend_of
from fastgen.ops import upfirdn2d as _ops
from fastgen.ops.upfirdn2d import setup_filter  # noqa: F401  (same signature)


def _init():
    """StyleGAN compiles its CUDA plugin here; fastgen has nothing to build: always True."""
    return True


def _parse_scaling(scaling):
    return list(_ops.parse_scaling("upfirdn2d", "scaling", scaling))


def _parse_padding(padding):
    return list(_ops.parse_padding("upfirdn2d", padding))


def _get_filter_size(f):
    return _ops.filter_size(f)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl="cuda"):
    return _ops.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain,
                          backend=backend_of(impl))


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="cuda"):
    return _ops.filter2d(x, f, padding=padding, flip_filter=flip_filter, gain=gain, backend=backend_of(impl))


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
    return _ops.upsample2d(x, f, up=up, padding=padding, flip_filter=flip_filter, gain=gain,
                           backend=backend_of(impl))


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
    return _ops.downsample2d(x, f, down=down, padding=padding, flip_filter=flip_filter, gain=gain,
                             backend=backend_of(impl))


for _f in (upfirdn2d, filter2d, upsample2d, downsample2d):
    _f.__doc__ = getattr(_ops, _f.__name__).__doc__

__all__ = ["setup_filter", "upfirdn2d", "filter2d", "upsample2d", "downsample2d"]

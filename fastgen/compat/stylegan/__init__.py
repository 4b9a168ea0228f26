"""Drop-in replacements for StyleGAN2-ADA / StyleGAN3's ``torch_utils.ops`` modules.

``from fastgen.compat.stylegan import bias_act, upfirdn2d, filtered_lrelu, conv2d_resample,
conv2d_gradfix, grid_sample_gradfix, fma`` gives modules with StyleGAN's function names, signatures and defaults,
computing the same results on fastgen's kernels with nothing to compile. ``impl`` maps to
fastgen backends: ``'cuda'`` (StyleGAN's default) -> ``"auto"`` (the fastest backend for the
tensors' device, CPU included), ``'ref'`` -> ``"reference"``; ``FASTGEN_BACKEND`` overrides
``"auto"``. ``_init()`` returns True (there is no plugin to build).

To run an existing StyleGAN repository (``train.py``, ``gen_images.py``, pretrained pickles)::

    import fastgen.compat.stylegan
    fastgen.compat.stylegan.install()      # first thing, before the repository's imports
    import legacy, dnnlib
    with dnnlib.util.open_url(url) as f:
        G = legacy.load_network_pkl(f)["G_ema"]   # the pickle's networks import torch_utils.ops.*: fastgen's

(or put the two lines at the top of ``train.py`` / ``gen_images.py``). See :func:`install`.
"""
from __future__ import annotations

import importlib
import sys
import types

from fastgen.compat.stylegan import (  # noqa: F401
    bias_act, conv2d_gradfix, conv2d_resample, filtered_lrelu, fma, grid_sample_gradfix, upfirdn2d)

MODULES = ("bias_act", "upfirdn2d", "filtered_lrelu", "conv2d_resample", "conv2d_gradfix", "grid_sample_gradfix", "fma")


class _Forwarding(types.ModuleType):
    """An already-imported StyleGAN module made a view of fastgen's: the functions were replaced
    by fastgen's, and the module-level settings (``conv2d_gradfix.enabled``, ...) are read from and
    written to fastgen's module, so both names see one flag."""

    def __getattr__(self, name):  # only called for names absent from the module: the settings
        return getattr(self.__dict__["_fastgen_module"], name)

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_fastgen_settings", ()):
            setattr(self.__dict__["_fastgen_module"], name, value)
        else:
            super().__setattr__(name, value)


def _redirect(theirs: types.ModuleType, ours: types.ModuleType) -> None:
    settings = {n for n in ours.__all__ if not callable(getattr(ours, n))}
    for n, v in vars(ours).items():
        if callable(v) and not n.startswith("__"):
            setattr(theirs, n, v)
    for n in settings:
        theirs.__dict__.pop(n, None)
    theirs.__dict__["_fastgen_module"] = ours
    theirs.__dict__["_fastgen_settings"] = settings
    theirs.__class__ = _Forwarding


def install(package: str = "torch_utils.ops") -> None:
    """Point a StyleGAN repository's ``torch_utils.ops.<module>`` at fastgen's, for every module
    in :data:`MODULES`, through ``sys.modules``.

    * Before the repository's modules are imported (the normal case): ``from torch_utils.ops
      import bias_act`` and ``import torch_utils.ops.bias_act`` then return fastgen's modules, in
      the repository's code and in the source that ``legacy.load_network_pkl`` /
      ``torch_utils.persistence`` re-executes for pickled networks; StyleGAN's CUDA plugins are
      never compiled.
    * After (a module was imported already): its functions are replaced in place by fastgen's,
      and its settings (``enabled``, ``weight_gradients_disabled``, ``activation_funcs``) become
      views of fastgen's, so code holding the old module object runs on fastgen too.

    ``package``: where the ops live (``"torch_utils.ops"`` in StyleGAN2-ADA and StyleGAN3).
    Idempotent. Only the modules listed are replaced; others (e.g. ``filtered_lrelu`` until fastgen
    provides it) stay the repository's own.
    """
    parent = sys.modules.get(package)
    for name in MODULES:
        ours = importlib.import_module(f"{__name__}.{name}")
        key = f"{package}.{name}"
        theirs = sys.modules.get(key)
        if theirs is not None and theirs is not ours and not isinstance(theirs, _Forwarding):
            _redirect(theirs, ours)
        sys.modules[key] = ours
        if parent is not None:
            setattr(parent, name, ours)


__all__ = ["install", "MODULES", *MODULES]

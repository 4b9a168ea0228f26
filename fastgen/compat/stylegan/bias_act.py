"""StyleGAN's ``torch_utils.ops.bias_act`` on fastgen: ``bias_act(x, b, dim, act, alpha, gain,
clamp, impl)`` and ``activation_funcs``. A clamp of None or < 0 means no clamping, as there."""
from __future__ import annotations

from types import SimpleNamespace

from fastgen.ops import bias_act as _ops

# name -> (def_alpha, def_gain), for code that reads StyleGAN's table.
activation_funcs = {name: SimpleNamespace(def_alpha=a.alpha, def_gain=a.gain)
                    for name, a in _ops.ACTIVATIONS.items()}


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl="cuda"):
    """StyleGAN's signature; see :func:`fastgen.gan.bias_act`."""
    from fastgen.compat.stylegan import impl_to_backend

    if clamp is not None and clamp < 0:
        clamp = None
    return _ops.bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp,
                         backend=impl_to_backend(impl))

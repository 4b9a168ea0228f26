"""StyleGAN's ``torch_utils.ops.bias_act`` on fastgen: ``bias_act(x, b, dim, act, alpha, gain,
clamp, impl)``, ``activation_funcs`` and ``_init``. A clamp of None or < 0 means no clamping, as
there."""
from __future__ import annotations

from fastgen.compat.stylegan._impl import EasyDict, backend_of
from fastgen.ops import bias_act as _ops
from fastgen.ops.bias_act.reference import activation as _activation

# StyleGAN's per-activation table (what callers read: def_alpha, def_gain; func is the plain
# activation, func(x, alpha=def_alpha)). cuda_idx, ref and has_2nd_grad are StyleGAN's values,
# kept for code that inspects them; fastgen's kernels do not use them.
_STYLEGAN_EXTRAS = {  # name: (cuda_idx, ref, has_2nd_grad)
    "linear": (1, "", False), "relu": (2, "y", False), "lrelu": (3, "y", False), "tanh": (4, "y", True),
    "sigmoid": (5, "y", True), "elu": (6, "y", True), "selu": (7, "y", True), "softplus": (8, "y", True),
    "swish": (9, "x", True),
}


def _func(name, default_alpha):
    def func(x, alpha=default_alpha, **_):
        return _activation(name, x, default_alpha if alpha is None else float(alpha))
    return func


activation_funcs = {
    name: EasyDict(func=_func(name, a.alpha), def_alpha=a.alpha, def_gain=a.gain, cuda_idx=_STYLEGAN_EXTRAS[name][0],
                   ref=_STYLEGAN_EXTRAS[name][1], has_2nd_grad=_STYLEGAN_EXTRAS[name][2])
    for name, a in _ops.ACTIVATIONS.items()
}


def _init():
    """StyleGAN compiles its CUDA plugin here; fastgen has nothing to build: always True."""
    return True


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl="cuda"):
    """StyleGAN's signature; see :func:`fastgen.gan.bias_act`. ``impl='cuda'``: the fastest
    fastgen backend for x's device; ``'ref'``: fastgen's reference (plain torch)."""
    if clamp is not None and clamp < 0:
        clamp = None
    return _ops.bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp, backend=backend_of(impl))


__all__ = ["activation_funcs", "bias_act"]

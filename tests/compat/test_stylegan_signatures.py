"""fastgen.compat.stylegan has StyleGAN2-ADA / StyleGAN3's ``torch_utils.ops`` names, signatures
and defaults (``STYLEGAN_OPS`` states them; StyleGAN is not installable, so there is no second
check against its objects), plus the module-level settings and ``activation_funcs``.
``no_weight_gradients`` has StyleGAN3's ``disable=True`` parameter (StyleGAN2-ADA's takes none,
so callers of either work)."""
from __future__ import annotations

import math

import numpy as np

from tests.compat._signatures import mismatches

_IMPL = "gain=1, impl='cuda')"
STYLEGAN_OPS = {
    "bias_act": {
        "bias_act": "(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None, impl='cuda')",
        "_init": "()",
    },
    "upfirdn2d": {
        "_init": "()",
        "_parse_scaling": "(scaling)",
        "_parse_padding": "(padding)",
        "_get_filter_size": "(f)",
        "setup_filter": "(f, device=device(type='cpu'), normalize=True, flip_filter=False, gain=1, separable=None)",
        "upfirdn2d": "(x, f, up=1, down=1, padding=0, flip_filter=False, " + _IMPL,
        "filter2d": "(x, f, padding=0, flip_filter=False, " + _IMPL,
        "upsample2d": "(x, f, up=2, padding=0, flip_filter=False, " + _IMPL,
        "downsample2d": "(x, f, down=2, padding=0, flip_filter=False, " + _IMPL,
    },
    "filtered_lrelu": {
        "filtered_lrelu": "(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=" + repr(np.sqrt(2))
                          + ", slope=0.2, clamp=None, flip_filter=False, impl='cuda')",
        "_filtered_lrelu_ref": "(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=" + repr(np.sqrt(2))
                               + ", slope=0.2, clamp=None, flip_filter=False)",
        "_init": "()",
    },
    "conv2d_resample": {
        "conv2d_resample": "(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False)",
    },
    "conv2d_gradfix": {
        "conv2d": "(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)",
        "conv_transpose2d": "(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1)",
        "no_weight_gradients": "(disable=True)",
    },
    "grid_sample_gradfix": {"grid_sample": "(input, grid)"},
    "fma": {"fma": "(a, b, c)"},
}


def test_signatures_match_stylegan_table():
    assert mismatches("fastgen.compat.stylegan", STYLEGAN_OPS) == []


def test_settings_and_tables():
    from fastgen.compat.stylegan import bias_act, conv2d_gradfix, grid_sample_gradfix

    assert conv2d_gradfix.enabled is False and conv2d_gradfix.weight_gradients_disabled is False
    assert grid_sample_gradfix.enabled is False
    assert bias_act._init() is True
    funcs = bias_act.activation_funcs
    assert sorted(funcs) == sorted(["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"])
    assert funcs["lrelu"].def_alpha == 0.2 and funcs["lrelu"].def_gain == math.sqrt(2)
    assert funcs["linear"]["def_gain"] == 1 and funcs["tanh"].has_2nd_grad and not funcs["relu"].has_2nd_grad
    import torch

    x = torch.tensor([-2.0, 3.0])
    assert torch.equal(funcs["lrelu"].func(x, alpha=0.1), torch.tensor([-0.2, 3.0]))
    assert torch.equal(funcs["relu"].func(x), torch.tensor([0.0, 3.0]))

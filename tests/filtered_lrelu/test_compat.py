"""fastgen.compat.stylegan.filtered_lrelu: StyleGAN3's names and signatures, impl mapping."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from fastgen.compat.stylegan import filtered_lrelu as compat

SIGNATURES = {
    "filtered_lrelu": "(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, "
                      "clamp=None, flip_filter=False, impl='cuda')",
    "_filtered_lrelu_ref": "(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, "
                           "clamp=None, flip_filter=False)",
    "_init": "()",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature(name):
    want = SIGNATURES[name].replace("np.sqrt(2)", repr(np.sqrt(2)))
    assert str(inspect.signature(getattr(compat, name))) == want


def test_impls_agree(gen):
    assert compat._init() is True
    f = torch.rand(8, generator=gen) + 0.1
    x = torch.randn(1, 3, 6, 7, generator=gen)
    b = torch.randn(3, generator=gen)
    kw = dict(up=2, down=2, padding=[4, 3, 4, 3], clamp=1.0)
    fast = compat.filtered_lrelu(x, f, f, b, **kw)
    ref = compat._filtered_lrelu_ref(x, f, f, b, **kw)
    assert torch.allclose(fast, ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(compat.filtered_lrelu(x, f, f, b, impl="ref", **kw), ref)
    with pytest.raises(ValueError, match="impl"):
        compat.filtered_lrelu(x, f, f, b, impl="nope")

"""fastgen.compat.stylegan.filtered_lrelu: the impl mapping (its signatures are in
tests/compat/test_stylegan_signatures.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgen.compat.stylegan import filtered_lrelu as compat

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

"""Bad input to fused_mlp raises a clear ValueError / TypeError naming the argument, before any
kernel or the reference runs."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import fused_mlp
from fastgen.ops.mlp import _library, reference
from tests.conftest import forbid_kernels
from tests.mlp._helpers import make_weights


@pytest.fixture
def no_kernels(monkeypatch):
    forbid_kernels(monkeypatch, _library, reference, ["fused_mlp"])


def _ws(gen, d_in=4, width=16, n_hidden=2, d_out=3, dtype=torch.float32):
    return make_weights(d_in, width, n_hidden, d_out, gen, dtype)


def _cases(gen):
    x = torch.randn(5, 4)
    ws = _ws(gen)
    yield "x must have 2", (torch.randn(5), ws), {}
    yield "x must have dtype", (torch.ones(5, 4, dtype=torch.int32), ws), {}
    yield "weights must be a list", (x, ws[0]), {}
    yield "n_hidden", (x, ws[:1]), {}
    yield "n_hidden", (x, _ws(gen, n_hidden=9)), {}
    yield "hidden width", (torch.randn(5, 4), _ws(gen, width=24)), {}
    yield r"weights\[0\] of shape", (torch.randn(5, 7), ws), {}
    yield r"weights\[1\] must have shape", (x, [ws[0], torch.randn(16, 32), ws[2]]), {}
    yield r"weights\[-1\] must have shape", (x, [ws[0], ws[1], torch.randn(3, 32)]), {}
    yield r"weights\[1\] must have 2", (x, [ws[0], torch.randn(16, 16, 1), ws[2]]), {}
    yield r"weights\[2\] has dtype", (x, ws[:2] + [ws[2].double()]), {}
    yield "one device", (x, ws[:2] + [ws[2].to("meta")]), {}
    yield r"weights\[1\] must be contiguous", (x, [ws[0], ws[1].T, ws[2]]), {}
    yield "unknown activation", (x, ws), dict(activation="gelu")
    yield "unknown output_activation", (x, ws), dict(output_activation="Sine")
    yield "activation must be a string", (x, ws), dict(activation=None)
    yield "unknown backend", (x, ws), dict(backend="nope")


def test_bad_inputs(gen, no_kernels):
    for match, args, kwargs in _cases(gen):
        with pytest.raises((ValueError, TypeError), match=match):
            fused_mlp(*args, **kwargs)


def test_unimplemented_backend_says_why(gen):
    from fastgen.backend import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="BLAS"):
        fused_mlp(torch.randn(3, 4), _ws(gen), backend="cpu")


def test_triton_rejects_float64(gen, no_kernels):
    from tests.conftest import skip_unless_available

    skip_unless_available("triton")
    with pytest.raises(TypeError, match="float64"):
        fused_mlp(torch.randn(3, 4, dtype=torch.float64), _ws(gen, dtype=torch.float64), backend="triton")

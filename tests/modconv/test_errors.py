"""Bad input to modulated_conv2d and modconv_block: a clear error naming the argument, raised
before any kernel runs (on every backend, so the checks cannot depend on the one that runs)."""
from __future__ import annotations

import pytest
import torch

import fastgen.gan as G

F4 = G.setup_filter([1, 3, 3, 1])


def _args(n=2, i=4, o=3, size=8, k=3):
    return torch.randn(n, i, size, size), torch.randn(o, i, k, k), torch.randn(n, i)


CASES = [
    ("weight", dict(weight=torch.randn(3, 4, 3)), ValueError, "weight"),
    ("weight dtype", dict(weight=torch.ones(3, 4, 3, 3, dtype=torch.int64)), TypeError, "weight"),
    ("styles shape", dict(styles=torch.randn(2, 5)), ValueError, "styles"),
    ("styles batch", dict(styles=torch.randn(3, 4)), ValueError, "styles"),
    ("styles rank", dict(styles=torch.randn(2, 4, 1)), ValueError, "styles"),
    ("styles dtype", dict(styles=torch.randn(2, 4, dtype=torch.float64)), (TypeError, ValueError), "styles"),
    ("x channels", dict(x=torch.randn(2, 5, 8, 8)), ValueError, "channels"),
    ("x rank", dict(x=torch.randn(2, 4, 8)), ValueError, "x"),
    ("noise", dict(noise=torch.randn(2, 1, 7, 7)), ValueError, "noise"),
    ("noise rank", dict(noise=torch.randn(1, 2, 1, 8, 8)), ValueError, "noise"),
    ("filter rank", dict(resample_filter=torch.ones(2, 2, 2), up=2), ValueError, "resample_filter"),
    ("filter dtype", dict(resample_filter=torch.ones(4, dtype=torch.float64), up=2), (TypeError, ValueError), "resample_filter"),
    ("up", dict(up=0), ValueError, "up"),
    ("up float", dict(up=1.5), ValueError, "up"),
    ("up bool", dict(up=True), ValueError, "up"),
]


@pytest.mark.parametrize("backend", ["reference", "cuda", "triton"])
@pytest.mark.parametrize("what, change, exc, word", CASES, ids=[c[0] for c in CASES])
def test_modulated_conv2d_bad_input(backend, what, change, exc, word):
    x, w, s = _args()
    kwargs = dict(x=x, weight=w, styles=s, padding=1)
    kwargs.update(change)
    with pytest.raises(exc, match=word):
        G.modulated_conv2d(backend=backend, **kwargs)


@pytest.mark.parametrize("backend", ["reference", "cuda", "triton"])
def test_modulated_conv2d_down_bad(backend):
    x, w, s = _args()
    with pytest.raises(ValueError, match="down"):
        G.modulated_conv2d(x, w, s, down=-1, backend=backend)
    with pytest.raises(ValueError, match="no output pixel"):
        G.modulated_conv2d(torch.randn(2, 4, 2, 2), w, s[:2], padding=0, backend=backend)


@pytest.mark.parametrize("backend", ["reference", "cuda", "triton"])
def test_modconv_block_bad_input(backend):
    x, w, s = _args()
    b = torch.zeros(3)
    with pytest.raises(ValueError, match="bias"):
        G.modconv_block(x, w, s, torch.zeros(4), backend=backend)
    with pytest.raises(ValueError, match="bias"):
        G.modconv_block(x, w, s, torch.zeros(3, 1), backend=backend)
    with pytest.raises(ValueError, match="activation"):
        G.modconv_block(x, w, s, b, act="gelu", backend=backend)
    with pytest.raises(TypeError, match="gain"):
        G.modconv_block(x, w, s, b, gain="2", backend=backend)
    with pytest.raises(ValueError, match="clamp"):
        G.modconv_block(x, w, s, b, clamp=-1.0, backend=backend)
    with pytest.raises(ValueError, match="noise"):
        G.modconv_block(x, w, s, b, noise=torch.randn(2, 1, 9, 9), backend=backend)
    with pytest.raises(ValueError, match="weight"):
        G.modconv_block(x, w[0], s, b, backend=backend)
    with pytest.raises(ValueError, match="styles"):
        G.modconv_block(x, w, s[:, :3], b, up=2, resample_filter=F4, backend=backend)


def test_triton_rejects_up_and_down_together():
    x, w, s = _args()
    with pytest.raises(ValueError, match="up > 1 and down > 1"):
        G.modulated_conv2d(x, w, s, up=2, down=2, resample_filter=F4, padding=1, backend="triton")


def test_missing_backends_say_why():
    import io

    from fastgen.backend import BackendUnavailableError, info

    x, w, s = _args()
    with pytest.raises(BackendUnavailableError, match="oneDNN"):
        G.modulated_conv2d(x, w, s, backend="cpu")
    assert "modconv_block has no cpu backend: torch's convolution" in info(file=io.StringIO())

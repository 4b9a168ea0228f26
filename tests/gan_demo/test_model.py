"""The StyleGAN2 model: the synthesis layer's formula, latent dependence, style mixing, truncation."""
import math

import pytest
import torch
import torch.nn.functional as F

from fastgen import gan
from fastgen.models.stylegan2 import Generator, make_models, minibatch_stddev
from tests.conftest import assert_close_rel
from tests.gan_demo.conftest import TINY


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modconv_block_is_the_per_sample_modulated_convolution(up, demodulate, gen):
    """Against the definition: per sample n, conv with w * s_n (demodulated), + noise, bias, lrelu."""
    n, c_in, c_out, h = 3, 5, 4, 7
    x = torch.randn(n, c_in, h, h, generator=gen, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=torch.float64)
    styles = torch.randn(n, c_in, generator=gen, dtype=torch.float64)
    bias = torch.randn(c_out, generator=gen, dtype=torch.float64)
    noise = torch.randn(n, 1, h * up, h * up, generator=gen, dtype=torch.float64)
    f = gan.setup_filter([1, 3, 3, 1])
    out = gan.modconv_block(x, weight, styles, bias, noise=noise, up=up, gain=0.5, clamp=3.0,
                            resample_filter=f, demodulate=demodulate)
    expected = []
    for i in range(n):
        w = weight * styles[i].reshape(1, c_in, 1, 1)
        if demodulate:
            w = w / w.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        if up == 1:
            y = F.conv2d(x[i:i + 1], w, padding=1)
        else:  # StyleGAN2: transposed conv (a true convolution) then the FIR filter
            y = gan.conv2d_resample(x[i:i + 1], w, f, up=2, padding=1, flip_weight=False, backend="reference")
        y = F.leaky_relu(y + noise[i:i + 1] + bias.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2) * 0.5
        expected.append(y.clamp(-3, 3))
    assert_close_rel(out, torch.cat(expected), torch.float64, "modconv_block")


def _tiny_generator(**kw):
    torch.manual_seed(0)
    return Generator(resolution=16, **TINY, **kw).eval()


def test_outputs_vary_with_z_and_with_style_mixing():
    G = _tiny_generator()
    with torch.no_grad():
        for p in G.parameters():  # untrained noise strengths are 0; make every path active
            p.add_(0.1 * torch.randn_like(p))
        z = torch.randn(4, G.z_dim)
        a = G(z, noise_mode="const")
        assert a.shape == (4, 3, 16, 16) and torch.isfinite(a).all()
        assert (a[0] - a[1]).abs().mean() > 1e-3
        assert torch.equal(a, G(z, noise_mode="const"))  # deterministic given z and const noise
        torch.manual_seed(1)
        mixed = G(z, noise_mode="const", mixing_prob=1.0)
        assert (mixed - a).abs().mean() > 1e-4
        ws, ws2 = G.mapping(z), G.mapping(torch.randn(4, G.z_dim))
        cut = G.num_ws // 2
        cross = G.synthesis(torch.cat([ws[:, :cut], ws2[:, cut:]], dim=1), noise_mode="const")
        assert (cross - a).abs().mean() > 1e-4
        assert (G(z, noise_mode="random") - a).abs().mean() > 0  # noise inputs are used


def test_truncation_psi_zero_gives_the_average_image():
    G = _tiny_generator()
    with torch.no_grad():
        for _ in range(3):  # track w_avg away from its zero start
            G.mapping(torch.randn(8, G.z_dim), update_w_avg=True)
        assert G.mapping.w_avg.abs().sum() > 0
        images = G(torch.randn(5, G.z_dim), truncation_psi=0.0, noise_mode="const")
        avg = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
        assert_close_rel(images, avg.expand_as(images), torch.float32, "psi=0 image")
        half = G(torch.randn(5, G.z_dim), truncation_psi=0.5, noise_mode="const")
        assert (half - avg).abs().mean() > 1e-5


def test_discriminator_shapes_and_minibatch_stddev():
    _, D = make_models(16, **TINY)
    assert D(torch.randn(6, 3, 16, 16)).shape == (6, 1)
    x = torch.randn(8, 2, 3, 3)
    y = minibatch_stddev(x, 4)
    assert y.shape == (8, 3, 3, 3) and torch.equal(y[:, :2], x)
    group = x.reshape(4, 2, 2, 3, 3)
    expected = group.std(dim=0, unbiased=False).mean(dim=[1, 2, 3])
    assert torch.allclose(y[:2, 2, 0, 0], expected, atol=1e-4)
    with pytest.raises(ValueError, match="power of 2"):
        Generator(resolution=24, **TINY)

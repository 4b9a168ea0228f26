"""StyleGAN user code on fastgen.compat.stylegan: a synthesis block (modulated convolution through
conv2d_resample, noise through fma, bias_act with clamp, ToRGB, upsampled skip), a discriminator
block (downsampling conv2d_resample, conv2d_gradfix 1x1 skip, bias_act), and the three training
losses as StyleGAN's loop computes them: the generator loss, R1 through
``torch.autograd.grad(create_graph=True)`` and path-length regularisation under
``conv2d_gradfix.no_weight_gradients()``.

``impl='cuda'`` on each CPU-side backend a user can pick (``"auto"`` = fastgen's reference for
these ops on CPU tensors, as they have no ``cpu`` backend; ``triton`` via FASTGEN_BACKEND under
the interpreter), all in float64, is compared with the same model whose bias_act is written as
StyleGAN's reference computes it (``x + b``, ``F.leaky_relu``, gain, clamp: plain torch): every
loss, every parameter's ``.grad`` (None counting as zero), and the autograd graph: a parameter
that StyleGAN's reference gives a ``.grad`` must get one (StyleGAN's loop steps only parameters
whose ``.grad`` is not None).

``KNOWN_UNCONNECTED`` lists, per backend, the parameters that StyleGAN connects and fastgen does
not (none now: fastgen's lrelu reference is ``F.leaky_relu``, whose derivative stays connected to
the bias, so R1 gives the bias a zero ``.grad`` as StyleGAN's does)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgen.compat.stylegan import bias_act, conv2d_gradfix, conv2d_resample, fma, upfirdn2d
from tests.conftest import assert_close_rel

F64 = torch.float64


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
                     impl="cuda"):
    """StyleGAN2's fused modulated convolution (grouped conv, one group per sample)."""
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample.conv2d_resample(x=x, w=w, f=resample_filter, up=up, padding=padding, groups=batch_size)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = fma.fma(noise, torch.ones_like(x[:, :1]), x)
    return x


class Model(torch.nn.Module):
    """A 4x4 -> 8x8 synthesis block with ToRGB and a 8x8 -> 4x4 discriminator block."""

    def __init__(self, impl, c=4, w_dim=6):
        super().__init__()
        self.impl = impl
        g = torch.Generator().manual_seed(0)
        p = lambda *s: torch.nn.Parameter(torch.randn(*s, generator=g, dtype=F64))  # noqa: E731
        self.const, self.affine0, self.affine1, self.affine_rgb = p(c, 4, 4), p(c, w_dim), p(c, w_dim), p(c, w_dim)
        self.conv0, self.conv1, self.rgb = p(c, c, 3, 3), p(c, c, 3, 3), p(3, c, 1, 1)
        self.bias0, self.bias1, self.bias_rgb, self.noise_strength = p(c), p(c), p(3), p(1)
        self.d_conv, self.d_skip, self.d_bias, self.d_out = p(c, 3, 3, 3), p(c, 3, 1, 1), p(c), p(c * 16)
        self.register_buffer("resample_filter", upfirdn2d.setup_filter([1, 3, 3, 1]))

    def bias_act(self, x, b, act="linear", gain=1, clamp=None):
        if self.impl != "stylegan-ref":
            return bias_act.bias_act(x, b, act=act, gain=gain, clamp=clamp, impl=self.impl)
        x = x + b.reshape(1, -1, 1, 1)
        x = torch.nn.functional.leaky_relu(x, 0.2) if act == "lrelu" else x
        x = x * gain
        return x if clamp is None else x.clamp(-clamp, clamp)

    def synthesis(self, ws):
        impl, gain = "ref" if self.impl == "stylegan-ref" else self.impl, bias_act.activation_funcs["lrelu"].def_gain
        n = ws.shape[0]
        x = self.const.unsqueeze(0).repeat(n, 1, 1, 1)
        noise = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=F64) * self.noise_strength
        x = modulated_conv2d(x, self.conv0, ws @ self.affine0.T + 1, up=2, padding=1,
                             resample_filter=self.resample_filter, impl=impl)
        x = self.bias_act(x, self.bias0, act="lrelu", gain=gain, clamp=0.5)
        x = modulated_conv2d(x, self.conv1, ws @ self.affine1.T + 1, noise=noise, padding=1, impl=impl)
        x = self.bias_act(x, self.bias1, act="lrelu", gain=gain, clamp=256)
        y = modulated_conv2d(x, self.rgb, (ws @ self.affine_rgb.T) / np.sqrt(x.shape[1]), demodulate=False, impl=impl)
        y = self.bias_act(y, self.bias_rgb, clamp=0.8)
        skip = upfirdn2d.upsample2d(torch.zeros(n, 3, 4, 4, dtype=F64) + 0.1, self.resample_filter, impl=impl)
        return y + skip

    def discriminate(self, img):
        impl, gain = "ref" if self.impl == "stylegan-ref" else self.impl, bias_act.activation_funcs["lrelu"].def_gain
        y = conv2d_gradfix.conv2d(img, self.d_skip)
        y = upfirdn2d.downsample2d(y, self.resample_filter, impl=impl)
        x = conv2d_resample.conv2d_resample(img, self.d_conv, self.resample_filter, down=2, padding=1)
        x = self.bias_act(x, self.d_bias, act="lrelu", gain=gain)
        return (x + y).flatten(1) @ self.d_out


def _training_losses(model, ws, real):
    """Each loss with its own backward, the .grad of every parameter after each (None if unset)."""
    out = {}

    def phase(name, loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        out[name] = (loss.detach(), {k: p.grad for k, p in model.named_parameters()})

    phase("G", torch.nn.functional.softplus(-model.discriminate(model.synthesis(ws))).mean())
    real = real.detach().requires_grad_(True)
    logits = model.discriminate(real)
    (r1_grads,) = torch.autograd.grad(outputs=[logits.sum()], inputs=[real], create_graph=True, only_inputs=True)
    phase("R1", r1_grads.square().sum([1, 2, 3]).mean() * 5.0)
    ws = ws.detach().requires_grad_(True)
    img = model.synthesis(ws)
    pl_noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(2), dtype=F64) / 8
    with conv2d_gradfix.no_weight_gradients():
        (pl_grads,) = torch.autograd.grad(outputs=[(img * pl_noise).sum()], inputs=[ws], create_graph=True,
                                          only_inputs=True)
    phase("PL", (pl_grads.square().sum(-1).sqrt() - 0.3).square().mean() * 2.0)
    return out


KNOWN_UNCONNECTED: dict = {}


@pytest.mark.parametrize("name", ["auto", "triton"])
def test_training_step_matches_stylegan_reference(monkeypatch, name):
    from tests.conftest import skip_unless_available

    if name == "triton":
        skip_unless_available("triton")
        monkeypatch.setenv("FASTGEN_BACKEND", "triton")
    monkeypatch.setattr(conv2d_gradfix, "enabled", True)  # as StyleGAN's training loop sets it
    n = 1 if name == "triton" else 2  # the interpreter runs program instances one by one: keep it small
    g = torch.Generator().manual_seed(5)
    ws, real = torch.randn(n, 6, generator=g, dtype=F64), torch.rand(n, 3, 8, 8, generator=g, dtype=F64) * 2 - 1
    got = _training_losses(Model("cuda"), ws, real)
    monkeypatch.delenv("FASTGEN_BACKEND", raising=False)
    want = _training_losses(Model("stylegan-ref"), ws, real)
    unconnected = set()
    for phase, (loss, grads) in want.items():
        assert_close_rel(got[phase][0], loss, F64, f"{phase} loss")
        for k, grad in grads.items():
            other = got[phase][1][k]
            if grad is not None and other is None:
                unconnected.add(f"{phase}: {k}")
            if grad is not None or other is not None:
                zeros = torch.zeros_like(grad if grad is not None else other)
                assert_close_rel(zeros if other is None else other, zeros if grad is None else grad, F64,
                                 f"{phase}: {k}.grad", factor=10)
    assert unconnected == KNOWN_UNCONNECTED.get(name, set())
    # the regularisers reach what StyleGAN's reach: R1 every discriminator weight, PL the synthesis
    assert all(got["R1"][1][k] is not None for k in ("d_conv", "d_skip", "d_out"))
    assert all(got["PL"][1][k] is not None for k in ("conv0", "conv1", "affine0", "affine1", "rgb"))

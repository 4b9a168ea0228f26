"""A small StyleGAN3-T (Karras et al., 2021, "Alias-Free GAN") synthesis network on fastgen's ops.

* :class:`FourierInput`: Fourier features of random frequencies (inside a disc of radius
  ``bandwidth``) on the first layer's sampling grid, rotated and translated by an affine of w.
* :class:`AliasFreeLayer`: affine style -> :func:`fastgen.gan.modulated_conv2d` (input scaled by the
  running RMS of its input) -> :func:`fastgen.gan.filtered_lrelu`, which upsamples x2 (x4 when the
  sampling rate grows), applies the leaky ReLU at the high rate, and low-pass filters back down
  to the layer's output sampling rate with Kaiser-windowed sinc filters.
* The schedule (paper, section 3 / appendix F): cutoffs f_c grow geometrically from
  ``first_cutoff`` to ``resolution / 2`` over the first ``layers - critical`` layers, stopbands
  f_t from ``first_stopband`` to ``resolution / 2 * 2 ** 0.3``; each sampling rate is the
  smallest power of 2 >= 2 f_t (at most the resolution); the last ``critical`` layers are
  critically sampled (f_c = resolution / 2) and the last two have no margin. The last layer is
  the toRGB (1x1, no demodulation, linear).

The mapping network is StyleGAN2's: ``make_models(arch="sg3")`` gives a
:class:`fastgen.models.stylegan2.Generator` around this synthesis network (with StyleGAN2's
discriminator), so the trainer, pictures and demo take either. StyleGAN3 has no noise inputs.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from fastgen import gan
from fastgen.models.stylegan2 import FullyConnected


def kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float):
    """A Kaiser-windowed sinc low-pass of ``numtaps`` taps (None for 1 tap), unit DC gain.

    cutoff and width (the transition band) in the units of the sampling rate ``fs``; the window's
    beta follows Kaiser's formulas for the attenuation a filter of that length and width reaches."""
    if numtaps == 1:
        return None
    atten = 2.285 * (numtaps - 1) * math.pi * (width / (fs / 2)) + 7.95
    if atten > 50:
        beta = 0.1102 * (atten - 8.7)
    elif atten > 21:
        beta = 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    else:
        beta = 0.0
    t = np.arange(numtaps) - (numtaps - 1) / 2
    taps = np.sinc(2 * cutoff / fs * t) * np.kaiser(numtaps, beta)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


class FourierInput(torch.nn.Module):
    """w -> (N, channels, size, size) Fourier features sampled at ``sampling_rate`` per unit length."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth, backend="auto"):
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, sampling_rate, bandwidth
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth  # inside the disc, denser near 0
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.affine = FullyConnected(w_dim, 4, backend=backend)  # (cos, sin) of a rotation, a translation
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0, 0, 0]))
        self.weight = torch.nn.Parameter(torch.randn(channels, channels))

    def forward(self, w):
        t = self.affine(w)
        rot = t[:, :2] / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin = rot[:, 0], rot[:, 1]
        m = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (N, 2, 2)
        freqs = self.freqs.to(w.dtype) @ m  # rotate the frequencies
        phases = self.phases.to(w.dtype) - (freqs @ t[:, 2:, None]).squeeze(2)  # translate by t[2:]
        # fade out the frequencies near the Nyquist rate of the grid
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        coords = (torch.arange(self.size, device=w.device, dtype=w.dtype) + 0.5 - self.size / 2) / self.sampling_rate
        grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
        x = torch.einsum("hwk,nck->nhwc", grid, freqs) + phases[:, None, None]
        x = torch.sin(x * (2 * math.pi)) * amp[:, None, None]
        x = x @ (self.weight.to(w.dtype) / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()


class AliasFreeLayer(torch.nn.Module):
    """Modulated conv + filtered_lrelu between two sampling grids (one StyleGAN3 layer)."""

    def __init__(self, w_dim, c_in, c_out, in_size, out_size, in_rate, out_rate, in_cutoff, out_cutoff,
                 in_half_width, out_half_width, is_torgb=False, filter_taps=6, magnitude_beta=0.999, backend="auto"):
        super().__init__()
        self.is_torgb, self.backend, self.magnitude_beta = is_torgb, backend, magnitude_beta
        self.kernel = 1 if is_torgb else 3
        self.affine = FullyConnected(w_dim, c_in, bias_init=1, backend=backend)
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in, self.kernel, self.kernel))
        self.bias = torch.nn.Parameter(torch.zeros(c_out))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.weight_gain = 1 / math.sqrt(c_in * self.kernel ** 2)
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else 2)  # the leaky ReLU runs at twice the rate
        self.up, self.down = int(round(tmp_rate / in_rate)), int(round(tmp_rate / out_rate))
        up_taps = filter_taps * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_taps * self.down if self.down > 1 and not is_torgb else 1
        for name, f in (("up_filter", kaiser_lowpass(up_taps, in_cutoff, in_half_width * 2, tmp_rate)),
                        ("down_filter", kaiser_lowpass(down_taps, out_cutoff, out_half_width * 2, tmp_rate))):
            self.register_buffer(name, f)
        # padding so that the output grid is out_size (the paper's pad_total, split low/high)
        total = (out_size - 1) * self.down + 1 - (in_size + self.kernel - 1) * self.up + up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = [lo, total - lo, lo, total - lo]

    def forward(self, x, w):
        if self.training:  # the running RMS of the input normalises the conv's input
            with torch.no_grad():
                self.magnitude_ema.copy_(x.detach().to(self.magnitude_ema.dtype).square().mean().lerp(self.magnitude_ema, self.magnitude_beta))
        styles = self.affine(w) * (self.weight_gain if self.is_torgb else 1)
        x = gan.modulated_conv2d(x, self.weight.to(x.dtype), styles.to(x.dtype), padding=self.kernel - 1,
                                 demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt().to(x.dtype),
                                 backend=self.backend)
        up_f = None if self.up_filter is None else self.up_filter.float()
        down_f = None if self.down_filter is None else self.down_filter.float()
        return gan.filtered_lrelu(x, up_f, down_f, self.bias.to(x.dtype), up=self.up, down=self.down,
                                  padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                                  slope=1 if self.is_torgb else 0.2, clamp=256, backend=self.backend)


class AliasFreeSynthesis(torch.nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, 3, R, R); ``layers`` alias-free layers + the toRGB."""

    def __init__(self, w_dim, resolution, channel_base=2048, channel_max=64, layers=6, critical=2, margin=4,
                 first_cutoff=2.0, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, output_scale=0.25,
                 backend="auto"):
        super().__init__()
        if layers <= critical:
            raise ValueError(f"AliasFreeSynthesis: layers ({layers}) must exceed critical ({critical})")
        self.output_scale = output_scale
        last_cutoff = resolution / 2
        exponents = np.minimum(np.arange(layers + 1) / (layers - critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = (rates + margin * 2).astype(int)
        sizes[-2:] = resolution
        channels = np.rint(np.minimum(channel_base / 2 / cutoffs, channel_max)).astype(int)
        channels[-1] = 3
        self.schedule = {"cutoffs": cutoffs.tolist(), "stopbands": stopbands.tolist(), "rates": rates.tolist(),
                         "sizes": sizes.tolist(), "channels": channels.tolist()}
        self.input = FourierInput(w_dim, int(channels[0]), int(sizes[0]), float(rates[0]), float(cutoffs[0]), backend)
        self.layers = torch.nn.ModuleList(
            AliasFreeLayer(w_dim, int(channels[i - 1]), int(channels[i]), int(sizes[i - 1]), int(sizes[i]),
                           float(rates[i - 1]), float(rates[i]), float(cutoffs[i - 1]), float(cutoffs[i]),
                           float(half_widths[i - 1]), float(half_widths[i]), is_torgb=i == layers, backend=backend)
            for i in range(1, layers + 1))
        self.num_ws = layers + 1

    def forward(self, ws, noise_mode="random"):  # noise_mode: StyleGAN3 has no noise inputs
        x = self.input(ws[:, 0])
        for layer, w in zip(self.layers, ws[:, 1:].unbind(1)):
            x = layer(x, w)
        return x * self.output_scale

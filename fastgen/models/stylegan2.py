"""A small StyleGAN2 (Karras et al., 2020) generator and discriminator on fastgen's GAN ops.

* :class:`MappingNetwork`: z -> w through normalised z and equalised-lr fully connected layers
  (lr multiplier 0.01), with a running average of w (``w_avg``) for truncation.
* :class:`SynthesisNetwork`: a learned 4x4 constant, then per resolution two modulated 3x3
  convolutions (the first upsampling x2 with the [1,3,3,1] FIR filter), per-pixel noise with a
  learned strength, and a "skip" toRGB per resolution whose image is upsampled by
  :func:`fastgen.gan.upsample2d` and summed.
* :class:`Discriminator`: the residual architecture: fromRGB, per resolution two 3x3 convolutions
  (the second downsampling x2) plus a 1x1 downsampling skip, scaled by sqrt(1/2); at 4x4 the
  minibatch standard deviation, a 3x3 convolution and two fully connected layers.

Class conditioning (``c_dim > 0``) follows StyleGAN2-ADA's design: the mapping network embeds the
label c by a dense layer, normalises z and the embedding separately and maps their concatenation;
the discriminator maps c to a vector cmap and its output is the projection of its last features
onto cmap (Miyato & Koyama's projection discriminator), scaled by 1/sqrt(cmap_dim).

Every weight is stored N(0, 1) and scaled at run time by 1/sqrt(fan_in) (equalised learning
rate). Every op goes through ``fastgen.gan`` with the model's ``backend`` (``"auto"`` by default;
``"reference"`` for the plain-PyTorch baseline). The synthesis layer is :func:`fastgen.gan.modconv_block`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from fastgen import gan

RESAMPLE_FILTER = [1, 3, 3, 1]


class FullyConnected(torch.nn.Module):
    """Equalised-lr dense layer: act(x @ (w * lr_mul / sqrt(in)).T + b * lr_mul)."""

    def __init__(self, c_in, c_out, act="linear", lr_mul=1.0, bias_init=0.0, backend="auto"):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = torch.nn.Parameter(torch.full([c_out], float(bias_init)))
        self.act, self.backend = act, backend
        self.weight_gain, self.bias_gain = lr_mul / math.sqrt(c_in), lr_mul

    def forward(self, x):
        x = x.matmul((self.weight * self.weight_gain).to(x.dtype).t())
        return gan.bias_act(x, (self.bias * self.bias_gain).to(x.dtype), act=self.act, backend=self.backend)


def normalize_2nd_moment(x):
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


def check_labels(name, c_dim, c, n):
    """A clear error for a missing, unexpected or misshapen label batch ``c`` (N, c_dim)."""
    if c_dim == 0:
        if c is not None and c.numel():
            raise ValueError(f"{name}: the model is unconditional (c_dim=0) but got labels c of shape {tuple(c.shape)}")
        return
    if not isinstance(c, torch.Tensor) or c.shape != (n, c_dim):
        got = "None" if c is None else f"shape {tuple(c.shape)}" if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(f"{name}: the model is conditional: c must be a ({n}, {c_dim}) label tensor, got {got}")


class MappingNetwork(torch.nn.Module):
    """z (N, z_dim) [and labels c (N, c_dim)] -> w broadcast to (N, num_ws, w_dim); tracks ``w_avg``."""

    def __init__(self, z_dim, w_dim, num_ws, layers=2, lr_mul=0.01, w_avg_beta=0.995, c_dim=0, backend="auto"):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.w_avg_beta, self.c_dim = z_dim, w_dim, num_ws, w_avg_beta, c_dim
        self.embed = FullyConnected(c_dim, w_dim, backend=backend) if c_dim else None
        dims = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * layers
        self.layers = torch.nn.ModuleList(
            FullyConnected(a, b, act="lrelu", lr_mul=lr_mul, backend=backend) for a, b in zip(dims, dims[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, c=None, truncation_psi=1.0, update_w_avg=False):
        check_labels("MappingNetwork", self.c_dim, c, z.shape[0])
        x = normalize_2nd_moment(z)
        if self.c_dim:  # z and the label embedding are normalised separately, as StyleGAN2-ADA
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.to(z.dtype)))], dim=1)
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = self.w_avg.lerp(x, truncation_psi)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)


class SynthesisLayer(torch.nn.Module):
    """Affine style + modulated conv (+ up) + scaled noise + bias + lrelu, via :func:`fastgen.gan.modconv_block`."""

    def __init__(self, c_in, c_out, w_dim, resolution, up=1, clamp=None, backend="auto"):
        super().__init__()
        self.affine = FullyConnected(w_dim, c_in, bias_init=1, backend=backend)
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = torch.nn.Parameter(torch.zeros(c_out))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", gan.setup_filter(RESAMPLE_FILTER))  # .float() at use: filters stay float32 under .double()
        self.up, self.resolution, self.clamp, self.backend = up, resolution, clamp, backend

    def forward(self, x, w, noise_mode="random"):
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            noise = self.noise_const.to(x.dtype)
        if noise is not None:
            noise = noise * self.noise_strength.to(x.dtype)
        return gan.modconv_block(x, self.weight.to(x.dtype), styles.to(x.dtype), self.bias, noise=noise,
                              up=self.up, act="lrelu", clamp=self.clamp, resample_filter=self.resample_filter.float(),
                              backend=self.backend)


class ToRGB(torch.nn.Module):
    """Modulated 1x1 convolution to RGB without demodulation, + bias (no activation)."""

    def __init__(self, c_in, w_dim, clamp=None, backend="auto"):
        super().__init__()
        self.affine = FullyConnected(w_dim, c_in, bias_init=1, backend=backend)
        self.weight = torch.nn.Parameter(torch.randn(3, c_in, 1, 1))
        self.bias = torch.nn.Parameter(torch.zeros(3))
        self.weight_gain, self.clamp, self.backend = 1 / math.sqrt(c_in), clamp, backend

    def forward(self, x, w):
        styles = self.affine(w) * self.weight_gain
        return gan.modconv_block(x, self.weight.to(x.dtype), styles.to(x.dtype), self.bias, act="linear",
                              clamp=self.clamp, demodulate=False, backend=self.backend)


class SynthesisBlock(torch.nn.Module):
    """One resolution of the synthesis network; ``use_fp16`` runs it in float16 (CUDA only)."""

    def __init__(self, c_in, c_out, w_dim, resolution, use_fp16=False, backend="auto"):
        super().__init__()
        self.resolution, self.use_fp16, self.backend = resolution, use_fp16, backend
        clamp = 256 if use_fp16 else None  # as StyleGAN: keep float16 activations finite
        if c_in == 0:
            self.const = torch.nn.Parameter(torch.randn(c_out, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(c_in, c_out, w_dim, resolution, up=2, clamp=clamp, backend=backend)
        self.conv1 = SynthesisLayer(c_out, c_out, w_dim, resolution, clamp=clamp, backend=backend)
        self.torgb = ToRGB(c_out, w_dim, clamp=clamp, backend=backend)
        self.register_buffer("resample_filter", gan.setup_filter(RESAMPLE_FILTER))  # .float() at use: filters stay float32 under .double()
        self.num_conv = 1 if c_in == 0 else 2

    def forward(self, x, img, ws, noise_mode="random"):
        dtype = torch.float16 if self.use_fp16 and ws.is_cuda else ws.dtype
        if self.conv0 is None:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode)
        else:
            x = self.conv0(x.to(dtype), ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        if img is not None:
            img = gan.upsample2d(img, self.resample_filter.float(), backend=self.backend)
        y = self.torgb(x, ws[:, self.num_conv]).to(ws.dtype)
        return x, (y if img is None else img + y)


def channels_at(resolution, channel_base, channel_max):
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(torch.nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, 3, R, R), roughly in [-1, 1]."""

    def __init__(self, w_dim, resolution, channel_base, channel_max, num_fp16_res=0, backend="auto"):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"SynthesisNetwork: resolution must be a power of 2 >= 4, got {resolution!r}")
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        fp16_from = max(resolution // 2 ** (num_fp16_res - 1), 8) if num_fp16_res > 0 else resolution * 2
        self.blocks = torch.nn.ModuleList()
        self.num_ws = 0
        for r in self.resolutions:
            c_in = 0 if r == 4 else channels_at(r // 2, channel_base, channel_max)
            block = SynthesisBlock(c_in, channels_at(r, channel_base, channel_max), w_dim, r,
                                   use_fp16=r >= fp16_from, backend=backend)
            self.blocks.append(block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last toRGB's w (each toRGB shares the next block's first w)

    def forward(self, ws, noise_mode="random"):
        x = img = None
        index = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, index:index + block.num_conv + 1], noise_mode)
            index += block.num_conv
        return img


class Generator(torch.nn.Module):
    """z -> image, with truncation and style mixing.

    Args:
        z_dim, w_dim: latent sizes. resolution: output side (a power of 2).
        channel_base, channel_max: channels at resolution r are min(channel_base / r, channel_max).
        mapping_layers: depth of the mapping network.
        num_fp16_res: the highest resolutions that run in float16 on CUDA (0 = none).
        c_dim: label size (0: unconditional).
        synthesis: a synthesis network to use instead of StyleGAN2's (one with ``num_ws``, e.g.
            :class:`fastgen.models.stylegan3.AliasFreeSynthesis`).
        backend: the fastgen backend every op runs on.
    """

    def __init__(self, z_dim=64, w_dim=64, resolution=32, channel_base=2048, channel_max=128,
                 mapping_layers=2, num_fp16_res=0, c_dim=0, synthesis=None, backend="auto"):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution, self.c_dim = z_dim, w_dim, resolution, c_dim
        self.synthesis = synthesis if synthesis is not None else SynthesisNetwork(
            w_dim, resolution, channel_base, channel_max, num_fp16_res, backend)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, mapping_layers, c_dim=c_dim, backend=backend)

    def map(self, z, c=None, truncation_psi=1.0, update_w_avg=False, mixing_prob=0.0):
        """ws for z (and labels c); with probability ``mixing_prob`` (per batch, as StyleGAN) the
        layers from a random cutoff on take the ws of a second latent with the same c (style mixing)."""
        ws = self.mapping(z, c, truncation_psi, update_w_avg)
        if mixing_prob > 0 and float(torch.rand([])) < mixing_prob:
            cutoff = int(torch.randint(1, self.num_ws, []))
            ws2 = self.mapping(torch.randn_like(z), c, truncation_psi, update_w_avg=False)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode="random", update_w_avg=False, mixing_prob=0.0):
        return self.synthesis(self.map(z, c, truncation_psi, update_w_avg, mixing_prob), noise_mode)


class Conv(torch.nn.Module):
    """Equalised-lr convolution with optional x2 FIR downsampling, bias and activation."""

    def __init__(self, c_in, c_out, kernel, act="lrelu", down=1, bias=True, gain=1.0, backend="auto"):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = torch.nn.Parameter(torch.zeros(c_out)) if bias else None
        self.register_buffer("resample_filter", gan.setup_filter(RESAMPLE_FILTER))  # .float() at use: filters stay float32 under .double()
        self.weight_gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.act, self.down, self.gain, self.padding, self.backend = act, down, gain, kernel // 2, backend

    def forward(self, x):
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = gan.conv2d_resample(x, w, self.resample_filter.float() if self.down > 1 else None, down=self.down,
                                padding=self.padding, backend=self.backend)
        b = None if self.bias is None else self.bias.to(x.dtype)
        return gan.bias_act(x, b, act=self.act, gain=self.gain, backend=self.backend)


def minibatch_stddev(x, group_size=4):
    """Append the std over groups of samples (averaged over channels and pixels) as a channel."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        g = math.gcd(n, g)
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(torch.nn.Module):
    def __init__(self, c_in, c_out, backend="auto"):
        super().__init__()
        self.conv0 = Conv(c_in, c_in, 3, backend=backend)
        self.conv1 = Conv(c_in, c_out, 3, down=2, backend=backend)
        self.skip = Conv(c_in, c_out, 1, act="linear", down=2, bias=False, gain=math.sqrt(0.5), backend=backend)

    def forward(self, x):
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        return y + x * math.sqrt(0.5)  # conv1's lrelu gain sqrt(2) times sqrt(1/2), as StyleGAN2


class LabelMapping(torch.nn.Module):
    """The discriminator's label path: c (N, c_dim) -> cmap (N, dim) by an embedding, 2nd-moment
    normalisation and ``layers`` lrelu dense layers (lr multiplier 0.01), as StyleGAN2-ADA's D."""

    def __init__(self, c_dim, dim, layers=2, lr_mul=0.01, backend="auto"):
        super().__init__()
        self.embed = FullyConnected(c_dim, dim, backend=backend)
        self.layers = torch.nn.Sequential(*(FullyConnected(dim, dim, act="lrelu", lr_mul=lr_mul, backend=backend)
                                            for _ in range(layers)))

    def forward(self, c):
        return self.layers(normalize_2nd_moment(self.embed(c)))


class Discriminator(torch.nn.Module):
    """images (N, 3, R, R) [and labels c (N, c_dim)] -> logits (N, 1); residual architecture with
    minibatch stddev; conditional: the projection of the last features onto the mapped label."""

    def __init__(self, resolution=32, channel_base=2048, channel_max=128, mbstd_group=4, c_dim=0, backend="auto"):
        super().__init__()
        resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        ch = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        self.fromrgb = Conv(3, ch(resolution), 1, backend=backend)
        self.blocks = torch.nn.Sequential(*(DiscriminatorBlock(ch(r), ch(r // 2), backend) for r in resolutions))
        c4 = ch(4)
        self.mbstd_group = mbstd_group
        self.conv = Conv(c4 + 1, c4, 3, backend=backend)
        self.fc = FullyConnected(c4 * 16, c4, act="lrelu", backend=backend)
        self.c_dim = c_dim
        self.cmap = LabelMapping(c_dim, c4, backend=backend) if c_dim else None
        self.out = FullyConnected(c4, c4 if c_dim else 1, backend=backend)

    def forward(self, img, c=None):
        check_labels("Discriminator", self.c_dim, c, img.shape[0])
        x = self.blocks(self.fromrgb(img))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        x = self.out(self.fc(x.flatten(1)))
        if self.c_dim:
            cmap = self.cmap(c.to(x.dtype))
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(cmap.shape[1])
        return x


def make_models(resolution=32, backend="auto", num_fp16_res=0, arch="sg2", sg3_layers=6, **sizes):
    """(G, D) of the demo's default sizes at ``resolution``; ``sizes`` overrides Generator's.
    ``arch="sg3"``: the alias-free synthesis of :mod:`fastgen.models.stylegan3` (``sg3_layers``
    layers, float32) with StyleGAN2's mapping and discriminator."""
    if arch not in ("sg2", "sg3"):
        raise ValueError(f"make_models: arch must be 'sg2' or 'sg3', got {arch!r}")
    synthesis = None
    if arch == "sg3":
        from fastgen.models.stylegan3 import AliasFreeSynthesis

        synthesis = AliasFreeSynthesis(sizes.get("w_dim", 64), resolution, sizes.get("channel_base", 2048),
                                       sizes.get("channel_max", 128), layers=sg3_layers, backend=backend)
        num_fp16_res = 0
    g = Generator(resolution=resolution, backend=backend, num_fp16_res=num_fp16_res, synthesis=synthesis, **sizes)
    d = Discriminator(resolution=resolution, channel_base=sizes.get("channel_base", 2048),
                      channel_max=sizes.get("channel_max", 128), c_dim=sizes.get("c_dim", 0), backend=backend)
    return g, d


def parameter_count(module) -> int:
    return int(np.sum([p.numel() for p in module.parameters()]))

"""``Encoding``, ``Network`` and ``NetworkWithInputEncoding``: tiny-cuda-nn's torch modules with
its signatures and attributes, on fastgen's ops (see the package docstring for the differences)."""
from __future__ import annotations

import torch
from torch import nn

from fastgen.compat.tcnn import encodings, networks


def _device() -> torch.device:
    # tiny-cuda-nn creates its parameters on the GPU; without one fastgen uses the CPU
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _preferred_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.float32


class Module(nn.Module):
    """What the three modules share: one flat float32 ``params`` ``nn.Parameter`` (the weights and
    tables are views into it), ``seed``, ``dtype`` (of the output), ``loss_scale``."""

    def __init__(self, seed=1337):
        super().__init__()
        self.seed = seed
        device = _device()
        if getattr(self, "dtype", None) is None:
            self.dtype = _preferred_dtype(device)
        generator = torch.Generator().manual_seed(seed)
        initial = torch.cat([part.init(generator) for part in self._parts()]).float()
        self.params = nn.Parameter(initial.to(device), requires_grad=True)
        # tiny-cuda-nn scales float16 gradients by it internally; kept for code that reads it, unused
        self.loss_scale = 128.0 if self.dtype == torch.float16 else 1.0

    def _input(self, x):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{type(self).__name__}: x must be a floating-point tensor, got "
                            f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
        if x.dim() != 2 or x.shape[1] != self.n_input_dims:
            raise ValueError(f"{type(self).__name__}: x must have shape (batch, n_input_dims="
                             f"{self.n_input_dims}), got {tuple(x.shape)}")
        # as tiny-cuda-nn: float32 input on the parameters' device
        return x.to(device=self.params.device, dtype=torch.float32)

    def _split(self) -> list:
        out, offset = [], 0
        for part in self._parts():
            out.append(self.params[offset:offset + part.n_params])
            offset += part.n_params
        return out

    def extra_repr(self):
        return (f"n_input_dims={self.n_input_dims}, n_output_dims={self.n_output_dims}, seed={self.seed}, "
                f"dtype={self.dtype}, hyperparams={self._hyperparams()}")


class Encoding(Module):
    """Input encoding: ``(batch, n_input_dims)`` float -> ``(batch, n_output_dims)`` of ``dtype``.

    Args:
        n_input_dims: input dims of each point.
        encoding_config: tiny-cuda-nn's encoding dict (``otype``: Identity, Frequency, TriangleWave,
            OneBlob, SphericalHarmonics, HashGrid, DenseGrid, Grid, Composite).
        seed: seed of the parameter initialisation.
        dtype: ``torch.float32`` or ``torch.float16``; None: float16 on a GPU, float32 on CPU.

    Example::

        >>> enc = tcnn.Encoding(3, {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2,
        ...                         "log2_hashmap_size": 19, "base_resolution": 16, "per_level_scale": 1.5})
        >>> enc(torch.rand(4096, 3)).shape          # enc.params: (16 * 2^19 * 2,) float32
        torch.Size([4096, 32])
    """

    def __init__(self, n_input_dims, encoding_config, seed=1337, dtype=None):
        if dtype not in (None, torch.float32, torch.float16):
            raise ValueError(f"Encoding only supports fp32 or fp16 precision (dtype torch.float32 or "
                             f"torch.float16, or None), got {dtype}")
        self.dtype = dtype
        self.n_input_dims = n_input_dims
        self.encoding_config = encoding_config
        self._encoding = encodings.build("encoding_config", n_input_dims, encoding_config)
        self.n_output_dims = self._encoding.n_output_dims
        super().__init__(seed=seed)

    def _parts(self):
        return [self._encoding]

    def _hyperparams(self):
        return self.encoding_config

    def forward(self, x):
        return self._encoding.encode(self._input(x), self.params).to(self.dtype)


class Network(Module):
    """Neural network: ``(batch, n_input_dims)`` float -> ``(batch, n_output_dims)`` of ``dtype``
    (float16 on a GPU, float32 on CPU), on :func:`fastgen.nerf.fused_mlp`.

    Args:
        n_input_dims, n_output_dims: widths of the input and the output.
        network_config: tiny-cuda-nn's network dict (``otype`` FullyFusedMLP or CutlassMLP).
        seed: seed of the parameter initialisation.

    Example::

        >>> net = tcnn.Network(32, 16, {"otype": "FullyFusedMLP", "activation": "ReLU",
        ...                             "output_activation": "None", "n_neurons": 64, "n_hidden_layers": 1})
        >>> net(torch.randn(4096, 32)).shape       # net.params: (64*32 + 16*64,) float32
        torch.Size([4096, 16])
    """

    def __init__(self, n_input_dims, n_output_dims, network_config, seed=1337):
        self.n_input_dims = n_input_dims
        self.n_output_dims = n_output_dims
        self.network_config = network_config
        self._network = networks.MLP("network_config", n_input_dims, n_output_dims, network_config)
        super().__init__(seed=seed)

    def _parts(self):
        return [self._network]

    def _hyperparams(self):
        return self.network_config

    def forward(self, x):
        return self._network.forward(self._input(x).to(self.dtype), self.params)


class NetworkWithInputEncoding(Module):
    """An input encoding followed by a network, with one ``params`` (the network's weights first,
    then the encoding's parameters). ``(batch, n_input_dims)`` float -> ``(batch, n_output_dims)``
    of ``dtype``; the encoding's output is cast to ``dtype`` before the network.

    Args:
        n_input_dims, n_output_dims: widths of the input and the output.
        encoding_config: as :class:`Encoding`; network_config: as :class:`Network`.
        seed: seed of the parameter initialisation.

    Example::

        >>> model = tcnn.NetworkWithInputEncoding(
        ...     3, 16, {"otype": "HashGrid", "n_levels": 16, "log2_hashmap_size": 19, "per_level_scale": 1.38},
        ...     {"otype": "FullyFusedMLP", "n_neurons": 64, "n_hidden_layers": 1})
        >>> model(torch.rand(4096, 3)).shape
        torch.Size([4096, 16])
    """

    def __init__(self, n_input_dims, n_output_dims, encoding_config, network_config, seed=1337):
        self.n_input_dims = n_input_dims
        self.n_output_dims = n_output_dims
        self.encoding_config = encoding_config
        self.network_config = network_config
        self._encoding = encodings.build("encoding_config", n_input_dims, encoding_config)
        self._network = networks.MLP("network_config", self._encoding.n_output_dims, n_output_dims,
                                     network_config)
        super().__init__(seed=seed)

    def _parts(self):
        return [self._network, self._encoding]

    def _hyperparams(self):
        return {"encoding": self.encoding_config, "network": self.network_config}

    def forward(self, x):
        net_params, enc_params = self._split()
        features = self._encoding.encode(self._input(x), enc_params).to(self.dtype)
        return self._network.forward(features, net_params)

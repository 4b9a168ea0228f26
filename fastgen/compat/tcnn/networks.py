"""tiny-cuda-nn's networks (``network_config`` dicts by ``otype``) on :func:`fastgen.nerf.fused_mlp`.

``FullyFusedMLP`` and ``CutlassMLP`` are the same network here: ``n_hidden_layers`` layers of
``n_neurons`` with ``activation``, then a linear layer to ``n_output_dims`` with
``output_activation``; no biases. The flat parameters hold the weight matrices in layer order,
each in ``nn.Linear`` layout (out, in), row-major: ``(n_neurons, n_input_dims)``,
``(n_neurons, n_neurons)`` x (n_hidden_layers - 1), ``(n_output_dims, n_neurons)``.
"""
from __future__ import annotations

import torch

from fastgen.compat.tcnn import _config as C

OTYPES = ("FullyFusedMLP", "CutlassMLP")
# tiny-cuda-nn's activation names -> fused_mlp's
ACTIVATIONS = {"None": "none", "ReLU": "relu", "LeakyReLU": "leaky_relu", "Exponential": "exponential",
               "Sigmoid": "sigmoid", "Softplus": "softplus", "Tanh": "tanh"}
_UNSUPPORTED_ACTIVATIONS = ("Sine", "Squareplus")
FULLY_FUSED_WIDTHS = (16, 32, 64, 128)  # tiny-cuda-nn's FullyFusedMLP restriction (and fused_mlp's)
MAX_HIDDEN_LAYERS = 8  # fused_mlp's limit


class MLP:
    def __init__(self, where, n_input_dims, n_output_dims, config):
        kind = C.otype(where, config, OTYPES)
        C.check_keys(where, config, ("activation", "output_activation", "n_neurons", "n_hidden_layers",
                                     "feedback_alignment"))
        if config.get("feedback_alignment", False) is not False:
            raise ValueError(f"{where}: 'feedback_alignment' = True is not implemented by fastgen; "
                             "only false (ordinary backpropagation)")
        self.activation = C.choice(where, config, "activation", "ReLU", ACTIVATIONS, _UNSUPPORTED_ACTIVATIONS)
        self.output_activation = C.choice(where, config, "output_activation", "None", ACTIVATIONS,
                                          _UNSUPPORTED_ACTIVATIONS)
        width = config.get("n_neurons", 128)
        if isinstance(width, bool) or width not in FULLY_FUSED_WIDTHS:
            restriction = "tiny-cuda-nn's FullyFusedMLP" if kind == "FullyFusedMLP" else "fastgen's fused_mlp"
            raise ValueError(f"{where}: 'n_neurons' must be one of {FULLY_FUSED_WIDTHS} ({restriction} "
                             f"restriction), got {width!r}")
        depth = C.integer(where, config, "n_hidden_layers", 5, 1, MAX_HIDDEN_LAYERS)
        for name, value in (("n_input_dims", n_input_dims), ("n_output_dims", n_output_dims)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
        dims = [n_input_dims] + [width] * depth + [n_output_dims]
        self.shapes = [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
        self.n_input_dims, self.n_output_dims = n_input_dims, n_output_dims
        self.n_params = sum(o * i for o, i in self.shapes)

    def init(self, generator: torch.Generator) -> torch.Tensor:
        """tiny-cuda-nn's Xavier-uniform initialisation, as :class:`fastgen.nerf.FusedMLP` draws it."""
        from fastgen.nerf import FusedMLP

        seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
        (o, i), depth = self.shapes[0], len(self.shapes) - 1
        net = FusedMLP(i, self.n_output_dims, n_neurons=o, n_hidden_layers=depth, seed=seed, dtype=torch.float32)
        return torch.cat([w.detach().flatten() for w in net.weights])

    def weights(self, params: torch.Tensor) -> list:
        """The layers' (out, in) matrices: views into ``params``."""
        out, offset = [], 0
        for o, i in self.shapes:
            out.append(params[offset:offset + o * i].view(o, i))
            offset += o * i
        return out

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        from fastgen.nerf import fused_mlp

        return fused_mlp(x, self.weights(params.to(x.dtype)), activation=self.activation,
                         output_activation=self.output_activation)

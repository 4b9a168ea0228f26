"""Fully fused small MLPs (family ``mlp``), as tiny-cuda-nn's ``FullyFusedMLP``:
:func:`fused_mlp` is the functional op, :class:`FusedMLP` the ``nn.Module`` holding the weights
(both also exported by :mod:`fastgen.nerf`).

Backends: ``reference`` (a chain of matmuls in plain PyTorch) and ``triton`` (one kernel keeps a
block of points' activations on chip through every layer; the backward runs the gradient back
through the layers in one kernel and reduces the weight gradients block by block). No ``cpu``
backend: these are small dense GEMMs, where torch's BLAS is the fast CPU path and the reference
is made of it. No ``cuda`` backend: CUDA tensors run the Triton kernels (``auto`` picks them).
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.mlp import reference

__all__ = ["fused_mlp", "FusedMLP"]

_MISSING = {"cpu": "small dense GEMMs: torch's BLAS is the fast CPU path, so CPU tensors run the reference",
            "cuda": "CUDA tensors run the Triton fused-MLP kernels"}
register_op("fused_mlp", "mlp", backends=("reference", "triton"), missing=_MISSING)

WIDTHS = (16, 32, 64, 128)
MAX_HIDDEN_LAYERS = 8
ACTIVATION_NAMES = tuple(reference.ACTIVATIONS)  # the kernels' activation codes are indices into this
# tiny-cuda-nn's spellings (compared lower-cased) -> ours
_ALIASES = {"leakyrelu": "leaky_relu", "exp": "exponential", "linear": "none"}


def activation_name(op: str, name: str, value) -> str:
    """The canonical activation name for ``value``: ours or tiny-cuda-nn's ("ReLU", "LeakyReLU",
    "Sigmoid", "Exponential", "Softplus", "Tanh", "None"), case-insensitively."""
    if not isinstance(value, str):
        raise ValueError(f"{op}: {name} must be a string, got {type(value).__name__}")
    key = value.lower()
    key = _ALIASES.get(key, key)
    if key not in reference.ACTIVATIONS:
        raise ValueError(f"{op}: unknown {name} {value!r}; choose one of {', '.join(ACTIVATION_NAMES)} "
                         "(or tiny-cuda-nn's capitalised names, e.g. 'ReLU', 'LeakyReLU', 'None')")
    return key


def _check(op: str, x, weights) -> None:
    V.floating(op, "x", x, ndim=2)
    if not isinstance(weights, (list, tuple)) or not all(isinstance(w, torch.Tensor) for w in weights):
        raise TypeError(f"{op}: weights must be a list or tuple of tensors, got {type(weights).__name__}")
    if not 2 <= len(weights) <= MAX_HIDDEN_LAYERS + 1:
        raise ValueError(f"{op}: weights must hold n_hidden + 1 matrices with n_hidden in 1..{MAX_HIDDEN_LAYERS}, "
                         f"got {len(weights)} matrices")
    for i, w in enumerate(weights):
        V.tensor(op, f"weights[{i}]", w, ndim=2)
        V.same_dtype(op, x=x, **{f"weights[{i}]": w})
        V.same_device(op, x=x, **{f"weights[{i}]": w})
        if not w.is_contiguous():  # a transposed matrix here is almost always the wrong layout
            raise ValueError(f"{op}: weights[{i}] must be contiguous, in nn.Linear's (out, in) layout")
    width = weights[0].shape[0]
    if width not in WIDTHS:
        raise ValueError(f"{op}: the hidden width (weights[0].shape[0]) must be one of {WIDTHS}, got {width}")
    if weights[0].shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weights[0] of shape {tuple(weights[0].shape)} needs x with {weights[0].shape[1]} "
                         f"columns, x has shape {tuple(x.shape)}")
    for i, w in enumerate(weights[1:-1], start=1):
        if tuple(w.shape) != (width, width):
            raise ValueError(f"{op}: weights[{i}] must have shape (width, width) = {(width, width)}, "
                             f"got {tuple(w.shape)}")
    last = weights[-1]
    if last.shape[1] != width or last.shape[0] < 1:
        raise ValueError(f"{op}: weights[-1] must have shape (D_out, width) = (D_out, {width}) with D_out >= 1, "
                         f"got {tuple(last.shape)}")


def fused_mlp(x, weights, activation="relu", output_activation="none", backend="auto"):
    r"""A small dense MLP without biases, fully fused (tiny-cuda-nn's ``FullyFusedMLP``).

    .. math::
        h_0 = x,\qquad h_{i+1} = \sigma(h_i W_i^\top)\ (i < L),\qquad
        y = \sigma_{out}(h_L W_L^\top)

    with L = ``len(weights) - 1`` hidden layers of width W, :math:`\sigma` = ``activation`` and
    :math:`\sigma_{out}` = ``output_activation``, one of ``"relu"``, ``"leaky_relu"`` (slope
    0.01, as tiny-cuda-nn), ``"sigmoid"``, ``"exponential"``, ``"softplus"``
    (:math:`\log(1 + e^z)`), ``"tanh"``, ``"none"``; tiny-cuda-nn's spellings (``"ReLU"``,
    ``"LeakyReLU"``, ``"None"``, ...) are accepted case-insensitively. Half-precision inputs
    accumulate in float32; the triton backend rounds each hidden layer to x's dtype before the
    next product (as tiny-cuda-nn does), the reference keeps it in float32.

    Args:
        x: (N, D_in) float16, bfloat16 or float32 (float64 on the reference backend); N may be
            0. A non-contiguous x is copied.
        weights: list or tuple of L + 1 contiguous 2-D tensors in ``nn.Linear`` layout
            (out, in): ``weights[0]`` (W, D_in), ``weights[1:-1]`` (W, W), ``weights[-1]``
            (D_out, W), with W in {16, 32, 64, 128}, L in 1..8, any D_in, D_out >= 1 (the
            kernels pad them internally); x's dtype and device.
        activation, output_activation: names as above.
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` (CPU tensors run the reference:
            torch's BLAS is the fast CPU path; CUDA tensors run triton).

    Returns:
        (N, D_out) tensor of x's dtype, differentiable with respect to x and every weight.

    Example::

        >>> x = torch.randn(1000, 32)
        >>> weights = [torch.randn(64, 32) * 0.2, torch.randn(64, 64) * 0.2, torch.randn(16, 64) * 0.2]
        >>> y = fastgen.nerf.fused_mlp(x, weights, activation="ReLU", output_activation="None")
        >>> y.shape
        torch.Size([1000, 16])
    """
    op = "fused_mlp"
    _check(op, x, weights)
    act = activation_name(op, "activation", activation)
    out_act = activation_name(op, "output_activation", output_activation)
    be = resolve(op, backend, x.device)
    if be == "reference":
        return reference.fused_mlp(x, list(weights), act, out_act)
    if x.dtype == torch.float64:
        raise TypeError(f"{op}: the {be} backend takes x in float16, bfloat16 or float32, got float64; "
                        "use backend='reference'")
    from fastgen.ops.mlp import _library as L

    weights = list(weights)
    save = torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in weights))
    y, _ = L.forward(x.contiguous(), weights, ACTIVATION_NAMES.index(act), ACTIVATION_NAMES.index(out_act), save,
                     be)
    return y


def _int(op, name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo \
            or (hi is not None and value > hi):
        raise ValueError(f"{op}: {name} must be an int >= {lo}" + (f" and <= {hi}" if hi is not None else "")
                         + f", got {value!r}")
    return int(value)


def _padded(n: int) -> int:
    """tiny-cuda-nn's padded width of an input or output: the next multiple of 16."""
    return -(-n // 16) * 16


class FusedMLP(nn.Module):
    r"""A fully fused MLP with its weights (tiny-cuda-nn's ``FullyFusedMLP`` network).

    Holds ``n_hidden_layers + 1`` bias-free weight matrices in a ``ParameterList`` (``nn.Linear``
    layout) and applies :func:`fused_mlp`. Initialisation as tiny-cuda-nn's fully fused MLP
    (Xavier/Glorot uniform on each layer's padded matrix): layer i is drawn from
    :math:`U(-s_i, s_i)`, :math:`s_i = \sqrt{6 / (\text{fan\_in}_i + \text{fan\_out}_i)}`, where
    the input and output widths count as tiny-cuda-nn pads them (the next multiple of 16); the
    padding rows/columns themselves are not stored. ``seed`` makes it reproducible (tiny-cuda-nn
    draws from its own PCG32 stream, so the numbers differ from it; the distribution does not).

    Args:
        n_input_dims, n_output_dims: D_in, D_out >= 1.
        n_neurons: the width W, one of 16, 32, 64, 128.
        n_hidden_layers: 1..8.
        activation, output_activation: as :func:`fused_mlp` (tiny-cuda-nn's names accepted).
        seed: int seed for the initialisation, or None for torch's global generator.
        dtype: the weights' dtype (default torch's default dtype); inputs are cast to it.
        backend: passed to :func:`fused_mlp` on every call.

    Example::

        >>> net = fastgen.nerf.FusedMLP(32, 16, n_neurons=64, n_hidden_layers=2, seed=1337)
        >>> net(torch.randn(4096, 32)).shape
        torch.Size([4096, 16])
    """

    def __init__(self, n_input_dims, n_output_dims, n_neurons=64, n_hidden_layers=2, activation="relu",
                 output_activation="none", seed=None, dtype=None, backend="auto"):
        super().__init__()
        op = "FusedMLP"
        self.n_input_dims = _int(op, "n_input_dims", n_input_dims, 1)
        self.n_output_dims = _int(op, "n_output_dims", n_output_dims, 1)
        if n_neurons not in WIDTHS or isinstance(n_neurons, bool):
            raise ValueError(f"{op}: n_neurons must be one of {WIDTHS}, got {n_neurons!r}")
        self.n_neurons = int(n_neurons)
        self.n_hidden_layers = _int(op, "n_hidden_layers", n_hidden_layers, 1, MAX_HIDDEN_LAYERS)
        self.activation = activation_name(op, "activation", activation)
        self.output_activation = activation_name(op, "output_activation", output_activation)
        self.backend = backend
        dtype = dtype or torch.get_default_dtype()
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        shapes = [(self.n_neurons, self.n_input_dims)] + [(self.n_neurons, self.n_neurons)] * (n_hidden_layers - 1) \
            + [(self.n_output_dims, self.n_neurons)]
        params = []
        for i, (fan_out, fan_in) in enumerate(shapes):
            fan_in_p = _padded(fan_in) if i == 0 else fan_in
            fan_out_p = _padded(fan_out) if i == len(shapes) - 1 else fan_out
            bound = math.sqrt(6.0 / (fan_in_p + fan_out_p))
            w = (torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float32) * 2 - 1) * bound
            params.append(nn.Parameter(w.to(dtype)))
        self.weights = nn.ParameterList(params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_input_dims) -> (N, n_output_dims) in the weights' dtype."""
        weights = list(self.weights)
        return fused_mlp(x.to(weights[0].dtype), weights, self.activation, self.output_activation, self.backend)

    def extra_repr(self) -> str:
        return (f"n_input_dims={self.n_input_dims}, n_output_dims={self.n_output_dims}, n_neurons={self.n_neurons}, "
                f"n_hidden_layers={self.n_hidden_layers}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}")

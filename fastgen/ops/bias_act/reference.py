"""bias_act in plain PyTorch: the definition of correct (any device, any float dtype, autograd
of any order through torch's own ops)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


def activation(name: str, z: torch.Tensor, alpha: float) -> torch.Tensor:
    """act(z) for the activation ``name`` (see :data:`fastgen.ops.bias_act.ACTIVATIONS`)."""
    if name == "linear":
        return z
    if name == "relu":
        return torch.relu(z)
    if name == "lrelu":
        # F.leaky_relu, not torch.where: its derivative stays connected to z, so a second
        # derivative (R1) gives the bias a zero .grad rather than None, as StyleGAN's reference does.
        return F.leaky_relu(z, alpha)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "elu":
        return torch.where(z > 0, z, alpha * torch.expm1(torch.clamp(z, max=0)))
    if name == "selu":
        return _SELU_SCALE * torch.where(z > 0, z, _SELU_ALPHA * torch.expm1(torch.clamp(z, max=0)))
    if name == "softplus":
        return F.softplus(z, threshold=1e30)  # no linear cut-off: the exact log(1 + e^z)
    if name == "swish":
        return z * torch.sigmoid(z)
    raise ValueError(f"bias_act: unknown activation {name!r}")


def bias_act(x: torch.Tensor, b: torch.Tensor | None, dim: int, act: str, alpha: float, gain: float,
             clamp: float | None) -> torch.Tensor:
    """y = act(x + b broadcast along ``dim``) * gain, clamped to [-clamp, clamp] when clamp is
    not None. Arguments are already resolved (numbers, not None defaults)."""
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.dim())])
    y = activation(act, x, alpha)
    if gain != 1:
        y = y * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y

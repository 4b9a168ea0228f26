"""Fused bias + activation + gain + clamp (family ``bias_act``), with StyleGAN2-ADA / StyleGAN3
semantics and first and second derivatives."""
from __future__ import annotations

import math
from dataclasses import dataclass

from fastgen import _validate as V
from fastgen.backend import register_op, resolve
from fastgen.ops.bias_act import reference

__all__ = ["bias_act", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    code: int  # the kernels' code (csrc/gan/bias_act.h)
    alpha: float  # default alpha (used by lrelu and elu only)
    gain: float  # default gain


ACTIVATIONS = {
    "linear": Activation(0, 0.0, 1.0),
    "relu": Activation(1, 0.0, math.sqrt(2)),
    "lrelu": Activation(2, 0.2, math.sqrt(2)),
    "tanh": Activation(3, 0.0, 1.0),
    "sigmoid": Activation(4, 0.0, 1.0),
    "elu": Activation(5, 1.0, 1.0),
    "selu": Activation(6, 0.0, 1.0),
    "softplus": Activation(7, 0.0, 1.0),
    "swish": Activation(8, 0.0, math.sqrt(2)),
}

# No "cpu" backend: the C++ loop (csrc/gan/gan_cpu.cpp, which runs the CUDA kernel's per-element
# math and is tested through torch.ops.fastgen.bias_act) did not beat the reference's vectorised
# torch ops on CPU (benchmarks/cases/gan.py), so CPU tensors run the reference.
register_op("bias_act", "bias_act", backends=("reference", "cuda", "triton"),
            missing={"cpu": "its C++ kernel is tested but does not beat PyTorch's vectorised "
                            "elementwise ops on a CPU, so CPU tensors run the reference"})


def _number(op: str, name: str, v, *, minimum=None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{op}: {name} must be a number or None, got {type(v).__name__}")
    if not math.isfinite(v) or (minimum is not None and v < minimum):
        raise ValueError(f"{op}: {name} must be a finite number >= {minimum}, got {v!r}"
                         if minimum is not None else f"{op}: {name} must be finite, got {v!r}")
    return float(v)


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, backend="auto"):
    r"""Bias, activation, gain and clamp fused in one pass over memory (StyleGAN's ``bias_act``).

    .. math::
        y = \operatorname{clamp}\big(\operatorname{act}(x + b_{[\text{dim}]})\cdot\text{gain},
        \ -\text{clamp},\ \text{clamp}\big)

    ========== ============================== ============= ============
    act        act(z)                         default alpha default gain
    ========== ============================== ============= ============
    linear     z                              -             1
    relu       max(z, 0)                      -             sqrt(2)
    lrelu      z if z > 0 else alpha z        0.2           sqrt(2)
    tanh       tanh(z)                        -             1
    sigmoid    1 / (1 + e^-z)                 -             1
    elu        z if z > 0 else alpha(e^z - 1) 1             1
    selu       torch.nn.functional.selu       -             1
    softplus   log(1 + e^z)                   -             1
    swish      z sigmoid(z)                   -             sqrt(2)
    ========== ============================== ============= ============

    Args:
        x: float16, bfloat16, float32 or float64 tensor of any shape.
        b: optional bias, 1D of length ``x.shape[dim]`` and x's dtype, added along ``dim``.
        dim: the axis of x that b runs along (negative counts from the end).
        act: activation name (table above).
        alpha: the activation's shape parameter (lrelu's slope, elu's scale); None = default.
        gain: output scale; None = the activation's default.
        clamp: clamp the output to [-clamp, clamp]; None = no clamping. Where the clamp is
            active the gradient is 0.
        backend: ``"auto"``, ``"reference"``, ``"cuda"`` or ``"triton"`` (see
            :mod:`fastgen.backend`; CPU tensors run the reference).

    Returns:
        Tensor of x's shape and dtype. Differentiable twice with respect to x and b (R1
        regularisation differentiates through the gradient); each derivative is one fused pass.
        Computed in float32 for float16/bfloat16 (float64 for float64). With act='linear', no
        bias, gain 1 and no clamp, x itself is returned.

    Example::

        >>> x = torch.randn(4, 8, 16, 16); b = torch.zeros(8)
        >>> y = fastgen.gan.bias_act(x, b, act="lrelu")   # leaky ReLU(0.2) * sqrt(2)
    """
    op = "bias_act"
    V.floating(op, "x", x)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -x.dim() <= dim < max(x.dim(), 1):
        raise ValueError(f"{op}: dim={dim} is out of range for x of shape {tuple(x.shape)}")
    dim = dim % max(x.dim(), 1)
    if b is not None:
        V.floating(op, "b", b, ndim=1)
        V.same_dtype(op, x=x, b=b)
        V.same_device(op, x=x, b=b)
        if x.dim() == 0 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"{op}: b must have x.shape[dim] = {x.shape[dim] if x.dim() else '?'} entries "
                             f"(dim={dim}, x shape {tuple(x.shape)}), got {b.shape[0]}")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    alpha = spec.alpha if alpha is None else _number(op, "alpha", alpha)
    gain = spec.gain if gain is None else _number(op, "gain", gain)
    clamp = None if clamp is None else _number(op, "clamp", clamp, minimum=0)
    be = resolve(op, backend, x.device)
    if act == "linear" and b is None and gain == 1 and clamp is None:
        return x
    if be == "reference":
        return reference.bias_act(x, b, dim, act, alpha, gain, clamp)
    from fastgen.ops.bias_act import _library as L

    return L.bias_act(x.contiguous(), None if b is None else b.contiguous(), dim, spec.code, alpha, gain,
                      -1.0 if clamp is None else clamp, be)

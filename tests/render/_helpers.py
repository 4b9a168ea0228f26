"""Input generators and the forward+backward comparison used by the render tests."""
from __future__ import annotations

import math

import torch

from tests.conftest import assert_close_rel

# Ray lengths with empty rays at the start, middle and end, one-sample rays, and lengths around
# block sizes (31, 33, 65, 129) and past a few blocks (300).
EDGE_COUNTS = (0, 1, 31, 0, 33, 65, 1, 129, 300, 0)
# Small layouts for gradcheck and compile: cheap under the Triton interpreter.
SMALL_COUNTS = (0, 1, 3, 0, 5, 2, 0)


def layout(counts, device="cpu"):
    """(packed_info (R, 2) int64, ray_indices (N,) int64, N) of rays with these sample counts."""
    counts_t = torch.tensor(counts, dtype=torch.long).reshape(-1)
    starts = torch.cumsum(counts_t, 0) - counts_t
    packed_info = torch.stack([starts, counts_t], 1)
    ray_indices = torch.repeat_interleave(torch.arange(len(counts_t)), counts_t)
    return packed_info.to(device), ray_indices.to(device), int(counts_t.sum())


def uniform(shape, gen, lo=0.0, hi=1.0, dtype=torch.float32):
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).to(dtype)


def samples(shape, gen, sigma_hi=2.0, dtype=torch.float32):
    """Random (t_starts, t_ends, sigmas, rgbs) with samples of ``shape``: intervals of length
    0.01..0.11 starting in [0, 2), densities in [0, sigma_hi), colours in [0, 1)."""
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    t_starts = uniform(shape, gen, 0.0, 2.0, torch.float64)
    t_ends = t_starts + uniform(shape, gen, 0.01, 0.11, torch.float64)
    sigmas = uniform(shape, gen, 0.0, sigma_hi, torch.float64)
    rgbs = uniform((*shape, 3), gen, 0.0, 1.0, torch.float64)
    return tuple(t.to(dtype) for t in (t_starts, t_ends, sigmas, rgbs))


def log_uniform(lo, hi, gen):
    """A maker of float64 values log-uniform in [lo, hi) for a given shape."""
    return lambda shape: torch.exp(uniform(shape, gen, math.log(lo), math.log(hi), torch.float64))


def threshold_between(values, target, margin=2e-3):
    """A threshold near ``target`` at least ``margin`` (relative, in log space) from every value, so
    that float32 and float64 computations agree on which side of it each value lies."""
    logs = torch.log(values.double().clamp_min(1e-300)).flatten()
    t = math.log(target)
    for k in range(400):
        cand = t + 0.01 * k * (-1) ** k
        if logs.numel() == 0 or float((logs - cand).abs().min()) > margin:
            return math.exp(cand)
    raise AssertionError(f"no threshold near {target} is {margin} away from every value")


def as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def fwd_bwd(fn, args, grad_mask, coeffs=None, gen=None):
    """Run ``fn(*args)`` with the masked float args as leaves; backpropagate the linear functional
    sum_k <coeffs_k, float output_k>. ``coeffs`` (float64, CPU) are drawn from ``gen`` when None.

    Returns (outputs, grads, coeffs); grads[i] is None for args not in the mask."""
    leaves = [a.detach().clone().requires_grad_(True) if m else a for a, m in zip(args, grad_mask)]
    outs = as_tuple(fn(*leaves))
    float_outs = [o for o in outs if o.is_floating_point()]
    if coeffs is None:
        coeffs = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in float_outs]
    wanted = [x for x, m in zip(leaves, grad_mask) if m]
    grads = [None] * len(args)
    if wanted:
        loss = sum((o.double() * c.to(o.device)).sum() for o, c in zip(float_outs, coeffs))
        if not (torch.is_tensor(loss) and loss.requires_grad):
            got = [torch.zeros_like(x) for x in wanted]  # the outputs do not depend on the leaves
        else:
            got = torch.autograd.grad(loss, wanted, allow_unused=True)
        it = iter(got)
        for i, m in enumerate(grad_mask):
            if m:
                g = next(it)
                grads[i] = torch.zeros_like(leaves[i]) if g is None else g
    return outs, grads, coeffs


def check_vs_reference(fn, ref_fn, args, *, device, gen, grad=True, grad_args=None, dtype=None, factor=1.0,
                       grad_factor=None, what=""):
    """Compare ``fn`` on ``args`` (moved to ``device``) with ``ref_fn`` on float64 CPU copies of the
    same values: every output, and the gradients of a random linear functional of the outputs
    w.r.t. every float argument (when ``grad``; only the positions in ``grad_args`` when given).
    Returns (outputs, grads) of ``fn``."""
    float_args = [a for a in args if torch.is_tensor(a) and a.is_floating_point()]
    dtype = dtype or float_args[0].dtype
    mask = [bool(grad and torch.is_tensor(a) and a.is_floating_point() and (grad_args is None or i in grad_args))
            for i, a in enumerate(args)]
    ref_args = [a.double() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
    test_args = [a.to(device) if torch.is_tensor(a) else a for a in args]
    ref_outs, ref_grads, coeffs = fwd_bwd(ref_fn, ref_args, mask, gen=gen)
    outs, grads, _ = fwd_bwd(fn, test_args, mask, coeffs=coeffs)
    assert len(outs) == len(ref_outs), f"{what}: {len(outs)} outputs, reference has {len(ref_outs)}"
    for k, (o, r) in enumerate(zip(outs, ref_outs)):
        assert o.device.type == torch.device(device).type, f"{what}: output {k} on {o.device}"
        if r.dtype == torch.bool:
            assert o.dtype == torch.bool and torch.equal(o.cpu(), r), f"{what}: boolean output {k} differs"
        else:
            assert_close_rel(o, r, dtype, f"{what} output {k}", factor)
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        if r is not None:
            assert g.dtype == args[i].dtype, f"{what}: grad of arg {i} has dtype {g.dtype}, input {args[i].dtype}"
            assert_close_rel(g, r, dtype, f"{what} grad of arg {i}", grad_factor or factor)
    return outs, grads

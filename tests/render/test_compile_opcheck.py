"""The render family as PyTorch citizens: torch.library.opcheck on every ``torch.ops.fastgen`` op of
each kernel backend, and torch.compile(fullgraph=True) smoke tests (slow: marked)."""
from __future__ import annotations

import pytest
import torch

import fastgen
from fastgen.ops.render import _library  # noqa: F401  (registers torch.ops.fastgen.*)
from tests.conftest import assert_close_rel
from tests.render._helpers import fwd_bwd, layout, samples, uniform

COUNTS = (0, 2, 5, 0, 1, 3)
CUSTOM_OPS = ("segmented_scan", "prod_scan_backward", "segment_sum", "segment_broadcast", "weighted_segment_sum",
              "weighted_segment_broadcast", "composite_forward", "composite_backward")


def test_every_custom_op_is_registered():
    for name in CUSTOM_OPS:
        assert hasattr(torch.ops.fastgen, name), f"torch.ops.fastgen.{name} is not registered"


def opcheck_cases(device, gen, dtype):
    """(op name, args) pairs: small valid inputs of every custom op (several variants each)."""
    info, _, n = layout(COUNTS, device)
    x = uniform(n, gen, 0.5, 1.5, dtype).to(device)
    x0 = x.clone()
    x0[[1, 4]] = 0.0
    g = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype).to(device)
    r = len(COUNTS)
    t0, t1, s, c = (v.to(device) for v in samples(n, gen, dtype=dtype))
    bkgd = uniform((r, 3), gen, dtype=dtype).to(device)
    cases = []
    for op in ("sum", "prod"):
        for exclusive in (False, True):
            for reverse in ((False, True) if op == "sum" else (False,)):
                cases.append(("segmented_scan", lambda b, op=op, e=exclusive, rv=reverse:
                              (x.clone().requires_grad_(True), info, op, e, rv, b)))
    for exclusive in (False, True):
        cases.append(("prod_scan_backward", lambda b, e=exclusive: (x0, g, info, e, b)))
    vals = torch.randn((n, 3), generator=gen, dtype=torch.float64).to(dtype).to(device)
    cases.append(("segment_sum", lambda b: (vals.clone().requires_grad_(True), info, r, b)))
    cases.append(("segment_broadcast", lambda b: (torch.randn((r, 3), generator=gen, dtype=torch.float64)
                                                  .to(dtype).to(device).requires_grad_(True), info, n, b)))
    cases += weighted_segment_cases(info, n, gen, dtype, device)
    for bk in (None, bkgd):
        for eps in (0.0, 0.2):
            cases.append(("composite_forward", lambda b, bk=bk, eps=eps: (
                t0, t1, s.clone().requires_grad_(True), c.clone().requires_grad_(True), info,
                None if bk is None else bk.clone().requires_grad_(True), eps, b)))

    def backward_args(b, bk, eps):
        outs = torch.ops.fastgen.composite_forward(t0, t1, s, c, info, bk, eps, b)
        grads = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype).to(device) for o in outs]
        return (t0, t1, s, c, info, bk, eps, *outs, *grads, b)
    for bk in (None, bkgd):
        cases.append(("composite_backward", lambda b, bk=bk: backward_args(b, bk, 0.1)))
    return cases


def weighted_segment_cases(info, n, gen, dtype, device):
    """weighted_segment_sum / _broadcast with and without values (C = 3), on the packed layout
    (empty rays included) and on a batched one (4 rays of 5 samples, as _batched_segments)."""
    def randn(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype).to(device)

    batched = torch.stack([torch.arange(4) * 5, torch.full((4,), 5)], 1).to(device)
    cases = []
    for rows, n_samples in ((info, n), (batched, 20)):
        r = rows.shape[0]
        w, v = uniform(n_samples, gen, 0.0, 1.0, dtype).to(device), randn(n_samples, 3)
        for vals in (None, v):
            cases.append(("weighted_segment_sum", lambda b, w=w, vals=vals, rows=rows, r=r: (
                w.clone().requires_grad_(True), None if vals is None else vals.clone().requires_grad_(True),
                rows, r, b)))
            g = randn(r, 1 if vals is None else 3)
            for values_grad in ((True,) if vals is None else (True, False)):
                cases.append(("weighted_segment_broadcast", lambda b, w=w, vals=vals, rows=rows, g=g, vg=values_grad:
                              (g, w, vals, rows, vg, b)))
    return cases


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_every_custom_op(kernel_backend, device, gen, dtype):
    """torch.library.opcheck (schema, fake tensor, autograd registration, AOT dispatch) on each op."""
    seen = set()
    for name, make_args in opcheck_cases(device, gen, dtype):
        seen.add(name)
        args = make_args(kernel_backend)
        torch.library.opcheck(getattr(torch.ops.fastgen, name).default, args)
    assert seen == set(CUSTOM_OPS)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_opcheck_composite_half(kernel_backend, device, gen, dtype):
    """composite's kernels take float16/bfloat16 inputs: float32 outputs, gradients in the input dtype."""
    info, _, n = layout(COUNTS, device)
    t0, t1, s, c = (v.to(device) for v in samples(n, gen, dtype=dtype))
    bkgd = uniform((len(COUNTS), 3), gen).to(device)
    args = (t0, t1, s.clone().requires_grad_(True), c.clone().requires_grad_(True), info, bkgd, 0.1, kernel_backend)
    torch.library.opcheck(torch.ops.fastgen.composite_forward.default, args)
    outs = [o.detach() for o in torch.ops.fastgen.composite_forward(*args)]
    assert all(o.dtype == torch.float32 for o in outs)
    grads = [torch.ones_like(o) for o in outs]
    bwd = (t0, t1, s, c, info, bkgd, 0.1, *outs, *grads, kernel_backend)
    torch.library.opcheck(torch.ops.fastgen.composite_backward.default, bwd)
    grad_sigmas, grad_rgbs = torch.ops.fastgen.composite_backward(*bwd)
    assert grad_sigmas.dtype == grad_rgbs.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_opcheck_weighted_segment_half(kernel_backend, device, gen, dtype):
    """The weighted segment sum takes float16/bfloat16 (accumulated in float32): outputs and
    gradients in the input dtype."""
    info, _, n = layout(COUNTS, device)
    for name, make_args in weighted_segment_cases(info, n, gen, dtype, device):
        args = make_args(kernel_backend)
        torch.library.opcheck(getattr(torch.ops.fastgen, name).default, args)
        outs = getattr(torch.ops.fastgen, name)(*args)
        assert all(o.dtype == dtype for o in (outs if isinstance(outs, tuple) else (outs,)))


def test_opcheck_empty(kernel_backend, device):
    """0 samples and empty rays through the fake and real kernels alike."""
    info = torch.zeros(3, 2, dtype=torch.long, device=device)
    x = torch.zeros(0, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.fastgen.segmented_scan.default, (x, info, "sum", True, False, kernel_backend))
    torch.library.opcheck(torch.ops.fastgen.segment_sum.default,
                          (torch.zeros(0, 3, device=device, requires_grad=True), info, 3, kernel_backend))
    for vals in (None, torch.zeros(0, 3, device=device, requires_grad=True)):
        torch.library.opcheck(torch.ops.fastgen.weighted_segment_sum.default,
                              (torch.zeros(0, device=device, requires_grad=True), vals, info, 3, kernel_backend))
    e = torch.zeros(0, device=device)
    torch.library.opcheck(torch.ops.fastgen.composite_forward.default,
                          (e, e, e.clone().requires_grad_(True), torch.zeros(0, 3, device=device), info, None, 0.0,
                           kernel_backend))


# ---------------------------------------------------------------------------- torch.compile
@pytest.mark.slow
def test_compile_composite_fullgraph(backend, device, gen):
    """composite forward + backward under torch.compile(fullgraph=True) equals eager."""
    torch._dynamo.reset()
    _, ray_indices, n = layout(COUNTS, device)
    t0, t1, s, c = (v.to(device) for v in samples(n, gen))
    bkgd = uniform(3, gen).to(device)

    def fn(t0, t1, s, c, bkgd):
        rgb, opacity, depth = fastgen.composite(t0, t1, s, c, ray_indices=ray_indices, n_rays=len(COUNTS),
                                                render_bkgd=bkgd, early_stop_eps=1e-3, backend=backend)
        return rgb, opacity, depth

    compiled = torch.compile(fn, fullgraph=True)
    mask = [False, False, True, True, True]
    outs, grads, coeffs = fwd_bwd(fn, [t0, t1, s, c, bkgd], mask, gen=gen)
    c_outs, c_grads, _ = fwd_bwd(compiled, [t0, t1, s, c, bkgd], mask, coeffs=coeffs)
    for o, e in zip(c_outs, outs):
        assert_close_rel(o, e, torch.float32, "compiled output")
    for g, e in zip(c_grads, grads):
        if e is not None:
            assert_close_rel(g, e, torch.float32, "compiled grad")


@pytest.mark.slow
def test_compile_scan_fullgraph(backend, device, gen):
    """A packed scan (forward + backward) under torch.compile(fullgraph=True) equals eager."""
    torch._dynamo.reset()
    _, ray_indices, n = layout(COUNTS, device)
    x = uniform(n, gen, 0.5, 1.5).to(device)

    def fn(x):
        return fastgen.exclusive_sum(x, indices=ray_indices, backend=backend)

    compiled = torch.compile(fn, fullgraph=True)
    outs, grads, coeffs = fwd_bwd(fn, [x], [True], gen=gen)
    c_outs, c_grads, _ = fwd_bwd(compiled, [x], [True], coeffs=coeffs)
    assert_close_rel(c_outs[0], outs[0], torch.float32, "compiled output")
    assert_close_rel(c_grads[0], grads[0], torch.float32, "compiled grad")

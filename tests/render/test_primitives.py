"""The kernel primitives behind ``torch.ops.fastgen`` (spec: kernels clamp every ray to the sample
range and write 0 to uncovered samples), called directly with packed_info rows that the public
API would reject: out-of-range and negative starts/counts must give the clamped result, never an
out-of-bounds access."""
from __future__ import annotations

import pytest
import torch

from fastgen.ops.render import _library as L
from fastgen.ops.render import reference
from tests.conftest import assert_close_rel
from tests.render._helpers import samples, uniform

N = 12
# (start, count) rows: before the range, inside, past the end, starting at N, negative count,
# an empty ray; clamped to [s, e) = [0,2), [4,6), [8,12), [12,12), [6,6), [3,3).
BAD_ROWS = [[-3, 5], [4, 2], [8, 100], [12, 3], [6, -2], [3, 0]]


def clamped(rows, n):
    out = []
    for start, count in rows:
        s = min(max(start, 0), n)
        e = min(max(start + max(count, 0), s), n)
        out.append((s, e))
    return out


def as_packed_info(spans):
    return torch.tensor([[s, e - s] for s, e in spans], dtype=torch.long)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("op, exclusive, reverse", [("sum", False, False), ("sum", True, False),
                                                    ("sum", False, True), ("sum", True, True),
                                                    ("prod", False, False), ("prod", True, False)])
def test_segmented_scan_clamps_rays(op, exclusive, reverse, kernel_backend, device, gen):
    x = uniform(N, gen, 0.5, 1.5, torch.float64)
    info = torch.tensor(BAD_ROWS, device=device)
    y = L.segmented_scan(x.to(device), info, op, exclusive, reverse, kernel_backend)
    sync(device)
    expected = torch.zeros(N, dtype=torch.float64)
    for s, e in clamped(BAD_ROWS, N):
        seg = x[s:e].flip(0) if reverse else x[s:e]
        cum = torch.cumsum(seg, 0) if op == "sum" else torch.cumprod(seg, 0)
        if exclusive:
            cum = torch.cat([torch.full((min(1, e - s),), 0.0 if op == "sum" else 1.0, dtype=torch.float64),
                             cum[:-1]])
        expected[s:e] = cum.flip(0) if reverse else cum
    assert_close_rel(y, expected, torch.float64)
    assert bool((y.cpu()[[2, 3, 6, 7]] == 0).all()), "samples covered by no ray must be 0"


@pytest.mark.parametrize("exclusive", [False, True])
def test_prod_scan_backward_clamps_rays(exclusive, kernel_backend, device, gen):
    x = uniform(N, gen, 0.5, 1.5, torch.float64)
    x[[1, 9]] = 0.0
    g = torch.randn(N, generator=gen, dtype=torch.float64)
    got = L.prod_scan_backward(x.to(device), g.to(device), torch.tensor(BAD_ROWS, device=device), exclusive,
                               kernel_backend)
    sync(device)
    xr = x.clone().requires_grad_(True)
    y = reference.exclusive_prod(xr, as_packed_info(clamped(BAD_ROWS, N))) if exclusive else \
        reference.inclusive_prod(xr, as_packed_info(clamped(BAD_ROWS, N)))
    (expected,) = torch.autograd.grad((y * g).sum(), xr)
    assert_close_rel(got, expected, torch.float64)


def test_segment_sum_and_broadcast_clamp_rays(kernel_backend, device, gen):
    rows = BAD_ROWS + [[0, 12], [5, 4]]  # overlapping reads are fine for a sum
    values = torch.randn((N, 3), generator=gen, dtype=torch.float64)
    out = L.segment_sum(values.to(device), torch.tensor(rows, device=device), len(rows), kernel_backend)
    sync(device)
    expected = torch.stack([values[s:e].sum(0) for s, e in clamped(rows, N)])
    assert_close_rel(out, expected, torch.float64)

    grad = torch.randn((len(BAD_ROWS), 2), generator=gen, dtype=torch.float64)
    b = L.segment_broadcast(grad.to(device), torch.tensor(BAD_ROWS, device=device), N, kernel_backend)
    sync(device)
    expected = torch.zeros(N, 2, dtype=torch.float64)
    for r, (s, e) in enumerate(clamped(BAD_ROWS, N)):
        expected[s:e] = grad[r]
    assert_close_rel(b, expected, torch.float64)


@pytest.mark.parametrize("channels", [None, 1, 3, 6], ids=["no_values", "C1", "C3", "C6"])
def test_weighted_segment_sum_and_broadcast_clamp_rays(channels, kernel_backend, device, gen):
    rows = BAD_ROWS + [[0, 12], [5, 4]]  # overlapping reads are fine for a sum
    w = uniform(N, gen, 0.0, 1.0, torch.float64)
    v = None if channels is None else torch.randn((N, channels), generator=gen, dtype=torch.float64)
    dev = (lambda t: None if t is None else t.to(device))  # noqa: E731
    out = L.weighted_segment_sum(w.to(device), dev(v), torch.tensor(rows, device=device), len(rows), kernel_backend)
    sync(device)
    wv = w[:, None] if v is None else w[:, None] * v
    expected = torch.stack([wv[s:e].sum(0) for s, e in clamped(rows, N)])
    assert_close_rel(out, expected, torch.float64)

    c = channels or 1
    grad = torch.randn((len(BAD_ROWS), c), generator=gen, dtype=torch.float64)
    for values_grad in (True, False):
        gw, gv = L.weighted_segment_broadcast(grad.to(device), w.to(device), dev(v),
                                              torch.tensor(BAD_ROWS, device=device), values_grad, kernel_backend)
        sync(device)
        exp_w, exp_v = torch.zeros(N, dtype=torch.float64), torch.zeros(N, c, dtype=torch.float64)
        for r, (s, e) in enumerate(clamped(BAD_ROWS, N)):
            exp_w[s:e] = grad[r, 0] if v is None else v[s:e] @ grad[r]
            exp_v[s:e] = w[s:e, None] * grad[r]
        assert_close_rel(gw, exp_w, torch.float64, "grad_weights")
        assert bool((gw.cpu()[[2, 3, 6, 7]] == 0).all()), "samples covered by no ray must be 0"
        if v is None or not values_grad:
            assert gv.shape == (0,)
        else:
            assert_close_rel(gv, exp_v, torch.float64, "grad_values")
            assert bool((gv.cpu()[[2, 3, 6, 7]] == 0).all()), "samples covered by no ray must be 0"


@pytest.mark.parametrize("rows", [[[0, 3], [3, 9]], [[0, 3], [4, 8]], [[0, 3], [3, 8]], [[0, 4], [3, 9]],
                                  [[1, 11]]], ids=["tiling", "gap", "short_end", "overlap", "late_start"])
def test_weighted_segment_broadcast_near_tilings(rows, kernel_backend, device, gen):
    """Packings that almost tile the samples (where the cpu backend decides whether to zero fill):
    uncovered samples are 0, and (repeated, so that reused memory would show) never garbage."""
    w = uniform(N, gen, 0.0, 1.0, torch.float64)
    v = torch.randn((N, 3), generator=gen, dtype=torch.float64)
    grad = torch.randn((len(rows), 3), generator=gen, dtype=torch.float64)
    exp_w, exp_v = torch.zeros(N, dtype=torch.float64), torch.zeros(N, 3, dtype=torch.float64)
    for r, (s, e) in enumerate(clamped(rows, N)):  # overlapping rays: the later one wins
        exp_w[s:e] = v[s:e] @ grad[r]
        exp_v[s:e] = w[s:e, None] * grad[r]
    if rows == [[0, 4], [3, 9]]:  # sample 3 is written by both rays (in either order): skip it
        keep = torch.arange(N) != 3
    else:
        keep = torch.ones(N, dtype=torch.bool)
    for _ in range(3):
        junk = torch.full((N, 3), float("nan"), dtype=torch.float64, device=device)  # free NaN-filled memory
        del junk
        gw, gv = L.weighted_segment_broadcast(grad.to(device), w.to(device), v.to(device),
                                              torch.tensor(rows, device=device), True, kernel_backend)
        sync(device)
        assert_close_rel(gw.cpu()[keep], exp_w[keep], torch.float64, "grad_weights")
        assert_close_rel(gv.cpu()[keep], exp_v[keep], torch.float64, "grad_values")


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_composite_clamps_rays(eps, kernel_backend, device, gen):
    t0, t1, s, c = samples(N, gen, sigma_hi=8.0, dtype=torch.float64)
    bkgd = uniform((len(BAD_ROWS), 3), gen, dtype=torch.float64)
    sl, cl = s.clone().to(device).requires_grad_(True), c.clone().to(device).requires_grad_(True)
    outs = L.composite_forward(t0.to(device), t1.to(device), sl, cl, torch.tensor(BAD_ROWS, device=device),
                               bkgd.to(device), eps, kernel_backend)
    coeffs = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outs]
    grads = torch.autograd.grad(sum((o * k.to(device)).sum() for o, k in zip(outs, coeffs)), (sl, cl))
    sync(device)

    sr, cr = s.clone().requires_grad_(True), c.clone().requires_grad_(True)
    ref = reference.composite(t0, t1, sr, cr, packed_info=as_packed_info(clamped(BAD_ROWS, N)), render_bkgd=bkgd,
                              early_stop_eps=eps)
    ref = (ref[0], ref[1][:, 0], ref[2][:, 0])
    ref_grads = torch.autograd.grad(sum((o * k).sum() for o, k in zip(ref, coeffs)), (sr, cr))
    for o, r in zip(outs, ref):
        assert_close_rel(o, r, torch.float64, "composite output")
    for g, r in zip(grads, ref_grads):
        assert_close_rel(g, r, torch.float64, "composite grad")

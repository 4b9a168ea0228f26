"""The sample family as PyTorch citizens: torch.library.opcheck on every ``torch.ops.fastgen`` op of
each kernel backend, and a torch.compile(fullgraph=True) smoke test (slow: marked)."""
from __future__ import annotations

import pytest
import torch

from fastgen.nerf import distortion, merge_sorted, sample_pdf
from fastgen.ops.sample import _library  # noqa: F401  (registers torch.ops.fastgen.*)
from tests.sample._helpers import packed_sorted, packing, sorted_rows

CUSTOM_OPS = ("sample_pdf_forward", "sample_pdf_backward", "searchsorted_packed", "inverse_cdf", "merge_sorted",
              "merge_sorted_backward", "distortion_forward", "distortion_backward")


def test_every_custom_op_is_registered():
    for name in CUSTOM_OPS:
        assert hasattr(torch.ops.fastgen, name), f"torch.ops.fastgen.{name} is not registered"


def cases(device, gen):
    bins = sorted_rows((3, 6), gen, dtype=torch.float64).to(device)
    w = torch.rand((3, 5), generator=gen, dtype=torch.float64).to(device)
    u = sorted_rows((3, 7), gen, dtype=torch.float64).to(device)
    g = torch.randn((3, 7), generator=gen, dtype=torch.float64).to(device)
    seq, seq_info, _ = packed_sorted([3, 0, 4], gen, torch.float64)
    vals, _, val_rays = packed_sorted([2, 2, 1], gen, torch.float64)
    info, _, n = packing([2, 0, 5])
    dw = torch.rand(n, generator=gen, dtype=torch.float64).to(device)
    t0 = torch.linspace(0, 1, n, dtype=torch.float64).to(device)
    seq, seq_info, vals, val_rays, info = (x.to(device) for x in (seq, seq_info, vals, val_rays, info))
    no_record = (torch.empty(0, dtype=torch.int32, device=device), u.new_empty((0,)))
    record = lambda b: torch.ops.fastgen.sample_pdf_forward(bins, w, u, 1e-5, False, True, b)[1:]  # noqa: E731
    return [
        ("sample_pdf_forward", lambda b: (bins.clone().requires_grad_(True), w, u, 1e-5, True, True, b)),
        ("sample_pdf_forward", lambda b: (bins.clone().requires_grad_(True), w, u[:1].clone(), 1e-5, False, False,
                                          b)),
        ("sample_pdf_backward", lambda b: (bins, w, u, g, *record(b), 1e-5, b)),
        ("sample_pdf_backward", lambda b: (bins, w, u[:1].clone(), g, *no_record, 1e-5, b)),
        ("searchsorted_packed", lambda b: (seq, seq_info, vals, val_rays, b)),
        ("inverse_cdf", lambda b: (seq, seq, seq_info, torch.rand(5, dtype=torch.float64).to(device),
                                   val_rays, True, b)),
        ("inverse_cdf", lambda b: (seq, seq, seq_info, torch.rand(5, dtype=torch.float64).to(device),
                                   val_rays, False, b)),
        ("merge_sorted", lambda b: (seq.clone().requires_grad_(True), vals.clone().requires_grad_(True), seq_info,
                                    torch.tensor([[0, 2], [2, 2], [4, 1]], device=device), True, b)),
        ("merge_sorted", lambda b: (u.clone().requires_grad_(True), bins.clone().requires_grad_(True), None, None,
                                    False, b)),
        ("merge_sorted_backward", lambda b: (torch.tensor([[0, 2, 1], [1, 0, 2]], device=device),
                                             torch.rand(2, 3, dtype=torch.float64).to(device), None, None, 2, 1,
                                             b)),
        ("merge_sorted_backward", lambda b: (torch.tensor([2, 0, 1], device=device),
                                             torch.rand(3, dtype=torch.float64).to(device),
                                             torch.tensor([[0, 1], [1, 1]], device=device),
                                             torch.tensor([[0, 1], [1, 0]], device=device), 2, 1, b)),
        ("distortion_forward", lambda b: (dw.clone().requires_grad_(True), t0.clone().requires_grad_(True),
                                          (t0 + 0.1).requires_grad_(True), info, False, b)),
        ("distortion_backward", lambda b: (dw, t0, t0 + 0.1, info, torch.rand(3, dtype=torch.float64).to(device),
                                           False, b)),
    ]


def test_opcheck(kernel_backend, device, gen):
    for name, make in cases(device, gen):
        torch.library.opcheck(getattr(torch.ops.fastgen, name), make(kernel_backend))


@pytest.mark.slow
def test_compile_fullgraph(kernel_backend, device, gen):
    bins = sorted_rows((4, 9), gen).to(device)
    w = torch.rand((4, 8), generator=gen).to(device)

    def fn(bins, w):
        fine = sample_pdf(bins, w, 16, det=True, backend=kernel_backend)
        vals, _ = merge_sorted(bins, fine, backend=kernel_backend)
        return distortion(w, bins[:, :-1], bins[:, 1:], backend=kernel_backend), vals

    torch._dynamo.reset()
    out = torch.compile(fn, fullgraph=True)(bins, w)
    exp = fn(bins, w)
    assert torch.allclose(out[0], exp[0]) and torch.allclose(out[1], exp[1])  # inductor's linspace may differ by an ulp

"""fastgen.compat.stylegan's conv2d_gradfix, grid_sample_gradfix and fma: torch's results, every
derivative order, and no_weight_gradients() really skipping the weight gradient."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fastgen.compat.stylegan import conv2d_gradfix, fma, grid_sample_gradfix
from tests.conftest import assert_close_rel

F64 = torch.float64


@pytest.fixture
def gradfix_enabled(monkeypatch):
    monkeypatch.setattr(conv2d_gradfix, "enabled", True)


CASES = [  # (transpose, x shape, w shape, kwargs)
    (False, (2, 4, 7, 6), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2)),
    (False, (1, 3, 5, 5), (2, 3, 1, 3), dict(padding=(0, 1), dilation=2)),
    (True, (2, 4, 5, 4), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    (True, (1, 4, 4, 3), (4, 1, 4, 4), dict(stride=2, groups=2)),
]


def _call(transpose, x, w, b, kwargs, torch_op=False):
    if transpose:
        return (F.conv_transpose2d if torch_op else conv2d_gradfix.conv_transpose2d)(x, w, b, **kwargs)
    return (F.conv2d if torch_op else conv2d_gradfix.conv2d)(x, w, b, **kwargs)


def _inputs(gen, xs, ws, transpose, groups):
    x = torch.randn(xs, generator=gen, dtype=F64, requires_grad=True)
    w = torch.randn(ws, generator=gen, dtype=F64, requires_grad=True)
    n_out = ws[1] * groups if transpose else ws[0]
    b = torch.randn(n_out, generator=gen, dtype=F64, requires_grad=True)
    return x, w, b


def _derivatives(transpose, x, w, b, kwargs, torch_op):
    """Output, first derivatives and second derivatives (of a random function of the first ones)."""
    y = _call(transpose, x, w, b, kwargs, torch_op)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    first = torch.autograd.grad((y * g).sum(), [x, w, b], create_graph=True)
    v = [torch.randn(t.shape, generator=torch.Generator().manual_seed(2 + i), dtype=F64) for i, t in enumerate(first)]
    second = torch.autograd.grad(sum((t * u).sum() for t, u in zip(first, v)), [x, w, b], allow_unused=True)
    return [y, *first, *second]


@pytest.mark.parametrize("transpose, xs, ws, kwargs", CASES)
def test_conv_equals_torch_to_second_order(gradfix_enabled, gen, transpose, xs, ws, kwargs):
    x, w, b = _inputs(gen, xs, ws, transpose, kwargs.get("groups", 1))
    ours = _derivatives(transpose, x, w, b, kwargs, torch_op=False)
    theirs = _derivatives(transpose, x, w, b, kwargs, torch_op=True)
    for i, (a, e) in enumerate(zip(ours, theirs)):
        assert (a is None) == (e is None), i
        if e is not None:
            assert_close_rel(a, e, F64, f"derivative {i}")


@pytest.mark.parametrize("transpose", [True])  # conv2d: covered by the comparison above
def test_conv_gradgradcheck(gradfix_enabled, gen, transpose):
    kwargs = dict(stride=2, padding=1, groups=2) | (dict(output_padding=1) if transpose else {})
    x, w, b = _inputs(gen, (1, 2, 3, 3), (2, 1, 2, 2), transpose, 2)
    assert torch.autograd.gradgradcheck(lambda *a: _call(transpose, *a, kwargs), (x, w, b))


@pytest.mark.parametrize("transpose, xs, ws, kwargs", CASES[:1] + CASES[2:3])
def test_no_weight_gradients_suppresses(gradfix_enabled, gen, monkeypatch, transpose, xs, ws, kwargs):
    x, w, b = _inputs(gen, xs, ws, transpose, kwargs.get("groups", 1))
    calls = []
    weight_grad = torch.nn.grad.conv2d_weight
    monkeypatch.setattr(torch.nn.grad, "conv2d_weight", lambda *a, **k: calls.append(1) or weight_grad(*a, **k))
    with conv2d_gradfix.no_weight_gradients():
        assert conv2d_gradfix.weight_gradients_disabled
        _call(transpose, x, w, b, kwargs).square().sum().backward()
    assert not conv2d_gradfix.weight_gradients_disabled
    assert w.grad is None and x.grad is not None and b.grad is not None and calls == []  # not even computed
    with conv2d_gradfix.no_weight_gradients(disable=False):
        gx, gw = torch.autograd.grad(_call(transpose, x, w, b, kwargs).sum(), [x, w])
    assert gw is not None and len(calls) == 1


@pytest.mark.parametrize("transpose, xs, ws, kwargs", CASES[:1] + CASES[2:3])
def test_path_length_pattern_reaches_the_weight(gradfix_enabled, gen, transpose, xs, ws, kwargs):
    """StyleGAN's pl regulariser: input gradient inside no_weight_gradients (create_graph), its
    loss backward outside: the weight gets the same gradient as with torch's own convolution."""
    grads = []
    for use_torch in (False, True):
        x, w, b = _inputs(torch.Generator().manual_seed(3), xs, ws, transpose, kwargs.get("groups", 1))
        y = _call(transpose, x, w, b, kwargs, torch_op=use_torch)
        noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=F64)
        with conv2d_gradfix.no_weight_gradients():
            (gx,) = torch.autograd.grad((y * noise).sum(), [x], create_graph=True)
        gx.square().sum().backward()
        grads.append((w.grad, b.grad))
    assert_close_rel(grads[0][0], grads[1][0], F64, "weight grad")
    assert grads[1][1] is None and grads[0][1] is None  # the bias does not reach the input gradient


def test_disabled_is_torch(gen):
    assert not conv2d_gradfix.enabled
    x, w, b = _inputs(gen, (1, 2, 5, 5), (3, 2, 3, 3), False, 1)
    with conv2d_gradfix.no_weight_gradients():  # StyleGAN's fallback: torch's op, flag ignored
        conv2d_gradfix.conv2d(x, w, b, padding=1).sum().backward()
    assert w.grad is not None


def test_grid_sample_twice_differentiable(gen):
    x = torch.randn(1, 2, 3, 4, generator=gen, dtype=F64, requires_grad=True)
    grid = (torch.rand(1, 2, 3, 2, generator=gen, dtype=F64) * 2.2 - 1.1).requires_grad_()
    want = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    for enabled in (False, True):
        grid_sample_gradfix.enabled = enabled
        try:
            assert torch.equal(grid_sample_gradfix.grid_sample(x, grid), want)
            assert torch.autograd.gradgradcheck(grid_sample_gradfix.grid_sample, (x, grid))
        finally:
            grid_sample_gradfix.enabled = False


def test_fma_broadcasts_and_differentiates(gen):
    a = torch.randn(2, 1, 3, generator=gen, dtype=F64, requires_grad=True)
    b = torch.randn(2, 1, generator=gen, dtype=F64, requires_grad=True)
    c = torch.randn(3, generator=gen, dtype=F64, requires_grad=True)
    assert_close_rel(fma.fma(a, b, c), a * b + c, F64, "fma")
    assert torch.autograd.gradgradcheck(fma.fma, (a, b, c))

"""The fuzz harness: input strategies (values with NaN/inf, layouts, packings) and the property
every op must satisfy (a documented error naming the argument, or the reference's result)."""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Callable

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import TOL, rel_err, skip_unless_available

FUZZ_BACKENDS = ("reference", "cpu", "triton")
FLOAT_DTYPES = (torch.float32, torch.float64)
WRONG_DTYPES = (torch.int32, torch.int64, torch.bool, torch.complex64)
SPECIALS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e4, 1e-20)
LAYOUTS = ("contiguous", "contiguous", "strided", "expanded")
STATS = collections.Counter()  # (op, "valid" / "invalid" / "maybe") -> examples run, see conftest


def run(backend: str, strategy, prop: Callable) -> None:
    """Check ``prop(case)`` on examples of ``strategy`` with ``backend``; the interpreted Triton
    backend gets a sixth of the profile's examples (it is ~100x slower)."""
    skip_unless_available(backend)
    n = settings.default.max_examples
    n = max(2, n // 6) if backend == "triton" else n

    @settings(max_examples=n)
    @given(case=strategy)
    def check(case):
        prop(case)

    check()


# ---------------------------------------------------------------------------- values
@st.composite
def values(draw, shape, lo=-1.0, hi=1.0, dtype=torch.float64, specials=True):
    """A float64-generated tensor of ``shape`` in [lo, hi), maybe with a few special values."""
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    t = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)
    if specials and t.numel() and draw(st.integers(0, 3)) == 0:
        flat = t.view(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, t.numel() - 1))] = draw(st.sampled_from(SPECIALS))
    return t.to(dtype)


def with_layout(t: torch.Tensor, kind: str) -> torch.Tensor:
    """``t`` as a non-contiguous view (every stride doubled) or an expanded one (stride 0 along
    dim 0, the values of row 0), or unchanged."""
    if kind == "strided" and t.dim():
        buf = t.new_zeros(*t.shape, 2)
        buf[..., 0] = t
        return buf[..., 0]
    if kind == "expanded" and t.dim() and t.shape[0] > 1:
        return t[:1].expand(t.shape)
    return t


@st.composite
def layouts(draw, t):
    return with_layout(t, draw(st.sampled_from(LAYOUTS)))


def is_finite(*tensors) -> bool:
    return all(t is None or not t.is_floating_point() or bool(torch.isfinite(t).all()) for t in tensors)


# ---------------------------------------------------------------------------- packings
# Kinds of packed_info: which of them an op accepts is the op's rule (render accepts any rows
# that do not overlap inside the samples; sample ops want rays in order, back to back).
PACKED_KINDS = ("tiling", "tiling", "gaps", "shuffled", "int32", "overlap", "overrun", "negative", "huge",
                "float", "wide")


@dataclasses.dataclass
class Packing:
    kind: str
    n_samples: int
    info: torch.Tensor      # (n_rays, 2) as given to the op (maybe invalid)
    counts: list            # per-ray counts


@st.composite
def packings(draw, max_rays=6, max_count=9, kinds=PACKED_KINDS):
    """A packed_info of ``kind`` (see PACKED_KINDS); sometimes many rays or one long ray."""
    size = draw(st.sampled_from(("small", "small", "small", "many", "long")))
    if size == "many":
        counts = [draw(st.integers(0, 2))] * draw(st.integers(100, 1500))
    elif size == "long":
        counts = draw(st.lists(st.integers(0, 3), max_size=2)) + [draw(st.integers(33, 300))]
    else:
        counts = draw(st.lists(st.integers(0, max_count), max_size=max_rays))
    kind = draw(st.sampled_from(kinds))
    c = torch.tensor(counts, dtype=torch.long)
    gaps = torch.tensor([draw(st.integers(0, 2)) for _ in counts], dtype=torch.long) if kind == "gaps" \
        else torch.zeros_like(c)
    starts = torch.cumsum(c + gaps, 0) - c
    n = int((c + gaps).sum()) + (draw(st.integers(0, 2)) if kind == "gaps" else 0)
    info = torch.stack([starts, c], 1) if counts else torch.zeros((0, 2), dtype=torch.long)
    if kind == "shuffled" and len(counts) > 1:
        info = info[torch.randperm(len(counts), generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))]
    elif kind == "int32":
        info = info.int()
    elif kind == "overlap":
        if n >= 2 and sum(1 for k in counts if k) >= 1:
            info = torch.cat([info, torch.tensor([[0, n]])])  # covers every other ray's samples
        else:
            kind = "tiling"
    elif kind == "overrun":
        info = torch.cat([info, torch.tensor([[n - 1 if n else 0, 2]])])
    elif kind == "negative":
        info = torch.cat([info, torch.tensor([[-1, 1]])])
    elif kind == "huge":
        info = torch.cat([info, torch.tensor([draw(st.sampled_from(([2**62, 2**62], [2**63 - 1, 1],
                                                                      [1, 2**63 - 1])))])])
    elif kind == "float":
        info = info.double()
    elif kind == "wide":
        info = torch.cat([info, info[:, :1]], 1)
    return Packing(kind, n, info, counts)


INVALID_PACKINGS = ("overlap", "overrun", "negative", "huge", "float", "wide")


def rays_of(p: Packing) -> torch.Tensor:
    """Sorted ray index of every sample of a tiling packing."""
    return torch.repeat_interleave(torch.arange(len(p.counts)), torch.tensor(p.counts, dtype=torch.long))


@st.composite
def ray_index_cases(draw, max_rays=6, max_count=9):
    """(ray_indices, n_rays, kind): sorted in-range indices ("ok", "int32"), or "unsorted",
    "too_big" (= n_rays), "negative", "float" or "2d" ones ("ok" where nothing could be spoiled)."""
    p = draw(packings(max_rays, max_count, kinds=("tiling",)))
    idx, n_rays = rays_of(p), len(p.counts)
    kind = draw(st.sampled_from(("ok", "ok", "ok", "int32", "unsorted", "too_big", "negative", "float", "2d")))
    if kind == "int32":
        idx = idx.int()
    elif kind == "unsorted" and idx.numel() > 1 and bool((idx[1:] != idx[:-1]).any()):
        idx = idx.flip(0)
    elif kind == "too_big" and idx.numel():
        idx = idx.clone()
        idx[-1] = n_rays
    elif kind == "negative" and idx.numel():
        idx = idx.clone()
        idx[0] = -1
    elif kind == "float":
        idx = idx.double()
    elif kind == "2d":
        idx = idx[:, None]
    elif kind != "int32":
        kind = "ok"
    return idx, n_rays, kind


# ---------------------------------------------------------------------------- the property
def expect_error(op: str, fn: Callable, names) -> None:
    """``fn()`` raises ValueError/TypeError from ``op`` whose message names one of ``names``."""
    try:
        out = fn()
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert msg.startswith(f"{op}:"), f"error not prefixed with the op name: {msg}"
        names = (names,) if isinstance(names, str) else names
        assert any(n in msg for n in names), f"error names none of {names}: {msg}"
        return
    raise AssertionError(f"{op}: invalid input ({names}) was accepted, returned {summary(out)}")


def tensors_of(out) -> list:
    """The tensors of an op's output (tensors, tuples, RayIntervals/RaySamples), in order."""
    if out is None:
        return []
    if isinstance(out, torch.Tensor):
        return [out]
    if dataclasses.is_dataclass(out):
        return [t for f in dataclasses.fields(out) for t in tensors_of(getattr(out, f.name))]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in tensors_of(out[k])]
    return [t for o in out for t in tensors_of(o)]


def summary(out) -> str:
    return ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in tensors_of(out))


def to64(x):
    """Float tensors as float64 (the reference's precision), the rest unchanged."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().double()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(x, **{f.name: to64(getattr(x, f.name)) for f in dataclasses.fields(x)})
    return x


def assert_same(got, expected, dtype, what, factor=1.0, floor=0.0, nonfinite="exact") -> None:
    """Same shapes; integer/bool outputs equal; float outputs NaN and +-inf where the reference
    has them and within TOL[dtype] * factor elsewhere (relative norm error; with ``floor``, the
    norm is taken as at least floor * sqrt(numel), for gradients that cancel to ~0).
    With ``nonfinite="subset"`` (ops whose fast paths reorder the arithmetic, e.g. a 1x1 conv before
    the zero-insertion of an upsampling, so a NaN weight never meets the inserted zeros) a backend
    may be finite where the reference is not, but never non-finite where the reference is finite;
    values are compared where both are finite."""
    got, expected = tensors_of(got), tensors_of(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} outputs, the reference has {len(expected)}"
    for k, (a, e) in enumerate(zip(got, expected)):
        label = f"{what} output {k}"
        assert tuple(a.shape) == tuple(e.shape), f"{label}: shape {tuple(a.shape)} != {tuple(e.shape)}"
        a, e = a.detach().cpu(), e.detach().cpu()
        if not e.is_floating_point():
            assert torch.equal(a.to(e.dtype), e), f"{label}: differs from the reference ({a} vs {e})"
            continue
        a, e = a.double(), e.double()
        for name, mask in (("NaN", torch.isnan), ("+inf", lambda t: t == math.inf),
                           ("-inf", lambda t: t == -math.inf)):
            ma, me = mask(a), mask(e)
            if nonfinite == "subset":
                extra = ma & ~me & torch.isfinite(e)
                assert not extra.any(), f"{label}: {name} at {int(extra.sum())} positions where the reference is finite"
            else:
                assert torch.equal(ma, me), f"{label}: {name} at {int((ma ^ me).sum())} positions differ from the reference"
        fin = torch.isfinite(e) & torch.isfinite(a)
        diff, norm = float((a[fin] - e[fin]).norm()), float(e[fin].norm())
        err = diff / max(norm, floor * math.sqrt(max(int(fin.sum()), 1)), 1e-30) if floor else rel_err(a[fin], e[fin])
        assert err <= TOL[dtype] * factor, f"{label}: relative error {err:.3e} > {TOL[dtype] * factor:.1e}"


def grads(out, inputs: dict, seed: int = 0):
    """Gradients of sum(out_k * c_k) (fixed random c_k) w.r.t. the inputs that require grad."""
    outs = [o for o in tensors_of(out) if o.requires_grad]
    leaves = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor) and v.requires_grad}
    if not outs or not leaves:
        return {}
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype)).sum() for o in outs)
    got = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return {k: (torch.zeros_like(v) if d is None else d) for (k, v), d in zip(leaves.items(), got)}


def check_against_reference(op: str, call: Callable, backend: str, inputs: dict, dtype,
                            grad: tuple = (), factor: float = 1.0, grad_factor: float = 100.0,
                            keep: tuple = (), nonfinite: str = "exact") -> None:
    """``call(backend, **inputs)`` returns what ``call("reference", **inputs in float64)`` returns
    (the inputs named in ``keep`` keep their dtype); with ``grad`` (input names) and finite
    inputs, also the gradients w.r.t. those inputs."""
    want_grad = bool(grad) and is_finite(*[v for v in inputs.values() if isinstance(v, torch.Tensor)])

    def prepared(d, cast):
        d = {k: (to64(v) if cast and k not in keep else v) for k, v in d.items()}
        for k in grad if want_grad else ():
            if isinstance(d.get(k), torch.Tensor) and d[k].is_floating_point():
                d[k] = d[k].detach().clone().requires_grad_(True)
        return d

    mine, ref = prepared(inputs, False), prepared(inputs, True)
    got = call(backend, **mine)
    expected = call("reference", **ref)
    int_outputs = any(not t.is_floating_point() for t in tensors_of(expected))
    if int_outputs:  # indices and masks: exact against the reference in the input precision
        expected_same = call("reference", **prepared(inputs, False))
        for k, (a, e, e_same) in enumerate(zip(tensors_of(got), tensors_of(expected), tensors_of(expected_same))):
            if not e.is_floating_point():
                assert torch.equal(a.cpu(), e_same.cpu()), f"{op} output {k}: differs from the reference"
            else:
                assert_same(a, e, dtype, f"{op}", factor, nonfinite=nonfinite)
    else:
        assert_same(got, expected, dtype, op, factor, nonfinite=nonfinite)
    if want_grad and is_finite(*tensors_of(expected)):
        g_got, g_ref = grads(got, mine), grads(expected, ref)
        for k in g_ref:
            assert_same(g_got[k], g_ref[k], dtype, f"{op} grad {k}", grad_factor, floor=1e-3)


# ---------------------------------------------------------------------------- wrong dtype / device
@st.composite
def corruptions(draw, inputs: dict, names, same_dtype=None) -> tuple:
    """Maybe replace one tensor of ``inputs`` (among ``names``) with one of a wrong dtype, or on
    another device (``meta``), or one of ``same_dtype`` (names that must share a float dtype;
    default: the float tensors among ``names``) with another float dtype than the rest; return
    the names an error may then name (empty when nothing was changed)."""
    kind = draw(st.sampled_from(("none",) * 7 + ("dtype", "mixed", "device")))
    present = [n for n in names if isinstance(inputs.get(n), torch.Tensor)]
    if kind == "mixed":
        present = [n for n in (same_dtype or names) if isinstance(inputs.get(n), torch.Tensor)
                   and inputs[n].is_floating_point()]
    if kind == "none" or not present or (kind != "dtype" and len(present) < 2):
        return ()
    name = draw(st.sampled_from(present))
    t = inputs[name]
    if kind == "dtype":  # int32 / int64 are right for index tensors: those get float / bool / complex
        wrong = WRONG_DTYPES if t.is_floating_point() else (torch.float32, torch.bool, torch.complex64)
        inputs[name] = t.to(draw(st.sampled_from(wrong)))
    elif kind == "mixed":
        inputs[name] = t.to(torch.float64 if t.dtype == torch.float32 else torch.float32)
    else:
        inputs[name] = t.to("meta")
    return tuple(present) if kind != "dtype" else (name,)


def check_case(op: str, call: Callable, backend: str, inputs: dict, dtype, bad, maybe=(), **kwargs) -> None:
    """The fuzz property: with ``bad`` (names of offending arguments) a ValueError/TypeError
    naming one of them, else the reference's result (see check_against_reference). With
    ``maybe`` (names of arguments whose values may or may not be rejected: NaN, unsorted...)
    either such an error, from the reference too, or the reference's result."""
    STATS[op, "invalid" if bad else "maybe" if maybe else "valid"] += 1
    if bad:
        expect_error(op, lambda: call(backend, **inputs), bad)
    elif maybe:
        try:
            call(backend, **inputs)
        except (ValueError, TypeError) as e:
            assert str(e).startswith(f"{op}:") and any(n in str(e) for n in maybe), f"unexpected error: {e}"
            expect_error(op, lambda: call("reference", **inputs), maybe)
            return
        check_against_reference(op, call, backend, inputs, dtype, **kwargs)
    else:
        check_against_reference(op, call, backend, inputs, dtype, **kwargs)

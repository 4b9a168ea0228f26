"""What a benchmark case is, how each backend runs it, how it is timed, and the device's ceilings.

``run.py`` and the pytest-benchmark modules both build on this module, so that every case is
defined once, in ``benchmarks/cases/<family>.py``.

Backends of a case: ``reference`` (fastgen's plain-PyTorch reference, eager), ``compile``
(``torch.compile`` of that reference), the case's external baselines (``nerfacc``, ...) and
fastgen's kernel backends (``cpu``, ``cuda``, ``triton``) called through the public op.
"""
from __future__ import annotations

import functools
import gc
import importlib.util
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

DIRECTIONS = ("fwd", "fwd+bwd", "fwd+bwd+bwd2")
SIZES = ("full", "quick", "smoke")
KERNEL_BACKENDS = ("cpu", "cuda", "triton")

Inputs = dict[str, Any]
Outputs = tuple[torch.Tensor, ...]

# Loose on purpose: a check that a backend computes the same thing before it is timed (wiring
# mistakes give O(1) errors), not a correctness test; tests/ holds those, with per-dtype tolerances.
CHECK_RTOL = 1e-2


@dataclass(frozen=True)
class Baseline:
    """An established package's implementation of a case's outputs.

    ``module`` is imported to tell whether the package is installed; ``run(inputs)`` returns the
    same outputs as the case's reference; ``device_types`` are where the package runs. ``rtol``
    is the relative error its outputs may have against the reference: :data:`CHECK_RTOL` unless
    the package defines the op slightly differently (say why where it is set).
    """

    module: str
    run: Callable[[Inputs], Outputs]
    device_types: tuple[str, ...] = ("cuda",)
    rtol: float = CHECK_RTOL


@dataclass(frozen=True)
class Case:
    """One benchmark case: an op, its deterministic inputs, and how every backend runs it.

    Attributes:
        name: unique id, used in records and by ``run.py --cases``.
        op: the public function's name, recorded as ``op`` (DESIGN.md "Benchmarks").
        make_inputs: ``(device, size) -> inputs`` for ``size`` in :data:`SIZES`; a dict of
            tensors and ints that every callable below receives.
        shape: ``inputs -> dict`` describing the problem size, recorded as ``shape``.
        bytes_moved: ``(inputs, direction) -> int``, the bytes the op must minimally read and
            write (see :func:`kernel_bytes`); achieved GB/s is this over the median time.
        fastgen: ``(inputs, backend) -> outputs`` through fastgen's public op(s).
        reference: ``inputs -> outputs`` through ``fastgen.ops.<family>.reference``; also what
            ``torch.compile`` wraps.
        differentiable: the input names that get gradients in ``fwd+bwd``.
        baselines: external implementations by record name, e.g. ``{"nerfacc": Baseline(...)}``.
        no_compile: why ``torch.compile(reference)`` is not a meaningful baseline for this case
            (e.g. a reference with data-dependent shapes), or None to time it.
        items: optional ``inputs -> (unit, count)``, e.g. ``("points", 2**20)``: the records then
            carry the throughput ``count / seconds`` in ``unit``/s.
        double_backward: also time ``fwd+bwd+bwd2`` (GAN regularisers: the gradient taken with
            ``create_graph``, then the gradient of its squared norm).
    """

    name: str
    op: str
    make_inputs: Callable[[torch.device, str], Inputs]
    shape: Callable[[Inputs], dict]
    bytes_moved: Callable[[Inputs, str], int]
    fastgen: Callable[..., Outputs]
    reference: Callable[[Inputs], Outputs]
    differentiable: tuple[str, ...] = ()
    baselines: dict[str, Baseline] = field(default_factory=dict)
    no_compile: str | None = None
    items: Callable[[Inputs], tuple[str, int]] | None = None
    double_backward: bool = False


@dataclass(frozen=True)
class Record:
    """One measurement; the fields are the results JSON schema of DESIGN.md "Benchmarks"."""

    case: str
    op: str
    backend: str
    direction: str
    shape: dict
    dtype: str
    ms: float
    gbps: float
    pct_of_peak: float | None
    throughput: float | None = None  # items per second, for cases with ``items``
    throughput_unit: str | None = None


@dataclass(frozen=True)
class Skip:
    """A (case, backend, direction) that could not be measured, and why."""

    case: str
    op: str
    backend: str
    direction: str
    reason: str


def directions(case: Case) -> tuple[str, ...]:
    """The directions ``case`` is timed in: ``fwd`` only when nothing in it is differentiable,
    ``fwd+bwd+bwd2`` only for cases with ``double_backward``."""
    if not case.differentiable:
        return ("fwd",)
    return DIRECTIONS if case.double_backward else DIRECTIONS[:2]


def nbytes(*tensors: torch.Tensor) -> int:
    """Total size in bytes of ``tensors``."""
    return sum(t.numel() * t.element_size() for t in tensors)


def kernel_bytes(direction: str, reads: int, writes: int, grads: int = 0,
                 grad_outputs: int | None = None) -> int:
    """Minimal memory traffic of one op call, in bytes.

    The forward reads its inputs (``reads``) and writes its outputs (``writes``) once. In
    ``fwd+bwd``, an op with input gradients (``grads`` bytes written) also reads its inputs again
    and the gradients of its outputs (``grad_outputs``, by default the size of all outputs).
    """
    total = reads + writes
    if direction == "fwd+bwd" and grads:
        total += reads + (writes if grad_outputs is None else grad_outputs) + grads
    return total


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device) -> tuple[str, str]:
    """(display name, filename-safe name) of ``device``, e.g. ("NVIDIA H200", "nvidia-h200")."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
        return name, slug
    cores = _cpu_cores()
    return f"{_cpu_model()} ({cores} cores)", f"cpu-{cores}core"


def cpu_contention(device: torch.device) -> str | None:
    """A warning when other processes already keep the CPU busy (skewing timings), else None."""
    if device.type != "cpu" or not hasattr(os, "getloadavg"):
        return None
    load, cores = os.getloadavg()[0], _cpu_cores()
    if load < 0.5 * cores:
        return None
    return f"load average {load:.1f} on {cores} cores before starting: CPU timings will be noisy"


def _cpu_cores() -> int:
    """Cores this process may run on (the container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


def backends_for(case: Case, device: torch.device, requested: list[str] | None = None,
                 compile: bool = True) -> list[str]:
    """The backends to time ``case`` with on ``device``: baselines first, then fastgen kernels.

    By default: the reference, ``compile``, the case's external baselines that run on this device
    type, then every fastgen kernel backend available there (Triton only on CUDA: on CPU it runs
    in the interpreter, which is not worth timing). ``requested`` restricts the list to those
    names, kept even when unavailable so that the results say why.
    """
    order = ["reference", "compile", *case.baselines, *KERNEL_BACKENDS]
    if requested is None:
        from fastgen.backend import available_backends

        kernels = set(available_backends(device)) & set(KERNEL_BACKENDS) & set(implemented_backends(case.op))
        if device.type == "cpu":
            kernels.discard("triton")
        names = [b for b in order if b in ("reference", "compile") or b in kernels
                 or (b in case.baselines and device.type in case.baselines[b].device_types)]
    else:
        names = [b for b in order if b in requested]
    return [b for b in names if compile or b != "compile"]


def implemented_backends(op: str) -> tuple:
    """The fastgen backends registered for ``op`` (every one for composite ops such as "a+b")."""
    from fastgen.backend import BACKENDS, registered_ops

    registered = {o.name: o.backends for o in registered_ops()}
    backends = set(BACKENDS)
    for name in op.split("+"):
        backends &= set(registered.get(name, BACKENDS))
    return tuple(backends)


def known_backends(cases: list[Case]) -> list[str]:
    """Every backend name that :func:`backends_for` may return for ``cases``."""
    return list(dict.fromkeys(["reference", "compile", *(b for c in cases for b in c.baselines),
                               *KERNEL_BACKENDS]))


def unavailable_reason(case: Case, backend: str, device: torch.device) -> str | None:
    """Why ``backend`` cannot be timed for ``case`` on ``device``, or None.

    Fastgen backends that are not built are not caught here: the op's own error says why.
    """
    if backend == "compile" and case.no_compile is not None:
        return case.no_compile
    if backend == "triton" and device.type == "cpu":
        return "Triton on CPU runs only in the interpreter (TRITON_INTERPRET=1); not timed"
    base = case.baselines.get(backend)
    if base is not None:
        if device.type not in base.device_types:
            return f"{base.module} runs on {', '.join(base.device_types)} only"
        if importlib.util.find_spec(base.module) is None:
            return f"{base.module} is not installed"
    return None


def direction_unavailable(backend: str, direction: str) -> str | None:
    """Why ``backend`` cannot time ``direction`` whatever the case, or None."""
    if backend == "compile" and direction == "fwd+bwd+bwd2":
        return "torch.compile (AOTAutograd) does not support double backward (create_graph=True)"
    return None


def forward_fn(case: Case, backend: str) -> Callable[[Inputs], Outputs]:
    """The function computing ``case``'s outputs with ``backend``."""
    if backend == "reference":
        return case.reference
    if backend == "compile":
        return torch.compile(case.reference, dynamic=False)
    if backend in case.baselines:
        return case.baselines[backend].run
    return functools.partial(case.fastgen, backend=backend)


def make_step(case: Case, backend: str, direction: str, inputs: Inputs) -> Callable[[], object]:
    """A no-argument callable running one ``direction`` step of ``case`` with ``backend``.

    ``fwd+bwd`` runs the forward on leaf copies of the differentiable inputs, then
    ``torch.autograd.grad`` with all-ones output gradients (``.grad`` is never accumulated).
    ``fwd+bwd+bwd2`` takes those gradients with ``create_graph`` and then the gradient of their
    summed squares (the shape of StyleGAN2's path-length and R1 penalties).
    """
    fn = forward_fn(case, backend)
    if direction == "fwd":
        return lambda: fn(inputs)
    x = dict(inputs)
    leaves = []
    for name in case.differentiable:
        x[name] = inputs[name].detach().requires_grad_()
        leaves.append(x[name])

    second = direction == "fwd+bwd+bwd2"

    def step():
        outs = [o for o in fn(x) if o.requires_grad]
        grads = torch.autograd.grad(outs, leaves, [torch.ones_like(o) for o in outs], create_graph=second)
        if not second:
            return grads
        # Some gradients do not depend on the inputs (a bias under a piecewise-linear activation).
        return torch.autograd.grad(sum(g.square().sum() for g in grads), leaves, allow_unused=True,
                                   materialize_grads=True)

    return step


def synchronized(step: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """``step`` followed by a device synchronisation, for wall-clock timers (pytest-benchmark)."""
    if device.type != "cuda":
        return step
    return lambda: (step(), torch.cuda.synchronize(device))


def expected_outputs(case: Case, inputs: Inputs) -> Outputs:
    """The reference's outputs on ``inputs`` promoted to float64, to check every backend against.

    float64 because the float32 reference may itself be inexact at benchmark sizes.
    """
    promoted = {k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
                for k, v in inputs.items()}
    with torch.no_grad():
        return case.reference(promoted)


def check_rtol(case: Case, backend: str) -> float:
    """The tolerance of ``backend``'s outputs for ``case`` (see :class:`Baseline`)."""
    return case.baselines[backend].rtol if backend in case.baselines else CHECK_RTOL


def mismatch(got: Outputs, expected: Outputs, rtol: float = CHECK_RTOL) -> str | None:
    """Why ``got`` differs from ``expected`` (relative norm error > :data:`CHECK_RTOL`), or None."""
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        g, e = g.detach().reshape(-1).double(), e.detach().reshape(-1).double()
        if g.shape != e.shape:
            return f"output {i} has {g.numel()} elements, the reference {e.numel()}"
        err = float((g - e).norm() / e.norm().clamp_min(1e-30))
        if not err <= rtol:
            return f"output {i} differs from the float64 reference (relative error {err:.1e})"
    return None


def describe(exc: BaseException) -> str:
    """A one-line reason from an exception."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def settle_allocator() -> str | None:
    """Tell glibc's malloc to keep the memory it is given back (no trimming, no mmap per large
    block), so that a repeat reuses what the previous one freed instead of faulting fresh pages
    in. Without it the page faults of a backend's temporaries depend on the order the cases run in:
    the sample_pdf reference measured 10 ms or 19 ms depending on what ran before it. Returns a note
    for the report, or None where the allocator is not glibc's (nothing is changed there)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = mallopt(m_trim_threshold, ctypes.c_int(2**30)) and mallopt(m_mmap_threshold, ctypes.c_int(32 << 20))
    return "glibc malloc keeps freed memory (mallopt)" if ok else None


def time_ms(step: Callable[[], object], device: torch.device, quick: bool) -> float:
    """Median time of ``step`` in milliseconds, after warm-up, with Python's garbage collector
    paused while it runs (as ``timeit`` does: a collection walks every object of the benchmark
    process, which has nothing to do with the op).

    CUDA: ``triton.testing.do_bench`` (which flushes L2 before every call) over about half a
    second, so that even a slow reference gets several repeats. CPU: wall-clock repeats with
    ``time.perf_counter``; fewer in ``quick`` mode, and no more than a few seconds.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _time_ms(step, device, quick)
    finally:
        if was_enabled:
            gc.enable()


def _time_ms(step: Callable[[], object], device: torch.device, quick: bool) -> float:
    if device.type == "cuda":
        from triton.testing import do_bench

        return float(do_bench(step, warmup=100, rep=500, return_mode="median"))
    warmup, repeats, budget_s = (1, 5, 2.0) if quick else (3, 20, 10.0)
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measure_ceilings(device: torch.device) -> tuple[float | None, float | None]:
    """(peak GB/s, peak TFLOP/s) measured on ``device``; (None, None) on CPU.

    Bandwidth: a 1 GiB device-to-device copy, counted as read + write (2 x 1 GiB). Compute: an
    8192^3 bf16 matmul (2 * 8192^3 FLOP).
    """
    if device.type != "cuda":
        return None, None
    from triton.testing import do_bench

    src = torch.empty(1 << 28, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    copy_ms = do_bench(lambda: dst.copy_(src), return_mode="median")
    peak_gbps = 2 * nbytes(src) / copy_ms / 1e6
    del src, dst
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    mm_ms = do_bench(lambda: a @ b, return_mode="median")
    peak_tflops = 2 * n**3 / mm_ms / 1e9
    return float(peak_gbps), float(peak_tflops)


def _dtype_name(inputs: Inputs) -> str:
    """The dtype of the first floating-point input, e.g. "float32"."""
    dtype = next(v.dtype for v in inputs.values() if torch.is_tensor(v) and v.is_floating_point())
    return str(dtype).removeprefix("torch.")


def run_case(case: Case, device: torch.device, size: str, backends: list[str],
             peak_gbps: float | None,
             announce: Callable[[str], None] = lambda what: None) -> Iterator[Record | Skip]:
    """Time ``case`` at ``size`` with each of ``backends`` in each direction.

    Yields one :class:`Record` or :class:`Skip` per (backend, direction), in order. Every backend
    but the reference is first run once and checked (:func:`mismatch`). Any failure (not built,
    compile error, out of memory, wrong result) becomes a :class:`Skip` with the reason instead
    of an exception. ``announce`` is told what is about to run (for a progress bar).
    """
    announce(f"{case.name}: inputs")
    inputs = case.make_inputs(device, size)
    shape, dtype = case.shape(inputs), _dtype_name(inputs)
    quick = size != "full"
    try:
        expected, failure = expected_outputs(case, inputs), None
    except Exception as exc:  # a failing case is reported, not fatal
        expected, failure = None, f"the float64 reference failed ({describe(exc)})"
    for backend in backends:
        announce(f"{case.name} {backend}: check")
        reason = failure or unavailable_reason(case, backend, device)
        if reason is None and backend != "reference":
            try:
                reason = mismatch(forward_fn(case, backend)(inputs), expected, check_rtol(case, backend))
            except Exception as exc:
                reason = describe(exc)
        for direction in directions(case):
            why = reason or direction_unavailable(backend, direction)
            if why is not None:
                yield Skip(case.name, case.op, backend, direction, why)
                continue
            announce(f"{case.name} {direction} {backend}")
            try:
                ms = time_ms(make_step(case, backend, direction, inputs), device, quick)
            except Exception as exc:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                yield Skip(case.name, case.op, backend, direction, describe(exc))
                continue
            gbps = case.bytes_moved(inputs, direction) / ms / 1e6
            pct = 100 * gbps / peak_gbps if peak_gbps else None
            rate, unit = None, None
            if case.items is not None:
                what, count = case.items(inputs)
                rate, unit = count / (ms / 1e3), f"{what}/s"
            yield Record(case.name, case.op, backend, direction, shape, dtype, ms, gbps, pct, rate, unit)

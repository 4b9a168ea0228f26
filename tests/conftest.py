"""Shared test machinery: backend parametrisation, per-dtype tolerances, FASTGEN_REQUIRE_BACKENDS.

* The ``backend`` fixture runs a test once per backend name ("reference", "cpu", "cuda",
  "triton"); the ``device`` fixture is the device that backend is tested on: reference and cpu on
  CPU tensors, cuda on CUDA tensors, triton on CUDA tensors when a GPU is usable and on CPU
  tensors under ``TRITON_INTERPRET=1``. A backend that cannot run here is skipped with its reason.
* ``FASTGEN_REQUIRE_BACKENDS=reference,cpu,triton`` (CI) makes the session fail before any test
  runs when one of those backends is unavailable, printing why.
* Tolerances live in ``TOL`` and nowhere else; compare with :func:`assert_close_rel`.
* ``FASTGEN_TRITON_LAUNCHES=DIR`` records every interpreted Triton launch in DIR for
  ``scripts/compile_triton.py`` (see ``tests/triton_launches.py``).
* ``gen`` is a torch.Generator seeded from the test's node id: fresh inputs per test, reproducible.
"""
from __future__ import annotations

import os
import zlib

import pytest
import torch

from fastgen.backend import BACKENDS, backend_status

# Relative norm error ||actual - expected|| / max(||expected||, tiny) allowed for results computed
# in ``dtype`` (the inputs' dtype) and compared with the float64 reference on the same inputs.
TOL = {
    torch.float64: 1e-10,
    torch.float32: 2e-5,
    torch.float16: 1e-2,
    torch.bfloat16: 5e-2,
}
TINY = 1e-30


def backend_device(name: str) -> torch.device:
    """The device whose tensors backend ``name`` is tested on."""
    if name == "cuda":
        return torch.device("cuda")
    if name == "triton":
        interpreted = os.environ.get("TRITON_INTERPRET", "0") == "1"
        return torch.device("cuda" if torch.cuda.is_available() and not interpreted else "cpu")
    return torch.device("cpu")


def backend_available(name: str) -> tuple:
    """(available, reason) of backend ``name`` on the device it is tested on."""
    return backend_status(name, backend_device(name).type)


def kernel_backends() -> list:
    return [b for b in BACKENDS if b != "reference"]


def required_backends() -> list:
    raw = os.environ.get("FASTGEN_REQUIRE_BACKENDS", "")
    return [b.strip() for b in raw.split(",") if b.strip()]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: torch.compile and other tests that take seconds each")
    config.addinivalue_line("markers", "long: minutes in all; skipped unless FASTGEN_LONG_TESTS=1 "
                            "(e.g. every real-compiler build of the GPU tile configurations)")
    config.addinivalue_line("markers", "bigmem: tensors of more than 2^31 elements (GBs of RAM); run only "
                                       "with -m bigmem")
    launches = os.environ.get("FASTGEN_TRITON_LAUNCHES")
    if launches and os.environ.get("TRITON_INTERPRET", "0") == "1":
        from tests.triton_launches import install

        install(launches)


def pytest_sessionstart(session):
    missing = []
    for name in required_backends():
        if name not in BACKENDS:
            missing.append(f"  {name}: not a fastgen backend (choose from {', '.join(BACKENDS)})")
            continue
        ok, reason = backend_available(name)
        if not ok:
            missing.append(f"  {name} (on {backend_device(name).type} tensors): {reason}")
    if missing:
        pytest.exit("FASTGEN_REQUIRE_BACKENDS names backends that are unavailable:\n" + "\n".join(missing),
                    returncode=1)


def pytest_collection_modifyitems(config, items):
    skips = {}
    if os.environ.get("FASTGEN_LONG_TESTS", "0") != "1":
        skips["long"] = pytest.mark.skip(reason="long test: set FASTGEN_LONG_TESTS=1 to run it")
    if "bigmem" not in (config.getoption("-m") or ""):
        skips["bigmem"] = pytest.mark.skip(reason="needs GBs of RAM: run with -m bigmem")
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config):
    lines = []
    for name in BACKENDS:
        ok, reason = backend_available(name)
        lines.append(f"fastgen backend {name:<9} on {backend_device(name).type:<4}: "
                     f"{'available' if ok else 'SKIPPED'} ({reason})")
    return lines


def skip_unless_available(name: str) -> str:
    """Skip the calling test, with the reason, where backend ``name`` cannot run; else return it."""
    ok, reason = backend_available(name)
    if not ok:
        pytest.skip(f"backend {name!r} unavailable: {reason}")
    return name


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Every backend name; the test is skipped (with the reason) where the backend cannot run."""
    return skip_unless_available(request.param)


@pytest.fixture(params=kernel_backends())
def kernel_backend(request) -> str:
    """Every backend except the reference (the ones whose kernels sit behind torch.ops.fastgen)."""
    return skip_unless_available(request.param)


@pytest.fixture
def device(request) -> torch.device:
    """The device of the test's backend (``backend`` or ``kernel_backend``), else CPU."""
    for fixture in ("backend", "kernel_backend"):
        if fixture in request.fixturenames:
            return backend_device(request.getfixturevalue(fixture))
    return torch.device("cpu")


@pytest.fixture
def gen(request) -> torch.Generator:
    """A CPU generator seeded from the test id: fresh inputs per test, the same on every run."""
    seed = zlib.crc32(request.node.nodeid.encode())
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    return float((a - e).norm() / max(float(e.norm()), TINY))


def assert_close_rel(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, what: str = "",
                     factor: float = 1.0) -> None:
    """Assert shape equality, finiteness where expected is finite, and a relative norm error within
    ``TOL[dtype] * factor``."""
    label = f"{what}: " if what else ""
    assert tuple(actual.shape) == tuple(expected.shape), \
        f"{label}shape {tuple(actual.shape)} != expected {tuple(expected.shape)}"
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    bad = torch.isfinite(e) & ~torch.isfinite(a)
    assert not bool(bad.any()), f"{label}{int(bad.sum())} non-finite values where the reference is finite"
    err, tol = rel_err(a, e), TOL[dtype] * factor
    if err > tol:
        i = int((a - e).abs().flatten().argmax()) if a.numel() else 0
        worst = (f"; worst at flat index {i}: {float(a.flatten()[i])!r} vs {float(e.flatten()[i])!r}"
                 if a.numel() else "")
        raise AssertionError(f"{label}relative error {err:.3e} > {tol:.1e} ({dtype}){worst}")


def allow_cpu_launcher(*families: str):
    """An autouse fixture for a family conftest: ops of ``families`` that register no "cpu" backend
    (the reference is as fast on CPU) still have a C++ launcher running the CUDA kernels' math, so
    while a test runs with backend "cpu" those ops accept "cpu" as if it were registered."""
    import dataclasses

    from fastgen import backend as fastgen_backend

    @pytest.fixture(autouse=True)
    def _allow_cpu_launcher(request, monkeypatch):
        names = [request.getfixturevalue(f) for f in ("backend", "kernel_backend") if f in request.fixturenames]
        if "cpu" in names:
            for name, op in list(fastgen_backend._OPS.items()):
                if op.family in families and "cpu" not in op.backends:
                    monkeypatch.setitem(fastgen_backend._OPS, name,
                                        dataclasses.replace(op, backends=op.backends + ("cpu",)))

    return _allow_cpu_launcher


def forbid_kernels(monkeypatch, library, reference, names) -> None:
    """Make a family's kernels (reached through ``library._k``) and the reference functions
    ``names`` raise when called: for tests that bad input is rejected before anything runs."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel ran although the input is invalid")

    class Forbidden:
        def __getattr__(self, name):
            return forbidden

    monkeypatch.setattr(library, "_k", lambda backend: Forbidden())
    for name in names:
        monkeypatch.setattr(reference, name, forbidden)

"""upfirdn2d and conv2d_resample register no "cpu" backend (the reference is faster on CPU), but
the C++ CPU launcher runs the CUDA kernel's per-pixel math, so the tests opt into it: while a
test runs with backend "cpu", they accept "cpu" as if it were registered."""
import dataclasses

import pytest

import fastgen.gan  # noqa: F401  (registers the ops)
from fastgen import backend as fastgen_backend

FAMILIES = ("upfirdn2d",)


@pytest.fixture(autouse=True)
def _allow_cpu_launcher(request, monkeypatch):
    names = [request.getfixturevalue(f) for f in ("backend", "kernel_backend") if f in request.fixturenames]
    if "cpu" in names:
        for name, op in list(fastgen_backend._OPS.items()):
            if op.family in FAMILIES and "cpu" not in op.backends:
                monkeypatch.setitem(fastgen_backend._OPS, name,
                                    dataclasses.replace(op, backends=op.backends + ("cpu",)))

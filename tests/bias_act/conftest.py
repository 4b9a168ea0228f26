"""bias_act registers no "cpu" backend (the reference is as fast on CPU), but its C++ CPU launcher
runs the CUDA kernel's per-element math, so the tests opt into it: while a test runs with
backend "cpu", bias_act accepts "cpu" as if it were registered."""
import dataclasses

import pytest

import fastgen.gan  # noqa: F401  (registers the ops)
from fastgen import backend as fastgen_backend

FAMILIES = ("bias_act",)


@pytest.fixture(autouse=True)
def _allow_cpu_launcher(request, monkeypatch):
    names = [request.getfixturevalue(f) for f in ("backend", "kernel_backend") if f in request.fixturenames]
    if "cpu" in names:
        for name, op in list(fastgen_backend._OPS.items()):
            if op.family in FAMILIES and "cpu" not in op.backends:
                monkeypatch.setitem(fastgen_backend._OPS, name,
                                    dataclasses.replace(op, backends=op.backends + ("cpu",)))

"""Fixtures of ``test_bench.py``."""
from __future__ import annotations

import pytest

from benchmarks import harness


@pytest.fixture(scope="session")
def smoke_inputs():
    """``get(case)``: the case's smoke-size inputs on the default device, made once per session."""
    device = harness.default_device()
    cache = {}

    def get(case: harness.Case) -> harness.Inputs:
        if case.name not in cache:
            cache[case.name] = case.make_inputs(device, "smoke")
        return cache[case.name]

    return get

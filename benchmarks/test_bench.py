"""Every benchmark case under pytest-benchmark, at smoke sizes.

``pytest benchmarks/ --benchmark-disable`` runs every case x backend x direction once, checked
against the reference: a smoke test of the suite. Without ``--benchmark-disable``,
pytest-benchmark times them. Speed is never asserted; ``benchmarks/run.py`` records it.
New families are picked up from ``benchmarks/cases/`` automatically.
"""
from __future__ import annotations

import pytest

from benchmarks import harness
from benchmarks.cases import select_cases

DEVICE = harness.default_device()
CASE_BACKENDS = [pytest.param(case, backend, direction, id=f"{direction}-{case.name}-{backend}")
                 for case in select_cases() for backend in harness.backends_for(case, DEVICE)
                 for direction in harness.directions(case)]


@pytest.mark.parametrize(("case", "backend", "direction"), CASE_BACKENDS)
def test_bench(benchmark, smoke_inputs, case, backend, direction):
    reason = harness.unavailable_reason(case, backend, DEVICE) or harness.direction_unavailable(backend, direction)
    if reason is not None:
        pytest.skip(reason)
    inputs = smoke_inputs(case)
    problem = harness.mismatch(harness.forward_fn(case, backend)(inputs),
                               harness.expected_outputs(case, inputs), harness.check_rtol(case, backend))
    assert problem is None, problem
    benchmark.group = f"{case.name} {direction}"
    benchmark(harness.synchronized(harness.make_step(case, backend, direction, inputs), DEVICE))

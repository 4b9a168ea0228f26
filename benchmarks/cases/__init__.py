"""Benchmark cases, one module per op family.

Every module here that does not start with ``_`` is a family and defines ``CASES``, a list of
:class:`benchmarks.harness.Case`. Adding ``benchmarks/cases/<family>.py`` is all it takes for
``run.py`` and ``benchmarks/test_bench.py`` (pytest-benchmark) to pick the family up.
"""
from __future__ import annotations

import importlib
import pkgutil

from benchmarks.harness import Case


def families() -> dict[str, list[Case]]:
    """Every family's cases, by family name, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {name: list(importlib.import_module(f"{__name__}.{name}").CASES) for name in names}


def select_cases(names: list[str] | None = None) -> list[Case]:
    """The cases named in ``names`` (case or family names), or all of them when None."""
    by_family = families()
    every = [case for cases in by_family.values() for case in cases]
    if names is None:
        return every
    known = set(by_family) | {case.name for case in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(sorted(known))}")
    return [case for family, cases in by_family.items() for case in cases
            if family in names or case.name in names]

"""Hypothesis profiles of the fuzz tests: ``ci`` (default) and ``long`` (``FASTGEN_FUZZ=long``)."""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much], print_blob=True)
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("FASTGEN_FUZZ_EXAMPLES", "400")), **_COMMON)
settings.load_profile(os.environ.get("FASTGEN_FUZZ", "ci"))


def pytest_terminal_summary(terminalreporter):
    """With FASTGEN_FUZZ_STATS=1: how many valid / invalid examples each op ran."""
    if os.environ.get("FASTGEN_FUZZ_STATS") == "1":
        from tests.fuzz._harness import STATS

        for (op, kind), n in sorted(STATS.items()):
            terminalreporter.write_line(f"fuzz {op:<36} {kind:<8} {n}")

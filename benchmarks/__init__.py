"""fastgen's benchmark suite: cases in ``benchmarks/cases``, run by ``benchmarks/run.py``."""

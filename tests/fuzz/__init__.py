"""Property-based fuzz tests (hypothesis) of every public op on bad and odd input.

Each property draws random shapes (zero-sized and large-ish dims), dtypes (wrong ones too),
non-contiguous and expanded (stride-0) views, NaN/inf values, out-of-range and unsorted
indices, packed_info rows that overlap, overrun or overflow, and tensors on another device
(``meta``). Every call must either return what the reference returns on the same input in
float64 (within conftest's ``TOL``, NaN/inf where the reference has them) or raise a
ValueError/TypeError whose message names the offending argument: never a crash, a hang or a
silently wrong result. Properties run on the ``cpu`` backend (the C++ kernels, where
out-of-bounds bugs would show) and on ``reference``; on ``triton`` (under the interpreter)
with a handful of examples.

Profiles (tests/fuzz/conftest.py): ``ci`` (the default: few examples, derandomized, so CI is
reproducible) and ``long``. A longer run is one command::

    FASTGEN_FUZZ=long TRITON_INTERPRET=1 python -m pytest tests/fuzz -q

(``FASTGEN_FUZZ_EXAMPLES=N`` sets the examples per property of the long profile, default 400.)
"""

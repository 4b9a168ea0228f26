"""Two tiny kernels for tests/test_compile_triton.py: one the compiler accepts, and one that only
the interpreter runs (``tl.arange`` with a run-time bound)."""
import triton
import triton.language as tl


@triton.jit
def scale_kernel(x_ptr, n, factor, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor, mask=mask)


@triton.jit
def runtime_arange_kernel(x_ptr, n):
    offs = tl.arange(0, n)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * 2)

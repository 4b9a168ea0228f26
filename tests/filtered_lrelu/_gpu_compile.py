"""Compile the Triton launch plans of the StyleGAN3 benchmark cases with Triton's real compiler
for sm_80 and sm_90 (no GPU needed); prints one line per kernel. Run by
test_compile_opcheck.py in a process without TRITON_INTERPRET."""
from __future__ import annotations

import torch
import triton
from triton.backends.compiler import GPUTarget

import fastgen.gan as gan
from fastgen.ops.filtered_lrelu import _library, correlation_taps
from fastgen.ops.filtered_lrelu import triton as kernels

TYPES = {torch.float32: "fp32", torch.float64: "fp64", torch.float16: "fp16", torch.bfloat16: "bf16",
         torch.uint8: "u8"}
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}


def benchmark_plans():
    """(dtype, direction, (kernel, grid, args, constexprs)): the forward with the mask and the
    backward's linear pass, up=2 / down=2, 12-tap separable filters, float16 and float32 (sizes
    are runtime arguments: tiny tensors give the same kernels)."""
    f = gan.setup_filter(torch.ones(12))
    ku = correlation_taps(f, False, 4.0, torch.float32, "cpu")
    for dtype in (torch.float16, torch.float32):
        x, y = torch.zeros(1, 2, 8, 8, dtype=dtype), torch.zeros(1, 2, 8, 8, dtype=dtype)
        b, mask = torch.zeros(2, dtype=dtype), torch.zeros(1, 2, 16, 16, dtype=torch.uint8)
        yield dtype, "fwd", kernels.launch_plan(x, b, mask, y, ku, ku, 2, 2, 11, 11, 0, 0, 16, 16, 0, 1.4, 0.2, 256.0)
        k1, k2, up, down, p1x, p1y, p2x, p2y = _library.transposed((8, 8), ku, ku, 2, 2, 11, 11, 0, 0)[:8]
        yield dtype, "bwd", kernels.launch_plan(y, None, mask, x, k1, k2, up, down, p1x, p1y, p2x, p2y, 16, 16, 1,
                                                1.4, 0.2, -1.0)


def main() -> None:
    for arch in (80, 90):
        for dtype, what, (kernel, _grid, args, consts) in benchmark_plans():
            sig = {name: "*" + TYPES[a.dtype] if isinstance(a, torch.Tensor) else "i32"
                   for name, a in zip(kernel.arg_names, args)}
            sig.update({name: "constexpr" for name in consts})
            compiled = triton.compile(triton.compiler.ASTSource(kernel, sig, consts),
                                      target=GPUTarget("cuda", arch, 32))
            shared = compiled.metadata.shared
            assert "cubin" in compiled.asm, f"sm_{arch} {dtype} {what}: no cubin"
            assert shared <= SHARED_LIMIT[arch], f"sm_{arch} {dtype} {what}: {shared} B of shared memory"
            print(f"ok sm_{arch} {dtype} {what} {kernel.__name__} shared={shared}", flush=True)


if __name__ == "__main__":
    main()

"""Every modconv Triton kernel compiles with Triton's real compiler for sm_80 and sm_90 (the
interpreter accepts code the compiler rejects, e.g. tl.dot tiles under 16 or mixed dtypes), at
the tile configurations the GPU launches (the tests' and the full-size benchmarks')."""
from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from fastgen.ops.modconv import triton as K  # noqa: E402
from tests.gpu_compile import compile_record, record  # noqa: E402

_PTR = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32", torch.float64: "*fp64"}
_CUDA = torch.device("cuda")


def _compile(fn, ptrs: dict, default_ptr: str, constexprs: dict, cap: int, num_warps: int):
    compile_record(record(fn, constexprs, ptrs, default_ptr, num_warps), cap)


# Compiles take 10-50 s each on 2 cores (9 unrolled taps, each a pipelined K loop): CI compiles
# the float32 configurations for sm_90; the other dtypes, up/down variants and sm_80 are "long"
# (FASTGEN_LONG_TESTS=1 runs them).
_SLOW = pytest.mark.long


def _acc(dtype):
    return "*fp64" if dtype == torch.float64 else "*fp32"


# (dtype, what): the block forward (EPI=1, up=1) and dx (EPI=0 with the d-styles reduction) for
# the float32 / float16 benchmarks; the zero-inserted up=2 forward and its strided adjoint; float64.
CONV_CASES = [
    (torch.float32, dict(EPI=1, UP=1, DOWN=1, HAS_RED=False, SAVE_C=True)),
    (torch.float32, dict(EPI=0, UP=1, DOWN=1, HAS_RED=True, SAVE_C=False)),
    (torch.float16, dict(EPI=1, UP=1, DOWN=1, HAS_RED=False, SAVE_C=True)),
    (torch.float32, dict(EPI=0, UP=2, DOWN=1, HAS_RED=False, SAVE_C=False)),
    (torch.float32, dict(EPI=0, UP=1, DOWN=2, HAS_RED=True, SAVE_C=False)),
    (torch.float64, dict(EPI=1, UP=1, DOWN=1, HAS_RED=False, SAVE_C=True)),
]


@pytest.mark.parametrize("cap", [pytest.param(80, marks=_SLOW), 90])
@pytest.mark.parametrize("dtype, case", [pytest.param(*c, marks=() if i == 0 else _SLOW)
                                         for i, c in enumerate(CONV_CASES)])
def test_conv_kernel_compiles(cap, dtype, case):
    cfg = K.conv_config(dtype, _CUDA)
    warps = cfg.pop("num_warps")
    acc = _acc(dtype)
    ptrs = {"in_scale_ptr": acc, "out_scale_ptr": acc, "red_out_ptr": acc, "params_ptr": acc}
    consts = dict(KH=3, KW=3, HAS_IN_SCALE=True, HAS_OUT_SCALE=True, HAS_NOISE=case["EPI"] == 1,
                  HAS_BIAS=case["EPI"] == 1, HAS_CLAMP=True, ACT=2, PREC=K.precision(dtype), IS_F64=dtype == torch.float64, **case,
                  **cfg)
    _compile(K._conv_kernel, ptrs, _PTR[dtype], consts, cap, warps)


@pytest.mark.parametrize("cap", [pytest.param(80, marks=_SLOW), 90])
@pytest.mark.parametrize("dtype, up", [(torch.float32, 1)] + [pytest.param(d, u, marks=_SLOW) for d, u in
                                                              ((torch.float16, 1), (torch.float32, 2),
                                                               (torch.float64, 1))])
def test_dweight_kernel_compiles(cap, dtype, up):
    cfg = K.dweight_config(dtype, _CUDA)
    warps = cfg.pop("num_warps")
    acc = _acc(dtype)
    consts = dict(KH=3, KW=3, UP=up, DOWN=1, HAS_IN_SCALE=True, HAS_G_SCALE=up == 1, PREC=K.precision(dtype),
                  IS_F64=dtype == torch.float64, **cfg)
    _compile(K._dweight_kernel, {"in_scale_ptr": acc, "g_scale_ptr": acc, "out_ptr": acc}, _PTR[dtype], consts,
             cap, warps)


@pytest.mark.parametrize("cap", [pytest.param(80, marks=_SLOW), 90])
@pytest.mark.parametrize("dtype", [torch.float32] + [pytest.param(d, marks=_SLOW)
                                                     for d in (torch.float16, torch.float64)])
def test_epilogue_kernels_compile(cap, dtype):
    acc = _acc(dtype)
    consts = dict(HAS_POST=True, HAS_NOISE=True, HAS_BIAS=True, HAS_CLAMP=True, ACT=2, IS_F64=dtype == torch.float64,
                  BLOCK=K._ELEM_BLOCK)
    _compile(K._epilogue_kernel, {"post_ptr": acc, "params_ptr": acc}, _PTR[dtype], consts, cap, 4)
    _compile(K._epilogue_grad_kernel, {"post_ptr": acc, "params_ptr": acc, "part_ptr": acc}, _PTR[dtype], consts,
             cap, 4)

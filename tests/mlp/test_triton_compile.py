"""Every mlp Triton kernel compiles with Triton's real compiler for sm_80 and sm_90 (the
interpreter accepts code the compiler rejects, e.g. tl.dot tiles under 16 or mixed dtypes), at the
configurations the GPU launches: the full-size benchmarks' (float16, W = 64, D_in 32, D_out 16
and 3) in CI on sm_90, the tests' other widths and dtypes and sm_80 as "long" tests
(FASTGEN_LONG_TESTS=1)."""
from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from fastgen.ops.mlp import triton as K  # noqa: E402
from tests.gpu_compile import compile_record, record  # noqa: E402

_PTR = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32"}
_CUDA = torch.device("cuda")
_LONG = pytest.mark.long
_CAPS = [pytest.param(80, marks=_LONG), 90]
# (dtype, width, d_in, d_out): the benchmark's density and colour nets first, then the tests'
CONFIGS = [(torch.float16, 64, 32, 16), (torch.float16, 64, 32, 3)] + [
    pytest.param(*c, marks=_LONG) for c in ((torch.float32, 16, 3, 1), (torch.float32, 128, 70, 65),
                                            (torch.bfloat16, 64, 32, 16), (torch.float32, 32, 32, 16))]


def _layer_consts(dtype, width, d_in, d_out):
    return dict(W=width, IN_B=K._chunk(d_in), OUT_B=K._chunk(d_out), ACT=1, OUT_ACT=0, PREC=K.precision(dtype),
                UPCAST=K.upcast(dtype, _CUDA), **K.block_config(width, _CUDA))


@pytest.mark.parametrize("cap", _CAPS)
@pytest.mark.parametrize("dtype, width, d_in, d_out", CONFIGS)
def test_forward_kernel_compiles(cap, dtype, width, d_in, d_out):
    consts = _layer_consts(dtype, width, d_in, d_out)
    warps = consts.pop("num_warps")
    compile_record(record(K._forward_kernel, dict(consts, SAVE=True), default_ptr=_PTR[dtype], num_warps=warps), cap)


@pytest.mark.parametrize("cap", _CAPS)
@pytest.mark.parametrize("dtype, width, d_in, d_out", CONFIGS)
def test_backward_kernel_compiles(cap, dtype, width, d_in, d_out):
    consts = _layer_consts(dtype, width, d_in, d_out)
    warps = consts.pop("num_warps")
    compile_record(record(K._backward_kernel, dict(consts, NEED_X=True), default_ptr=_PTR[dtype],
                          num_warps=warps), cap)


@pytest.mark.parametrize("cap", _CAPS)
@pytest.mark.parametrize("dtype, rows, cols", [(torch.float16, 64, 64)] + [
    pytest.param(d, r, c, marks=_LONG) for d, r, c in ((torch.float16, 16, 64), (torch.float32, 128, 128),
                                                        (torch.bfloat16, 64, 32))])
def test_outer_kernel_compiles(cap, dtype, rows, cols):
    cfg = K.outer_config(1 << 18, _CUDA)
    consts = dict(BR=K._chunk(rows), BC=K._chunk(cols), BN=cfg["BN"], PREC=K.precision(dtype),
                  UPCAST=K.upcast(dtype, _CUDA))
    compile_record(record(K._outer_kernel, consts, {"out_ptr": "*fp32"}, _PTR[dtype], cfg["num_warps"]), cap)

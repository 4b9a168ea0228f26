"""The generic upfirdn2d Triton kernel's run-time tap loop (filters above _UNROLL_TAPS taps)
compiles with Triton's real compiler; unrolled, the 90 x 90 filter of test_large_filters took
LLVM more than 5 minutes."""
import pytest

pytest.importorskip("triton")

from fastgen.ops.upfirdn2d import triton as K  # noqa: E402
from tests.gpu_compile import compile_record, record  # noqa: E402


@pytest.mark.parametrize("is_f64", [False, True])
def test_runtime_tap_loop_compiles(is_f64):
    consts = dict(KH=0, KW=0, UPX=1, UPY=1, DOWNX=1, DOWNY=1, IS_F64=is_f64, BH=K._BH, BW=K._BW)
    row = compile_record(record(K._upfirdn2d_kernel, consts, default_ptr="*fp64" if is_f64 else "*fp32"), 90)
    assert row["local"] == 0, row  # no spills

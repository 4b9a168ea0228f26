"""scripts/compile_triton.py: recorded launches compile with Triton's real compiler, and a kernel
that only the interpreter accepts fails the check with the compiler's message."""
import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton")

from tests import triton_compile_fixtures as fixtures  # noqa: E402
from tests.triton_launches import describe  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_fn(kernel):
    return getattr(kernel, "fn", kernel)


def _check(tmp_path, records):
    with open(tmp_path / "launches-1.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT
    report = tmp_path / "report.md"
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compile_triton.py"), str(tmp_path),
                           "--archs", "90", "--jobs", "1", "--report", str(report)],
                          capture_output=True, text=True, env=env, cwd=ROOT), report


def test_describe_specialises_as_the_launcher_does():
    x = torch.zeros(64)
    record = describe(_python_fn(fixtures.scale_kernel), (x, 48, 2.0), {"BLOCK": 32, "num_warps": 2})
    assert record["signature"] == {"x_ptr": "*fp32", "n": "i32", "factor": "fp32", "BLOCK": "constexpr"}
    assert record["constexprs"] == {"BLOCK": 32}
    assert record["options"] == {"num_warps": 2}
    assert 1 in record["divisible"]  # n = 48 is a multiple of 16
    one = describe(_python_fn(fixtures.scale_kernel), (x, 1, 2.0), {"BLOCK": 32})
    assert one["signature"]["n"] == "constexpr" and one["constexprs"]["n"] == 1 and one["ones"] == ["n"]


def test_aligned_variant_is_the_full_size_launch():
    """The aligned variant types every integer as a run-time i32 (a 1 in a test is a size there)."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from compile_triton import aligned

    one = describe(_python_fn(fixtures.scale_kernel), (torch.zeros(64), 1, 2.0), {"BLOCK": 32})
    full = aligned(one)
    assert full["signature"]["n"] == "i32" and "n" not in full["constexprs"]
    assert full["constexprs"] == {"BLOCK": 32} and full["divisible"] == "all"


def test_real_compiler_accepts_and_reports(tmp_path):
    x = torch.zeros(64)
    record = describe(_python_fn(fixtures.scale_kernel), (x, 50, 2.0), {"BLOCK": 64, "num_warps": 2})
    proc, report = _check(tmp_path, [record])
    assert proc.returncode == 0, proc.stderr
    assert "0 failed" in proc.stdout
    text = report.read_text()
    assert "scale_kernel" in text and "BLOCK=64" in text


def test_real_compiler_rejects_what_the_interpreter_runs(tmp_path):
    x = torch.zeros(8)
    record = describe(_python_fn(fixtures.runtime_arange_kernel), (x, 8), {})
    proc, _ = _check(tmp_path, [record])
    assert proc.returncode == 1
    assert "runtime_arange_kernel" in proc.stderr and "FAILED sm_90" in proc.stderr


def test_gpu_compile_helper_compiles_and_fails_loudly():
    from tests.gpu_compile import compile_record, record

    row = compile_record(record(fixtures.scale_kernel, {"BLOCK": 64}, scalar="i32"), 90)
    assert row["reg"] and row["shared"] is not None
    rec = record(fixtures.runtime_arange_kernel, {})
    with pytest.raises(AssertionError, match="runtime_arange_kernel for sm_90"):
        compile_record(rec, 90)

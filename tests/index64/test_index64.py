"""64-bit offsets: builds tests/index64/index64_test.cpp against csrc/ with g++ and runs it (the
kernels' __host__ __device__ index math called at offsets past 2^31 and 2^32 on reserved,
mostly untouched memory; see the .cpp)."""
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).parent
CSRC = HERE.parent.parent / "csrc"


def test_index_math_past_2_31(tmp_path):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) on PATH")
    exe = tmp_path / "index64"
    build = subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Werror", "-I", str(CSRC),
                            str(HERE / "index64_test.cpp"), "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, f"index64_test.cpp does not compile:\n{build.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "all checks passed" in run.stdout, \
        f"index64_test exited with {run.returncode}:\n{run.stdout}{run.stderr}"

"""Finding nvcc and the static CUDA runtime, and the nvcc command line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

DEFAULT_CUDA_ARCHS = "80;90"
# No --use_fast_math: the kernels rely on IEEE expf/expm1 and exact comparisons. Hidden
# visibility as for the C++ side (pybind11's default): the module exports only PyInit__C.
NVCC_FLAGS = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden"]


class CudaUnavailable(Exception):
    """The CUDA part cannot be built: a one-line reason, plus the compiler log if any."""

    def __init__(self, reason: str, log: str = ""):
        super().__init__(reason)
        self.reason, self.log = reason, log


def cuda_archs() -> list[str]:
    archs = [a.strip() for a in os.environ.get("FASTGEN_CUDA_ARCHS", DEFAULT_CUDA_ARCHS).split(";")
             if a.strip()]
    if not archs:
        raise CudaUnavailable("FASTGEN_CUDA_ARCHS lists no architecture")
    return archs


def find_nvcc() -> str:
    for var in ("CUDA_HOME", "CUDA_PATH"):
        home = os.environ.get(var)
        if home:
            nvcc = os.path.join(home, "bin", "nvcc")
            if os.path.isfile(nvcc):
                return nvcc
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CudaUnavailable("nvcc not found (set CUDA_HOME or put nvcc on PATH)")
    return nvcc


def find_cudart_static(nvcc: str) -> str:
    """The directory holding libcudart_static.a, as nvcc itself reports it (robust to wrapper
    scripts and distro layouts), else the usual places next to nvcc."""
    try:
        dryrun = subprocess.run([nvcc, "--dryrun", "-c", "x.cu", "-o", "x.o"],
                                capture_output=True, text=True).stderr
    except OSError as exc:
        raise CudaUnavailable(f"{nvcc} cannot run ({exc})") from None
    dirs = re.findall(r'-L"?([^"\s]+)', " ".join(
        line for line in dryrun.splitlines() if "LIBRARIES=" in line))
    home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    dirs += [os.path.join(home, d) for d in ("lib64", "lib", "targets/x86_64-linux/lib")]
    for d in dirs:
        if os.path.isfile(os.path.join(d, "libcudart_static.a")):
            return os.path.normpath(d)
    raise CudaUnavailable(f"libcudart_static.a not found next to {nvcc}")


def gencode_flags(archs: list[str]) -> list[str]:
    flags = []
    for arch in archs:
        flags += ["-gencode", f"arch=compute_{arch},code=sm_{arch}"]
    last = archs[-1]
    return flags + ["-gencode", f"arch=compute_{last},code=compute_{last}"]


def nvcc_command(nvcc: str, src: str, obj: str, include_dirs: list[str], archs: list[str],
                 threads: int) -> list[str]:
    """Compile ``src`` to ``obj``, writing the headers it read to ``obj + '.d'`` (for ninja).
    ``threads``: nvcc compiles the gencode targets of one file in parallel."""
    return [nvcc, "-c", src, "-o", obj, *NVCC_FLAGS, *(f"-I{d}" for d in include_dirs),
            *gencode_flags(archs), "--threads", str(threads),
            "--generate-dependencies-with-compile", "--dependency-output", obj + ".d"]

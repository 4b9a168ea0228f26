"""Builds the extension ``fastgen._C``: C++17 + OpenMP kernels, plus CUDA kernels when nvcc works.

Metadata lives in pyproject.toml; this file only describes the extension. It never imports torch:
the extension takes raw pointers and stream handles as integers and does not link libtorch, so
one binary works with any torch version.

Environment:
  FASTGEN_BUILD_CUDA   unset: build CUDA when nvcc is found, else warn and build CPU-only.
                       0: CPU-only.  1: CUDA required (a missing nvcc or a failed compile is an
                       error, for CI jobs that must prove the CUDA code compiles).
  FASTGEN_CUDA_ARCHS   compute capabilities, ascending, default "80;90": SASS for each and PTX
                       for the last (which newer GPUs JIT-compile). "75;80;90" adds Turing.
  CUDA_HOME, CUDA_PATH where nvcc lives (bin/nvcc); else nvcc is looked up on PATH.
  FASTGEN_BUILD_JOBS   parallel compile jobs (default: all cores).
  FASTGEN_SANITIZE     e.g. "address,undefined": build the C++ side with those sanitizers (for
                       `make test-sanitize`; the CUDA side is left out, use compute-sanitizer).

A failed optional CUDA build never breaks the install: the extension is built CPU-only and
``_C.build_info()["cuda_missing_reason"]`` says why.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext, has_flag
from setuptools import setup

DEFAULT_CUDA_ARCHS = "80;90"
# No --use_fast_math: the kernels rely on IEEE expf/expm1 and exact comparisons. Hidden
# visibility as for the C++ side (pybind11's default): the module exports only PyInit__C.
NVCC_FLAGS = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden"]


def warn(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nfastgen: {message}\n{bar}\n", file=sys.stderr, flush=True)


class CudaUnavailable(Exception):
    """The CUDA part cannot be built: a one-line reason, plus the compiler log if any."""

    def __init__(self, reason: str, log: str = ""):
        super().__init__(reason)
        self.reason, self.log = reason, log


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


class BuildExt(build_ext):
    """pybind11's build_ext, plus OpenMP and the optional nvcc step.

    The .cu files are compiled to objects first (in parallel); on success they are linked into
    the same extension with the static CUDA runtime and FASTGEN_WITH_CUDA is defined for the C++
    side. Then the C++ sources are compiled (in parallel) and linked.
    """

    def build_extensions(self) -> None:
        for ext in self.extensions:
            self._add_openmp(ext)
            self._add_sanitizers(ext)
            self._add_cuda(ext)
        with ParallelCompile("FASTGEN_BUILD_JOBS"):
            super().build_extensions()

    def _add_openmp(self, ext: Pybind11Extension) -> None:
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args += ["/O2", "/openmp"]
            return
        ext.extra_compile_args += ["-O3"]
        if has_flag(self.compiler, "-fopenmp"):
            ext.extra_compile_args += ["-fopenmp"]
            ext.extra_link_args += ["-fopenmp"]
        else:
            warn("the C++ compiler does not accept -fopenmp: the CPU kernels run single-threaded.")

    def _add_sanitizers(self, ext: Pybind11Extension) -> None:
        sanitizers = os.environ.get("FASTGEN_SANITIZE", "").strip()
        if not sanitizers:
            return
        flags = [f"-fsanitize={sanitizers}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-g"]
        ext.extra_compile_args += flags
        ext.extra_link_args += flags
        print(f"fastgen: C++ kernels built with -fsanitize={sanitizers}", file=sys.stderr)

    def _add_cuda(self, ext: Pybind11Extension) -> None:
        mode = os.environ.get("FASTGEN_BUILD_CUDA", "").strip()
        if mode not in ("", "0", "1"):
            raise ValueError(f"FASTGEN_BUILD_CUDA must be unset, 0 or 1, not {mode!r}")
        try:
            if mode == "0":
                raise CudaUnavailable("disabled by FASTGEN_BUILD_CUDA=0")
            if not sys.platform.startswith("linux"):
                raise CudaUnavailable(f"the CUDA build supports Linux only, not {sys.platform}")
            archs = [a.strip() for a in
                     os.environ.get("FASTGEN_CUDA_ARCHS", DEFAULT_CUDA_ARCHS).split(";")
                     if a.strip()]
            if not archs:
                raise CudaUnavailable("FASTGEN_CUDA_ARCHS lists no architecture")
            nvcc = find_nvcc()
            lib_dir = find_cudart_static(nvcc)
            objects = self._nvcc_compile(nvcc, ext.cuda_sources, gencode_flags(archs))
        except CudaUnavailable as exc:
            if mode == "1":
                raise RuntimeError(f"FASTGEN_BUILD_CUDA=1 but {exc.reason}\n{exc.log}") from None
            if mode != "0":
                warn((exc.log + "\n" if exc.log else "") +
                     f"building WITHOUT CUDA: {exc.reason}.\nThe 'cuda' backend will be "
                     "unavailable; the CPU kernels are built as usual.")
            reason = exc.reason.replace("\\", "/").replace('"', "'")
            ext.define_macros.append(("FASTGEN_CUDA_MISSING_REASON", f'"{reason}"'))
            return
        print(f"fastgen: CUDA kernels built with {nvcc} for sm_{', sm_'.join(archs)}",
              file=sys.stderr)
        ext.extra_objects += objects
        ext.define_macros += [("FASTGEN_WITH_CUDA", None),
                              ("FASTGEN_CUDA_ARCHS", '"' + ";".join(archs) + '"')]
        ext.library_dirs.append(lib_dir)
        ext.libraries += ["cudart_static", "dl", "rt", "pthread"]

    def _nvcc_compile(self, nvcc: str, sources: list[str], gencode: list[str]) -> list[str]:
        out_dir = os.path.join(self.build_temp, "cuda")
        os.makedirs(out_dir, exist_ok=True)
        cpus = os.cpu_count() or 1
        jobs = max(1, min(len(sources), cpus))
        # nvcc --threads compiles the gencode targets of one file in parallel.
        threads = max(1, cpus // jobs)

        def compile_one(src: str) -> tuple[str, str, subprocess.CompletedProcess]:
            obj = os.path.join(out_dir, src.replace(os.sep, "_").replace(".cu", ".o"))
            cmd = [nvcc, "-c", src, "-o", obj, *NVCC_FLAGS, *gencode, "--threads", str(threads)]
            print(" ".join(cmd), file=sys.stderr, flush=True)
            return src, obj, subprocess.run(cmd, capture_output=True, text=True)

        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(compile_one, sources))
        failed = [(src, obj, p) for src, obj, p in results if p.returncode != 0]
        if failed:
            log = "\n".join(p.stdout + p.stderr for _, _, p in failed)
            first_error = next((line.strip() for line in log.splitlines() if "error" in line
                                or "fatal" in line), "see the log above")
            names = ", ".join(src for src, _, _ in failed)
            raise CudaUnavailable(f"nvcc failed on {names} ({first_error})", log[-4000:])
        for _, _, p in results:  # nvcc warnings
            if p.stdout.strip() or p.stderr.strip():
                print(p.stdout + p.stderr, file=sys.stderr)
        return [obj for _, obj, _ in results]


def sources(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern, recursive=True))


cuda_sources = sources("csrc/**/*.cu")
extension = Pybind11Extension(
    "fastgen._C",
    sources("csrc/**/*.cpp"),
    include_dirs=["csrc"],
    # Listed so that an sdist carries them and a header change triggers a rebuild.
    depends=sources("csrc/**/*.h") + sources("csrc/**/*.cuh") + cuda_sources,
    cxx_std=17,
)
extension.cuda_sources = cuda_sources

setup(ext_modules=[extension], cmdclass={"build_ext": BuildExt})

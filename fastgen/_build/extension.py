"""The setuptools side of the build: the extension ``fastgen._C`` and the command that builds it.

``BuildExt`` probes the C++ compiler first (it compiles a tiny file, so the check is what the
build would meet, not a guess from PATH). Without a working compiler, or when the C++ build
fails, the extension is skipped: one warning, an install that still succeeds, and
``_build_status.json`` next to where ``_C`` would be saying why and how to get it. With
``FASTGEN_REQUIRE_EXT=1`` (or ``FASTGEN_BUILD_CUDA=1``) the skip is an error instead.

On Unix the objects are compiled by :mod:`fastgen._build.compile` (ninja: parallel and
incremental), the .cu files first, since whether CUDA built decides the C++ side's macros; then
setuptools links them. Other compilers (MSVC) go through setuptools' own parallel compile.
"""
from __future__ import annotations

import glob
import os
import sys
import sysconfig
from shutil import which

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, has_flag
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

from . import status
from .compile import CompileFailed, Job, build_objects
from .cuda import CudaUnavailable, cuda_archs, find_cudart_static, find_nvcc, nvcc_command

INSTALL_CXX = "install a C++17 compiler (g++ or clang++, e.g. `apt-get install g++`) and run `fastgen build`"
PROBE_SOURCE = "#include <cstdint>\n#include <vector>\nint fastgen_probe() { return int(std::vector<std::int64_t>(3).size()); }\n"


def warn(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nfastgen: {message}\n{bar}\n", file=sys.stderr, flush=True)


class ExtensionSkipped(Exception):
    def __init__(self, reason: str, fix: str):
        super().__init__(reason)
        self.reason, self.fix = reason, fix


def extension(csrc_dir: str, build_base: str) -> Pybind11Extension:
    """``fastgen._C`` from the sources under ``csrc_dir`` (relative in setup.py, for the sdist),
    its objects kept under ``build_base``: a fixed place, not setuptools' build_temp, which
    editable installs make afresh each time (and incremental builds need the old objects)."""
    def find(suffix: str) -> list[str]:
        return sorted(glob.glob(os.path.join(csrc_dir, "**", "*" + suffix), recursive=True))

    ext = Pybind11Extension(
        "fastgen._C", find(".cpp"), include_dirs=[csrc_dir],
        # Listed so that an sdist carries them; ninja tracks the real header dependencies.
        depends=find(".h") + find(".cuh") + find(".cu"), cxx_std=17)
    ext.cuda_sources = find(".cu")
    ext.csrc_dir = csrc_dir
    sanitized = "-sanitize" if os.environ.get("FASTGEN_SANITIZE", "").strip() else ""
    ext.objects_dir = os.path.abspath(os.path.join(
        build_base, f"fastgen-objects-{sysconfig.get_platform()}-{sys.implementation.cache_tag}{sanitized}"))
    return ext


def build_jobs() -> int:
    return max(1, int(os.environ.get("FASTGEN_BUILD_JOBS") or os.cpu_count() or 1))


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        required = os.environ.get("FASTGEN_REQUIRE_EXT") == "1"
        for ext in self.extensions:
            ext_path = self.get_ext_fullpath(ext.name)
            try:
                self._probe_cxx()
                self._build(ext, ext_path)
            except ExtensionSkipped as exc:
                if required or os.environ.get("FASTGEN_BUILD_CUDA") == "1":
                    raise RuntimeError(f"fastgen._C cannot be built: {exc.reason}") from None
                warn(f"building fastgen WITHOUT its compiled extension: {exc.reason}.\n"
                     "The cpu and cuda backends will be unavailable; reference and triton work.\n"
                     f"To get them: {exc.fix}.")
                if os.path.exists(ext_path):  # never ship or import a stale build
                    os.remove(ext_path)
                status.write(os.path.dirname(ext_path), False, exc.reason, exc.fix)
                continue
            status.write(os.path.dirname(ext_path), True)

    def copy_extensions_to_source(self) -> None:
        """--inplace and editable installs: setuptools builds into build_lib, then copies the
        extension into the source package; the status file goes along, and a skipped build
        removes the stale extension there too."""
        package_dir = self.get_finalized_command("build_py").get_package_dir("fastgen")
        for ext in self.extensions:
            built = os.path.join(self.build_lib, self.get_ext_filename(self.get_ext_fullname(ext.name)))
            in_source = os.path.join(package_dir, os.path.basename(built))
            if os.path.exists(built):
                self.copy_file(built, in_source, level=self.verbose)
            elif os.path.exists(in_source):
                os.remove(in_source)
            self.copy_file(os.path.join(os.path.dirname(built), status.FILENAME),
                           os.path.join(package_dir, status.FILENAME), level=self.verbose)

    def _probe_cxx(self) -> None:
        """Compile a tiny C++17 file with the compiler the build will use."""
        probe_dir = os.path.join(self.build_temp, "probe")
        os.makedirs(probe_dir, exist_ok=True)
        src = os.path.join(probe_dir, "fastgen_probe.cpp")
        with open(src, "w") as f:
            f.write(PROBE_SOURCE)
        flag = "/std:c++17" if self.compiler.compiler_type == "msvc" else "-std=c++17"
        try:
            self.compiler.compile([src], output_dir=probe_dir, extra_postargs=[flag])
        except CompileError as exc:
            cxx = "cl.exe" if self.compiler.compiler_type == "msvc" else self._cxx()[0]
            if cxx != "cl.exe" and which(cxx) is None:
                raise ExtensionSkipped(f"no C++ compiler found at install time (`{cxx}` is not "
                                       "on PATH; set CXX to use another)", INSTALL_CXX) from None
            raise ExtensionSkipped(f"the C++ compiler `{cxx}` cannot compile a C++17 test file "
                                   f"({str(exc).strip()})", INSTALL_CXX) from None

    def _cxx(self) -> list:
        """The C++ compile command of setuptools' compiler (``compiler_so_cxx`` since setuptools
        72; before that ``compiler_so`` compiled C++ too)."""
        return list(getattr(self.compiler, "compiler_so_cxx", None) or self.compiler.compiler_so)

    def _build(self, ext: Pybind11Extension, ext_path: str) -> None:
        self._add_openmp(ext)
        self._add_sanitizers(ext)
        if self.compiler.compiler_type != "unix":
            self._add_cuda(ext, None)
            with ParallelCompile("FASTGEN_BUILD_JOBS"):
                build_ext.build_extension(self, ext)
            return
        build_dir = ext.objects_dir
        objects = self._add_cuda(ext, build_dir)
        cxx_jobs = [self._cxx_job(ext, src, build_dir) for src in ext.sources]
        try:
            build_objects(cxx_jobs, build_dir, build_jobs())
            self.compiler.link_shared_object(
                objects + [job.obj for job in cxx_jobs], ext_path,
                libraries=self.get_libraries(ext), library_dirs=ext.library_dirs,
                runtime_library_dirs=ext.runtime_library_dirs, extra_postargs=ext.extra_link_args,
                export_symbols=self.get_export_symbols(ext), build_temp=self.build_temp,
                target_lang="c++")
        except CompileFailed as exc:
            raise ExtensionSkipped(f"compiling {', '.join(exc.sources)} failed ({exc.first_error()})",
                                   "see the compiler output (`pip install -v .`), fix it and run "
                                   "`fastgen build`") from None
        except LinkError as exc:
            raise ExtensionSkipped(f"linking fastgen._C failed ({exc})",
                                   "see the linker output (`pip install -v .`), fix it and run "
                                   "`fastgen build`") from None

    def _object(self, ext: Pybind11Extension, src: str, build_dir: str) -> str:
        return os.path.join(build_dir, os.path.relpath(src, ext.csrc_dir) + ".o")

    def _cxx_job(self, ext: Pybind11Extension, src: str, build_dir: str) -> Job:
        from setuptools._distutils.ccompiler import gen_preprocess_options

        obj = self._object(ext, src, build_dir)
        macros = ext.define_macros + [(name,) for name in ext.undef_macros]
        include_dirs = [os.path.abspath(d) for d in self.compiler.include_dirs + ext.include_dirs]
        command = [*self._cxx(), "-c", os.path.abspath(src), "-o", obj,
                   *gen_preprocess_options(macros, include_dirs), *ext.extra_compile_args,
                   "-MMD", "-MF", obj + ".d"]
        return Job(os.path.abspath(src), obj, command, "c++")

    def _compile_cuda(self, ext: Pybind11Extension, build_dir: str) -> tuple:
        """Compile the .cu files: (objects, archs, directory of libcudart_static.a)."""
        archs = cuda_archs()
        nvcc = find_nvcc()
        lib_dir = find_cudart_static(nvcc)
        cpus = os.cpu_count() or 1
        threads = max(1, cpus // max(1, min(len(ext.cuda_sources), cpus)))
        include_dirs = [os.path.abspath(d) for d in ext.include_dirs]
        jobs = []
        for src in map(os.path.abspath, ext.cuda_sources):
            obj = self._object(ext, src, build_dir)
            jobs.append(Job(src, obj, nvcc_command(nvcc, src, obj, include_dirs, archs, threads), "nvcc"))
        try:
            build_objects(jobs, build_dir, build_jobs())
        except CompileFailed as exc:
            names = ", ".join(os.path.relpath(s, ext.csrc_dir) for s in exc.sources)
            raise CudaUnavailable(f"nvcc failed on {names} ({exc.first_error()})", exc.log) from None
        print(f"fastgen: CUDA kernels built with {nvcc} for sm_{', sm_'.join(archs)}", file=sys.stderr)
        return [job.obj for job in jobs], archs, lib_dir

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
        # -O1 (after _add_openmp's -O3, so it wins): ASan's usual level, and a much faster compile
        ext.extra_compile_args += flags + ["-O1"]
        ext.extra_link_args += flags
        print(f"fastgen: C++ kernels built with -fsanitize={sanitizers}", file=sys.stderr)

    def _add_cuda(self, ext: Pybind11Extension, build_dir: str | None) -> list:
        """Compile the CUDA objects into ``build_dir`` if wanted and possible (None: this
        compiler cannot), set the macros and libraries that follow, and return the objects
        ([] for a CPU-only build)."""
        mode = os.environ.get("FASTGEN_BUILD_CUDA", "").strip()
        if mode not in ("", "0", "1"):
            raise ValueError(f"FASTGEN_BUILD_CUDA must be unset, 0 or 1, not {mode!r}")
        try:
            if mode == "0":
                raise CudaUnavailable("disabled by FASTGEN_BUILD_CUDA=0")
            if not sys.platform.startswith("linux") or build_dir is None:
                raise CudaUnavailable(f"the CUDA build supports Linux only, not {sys.platform}")
            objects, archs, lib_dir = self._compile_cuda(ext, build_dir)
        except CudaUnavailable as exc:
            if mode == "1":
                raise RuntimeError(f"FASTGEN_BUILD_CUDA=1 but {exc.reason}\n{exc.log}") from None
            if mode != "0":
                warn((exc.log + "\n" if exc.log else "") +
                     f"building WITHOUT CUDA: {exc.reason}.\nThe 'cuda' backend will be "
                     "unavailable; the CPU kernels are built as usual.")
            reason = exc.reason.replace("\\", "/").replace('"', "'")
            ext.define_macros.append(("FASTGEN_CUDA_MISSING_REASON", f'"{reason}"'))
            return []
        ext.define_macros += [("FASTGEN_WITH_CUDA", None),
                              ("FASTGEN_CUDA_ARCHS", '"' + ";".join(archs) + '"')]
        ext.library_dirs.append(lib_dir)
        ext.libraries += ["cudart_static", "dl", "rt", "pthread"]
        return objects

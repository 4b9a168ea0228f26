"""``fastgen build``: (re)build fastgen._C in place, where this fastgen is imported from.

In a source checkout (setup.py and csrc/ next to the package) it builds from csrc/ into the
package, sharing setup.py's object directory (build/) and so its up-to-date objects. In an installed
package it builds from the copy of csrc/ that the wheel ships as fastgen/_csrc/, with objects
kept in ~/.cache/fastgen so that a second run (another FASTGEN_CUDA_ARCHS, say) is incremental.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_layout() -> tuple:
    """(csrc directory, directory for the objects): raises FileNotFoundError when there are no sources."""
    root = os.path.dirname(PACKAGE_DIR)
    if os.path.isfile(os.path.join(root, "setup.py")) and os.path.isdir(os.path.join(root, "csrc")):
        return os.path.join(root, "csrc"), os.path.join(root, "build")
    shipped = os.path.join(PACKAGE_DIR, "_csrc")
    if not os.path.isdir(shipped):
        raise FileNotFoundError(f"no C++ sources: neither {root}/csrc nor {shipped} exists; "
                                "reinstall fastgen from a wheel or an sdist of this version")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha1(f"{PACKAGE_DIR} {sys.version}".encode()).hexdigest()[:12]
    return shipped, os.path.join(cache, "fastgen", f"build-{key}")


def build(cuda_archs: str | None = None, cpu_only: bool = False, jobs: int | None = None) -> int:
    """Build the extension; print why not and return non-zero when it cannot be built."""
    missing = [m for m in ("setuptools", "pybind11") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"fastgen build needs {' and '.join(missing)}: pip install setuptools pybind11 ninja",
              file=sys.stderr)
        return 2
    if not os.access(PACKAGE_DIR, os.W_OK):
        print(f"fastgen build: {PACKAGE_DIR} is not writable (run it as the user who installed "
              "fastgen, or in a virtual environment)", file=sys.stderr)
        return 2
    try:
        csrc, build_dir = source_layout()
    except FileNotFoundError as exc:
        print(f"fastgen build: {exc}", file=sys.stderr)
        return 2
    # An explicit build fails loudly rather than skipping the extension.
    os.environ["FASTGEN_REQUIRE_EXT"] = "1"
    if cuda_archs:
        os.environ["FASTGEN_CUDA_ARCHS"] = cuda_archs
    if cpu_only:
        os.environ["FASTGEN_BUILD_CUDA"] = "0"
    if jobs:
        os.environ["FASTGEN_BUILD_JOBS"] = str(jobs)

    from setuptools import Distribution

    from .extension import BuildExt, extension

    cwd = os.getcwd()
    scratch = tempfile.TemporaryDirectory(prefix="fastgen-build-")
    os.chdir(scratch.name)  # setuptools' own build/ (the link, then a copy in place) goes here
    try:
        dist = Distribution({"name": "fastgen", "package_dir": {"fastgen": PACKAGE_DIR},
                             "ext_modules": [extension(csrc, build_dir)], "cmdclass": {"build_ext": BuildExt}})
        dist.get_command_obj("build_ext").inplace = 1
        dist.run_command("build_ext")
    except Exception as exc:  # setuptools' and our own build errors all say what failed
        print(f"fastgen build failed: {exc}", file=sys.stderr)
        return 1
    finally:
        os.chdir(cwd)
        scratch.cleanup()
    print(f"fastgen build: fastgen._C is up to date in {PACKAGE_DIR}", file=sys.stderr)
    return 0

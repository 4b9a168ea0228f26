"""Loads the compiled extension ``fastgen._C`` once and remembers why it is missing.

The extension holds the C++ (OpenMP) and CUDA kernels. It is optional: ``import fastgen`` works
without it, and the ``cpu``/``cuda`` backends then report the reason recorded here: the one the
build wrote to ``fastgen/_build_status.json`` when it skipped the extension (e.g. no C++
compiler at install time), else the import error. Each reason ends with how to get the backend.
``FASTGEN_EXTENSION=/path/to/_C.so`` loads that build instead of the installed one (``make
test-sanitize`` uses it for the sanitizer build).
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
import warnings

from fastgen._build import status

BUILD_HINT = "run `fastgen build` (needs a C++17 compiler; nvcc too for the cuda backend)"
CUDA_HINT = ("install the CUDA toolkit (nvcc on PATH, or CUDA_HOME) and run `fastgen build` "
             "(FASTGEN_CUDA_ARCHS picks the GPU architectures, default \"80;90\")")


class ExtensionUnavailable(RuntimeError):
    """Raised when the compiled extension is needed but could not be loaded."""


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def missing_reason(exc: Exception, package_dir: str = PACKAGE_DIR) -> str:
    """Why ``import fastgen._C`` raised ``exc``, and how to get the extension."""
    recorded = status.read(package_dir)
    if recorded is not None and not recorded["built"]:
        return f"fastgen._C was not built: {recorded['reason']}; {recorded['fix']}"
    if isinstance(exc, ModuleNotFoundError) and exc.name == "fastgen._C":
        return f"fastgen._C is not built (no build has run in this source tree); {BUILD_HINT}"
    return f"fastgen._C could not be imported ({type(exc).__name__}: {exc}); {BUILD_HINT}"


@functools.lru_cache(maxsize=None)
def _load():
    try:
        path = os.environ.get("FASTGEN_EXTENSION")
        if path:
            spec = importlib.util.spec_from_file_location("fastgen._C", path)
            if spec is None:
                raise ImportError(f"FASTGEN_EXTENSION={path} is not a loadable extension")
            _C = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(_C)
            sys.modules["fastgen._C"] = _C
        else:
            from fastgen import _C  # noqa: F401  (built by setup.py or `fastgen build`)
    except Exception as exc:  # ImportError, or an OSError from a missing shared library
        reason = missing_reason(exc)
        # Once per process: pip hides the build's own warning unless run with -v.
        warnings.warn(reason + ". Ops on CPU tensors run on the reference backend.",
                      RuntimeWarning, stacklevel=3)
        return None, reason
    return _C, None


def get_ext():
    """Return the ``fastgen._C`` module, or raise :class:`ExtensionUnavailable` saying why."""
    mod, reason = _load()
    if mod is None:
        raise ExtensionUnavailable(reason)
    return mod


def ext_reason() -> str | None:
    """Why the extension is unavailable (with how to fix it), or None when it loaded."""
    return _load()[1]


def build_info() -> dict:
    """What the extension was built with: {'cuda': bool, 'openmp': bool, ...}; {} when missing."""
    mod, _ = _load()
    return dict(mod.build_info()) if mod is not None else {}

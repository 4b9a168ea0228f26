"""Loads the compiled extension ``fastgen._C`` once and remembers why it is missing.

The extension holds the C++ (OpenMP) and CUDA kernels. It is optional: ``import fastgen`` works
without it, and the ``cpu``/``cuda`` backends then report the reason recorded here.
``FASTGEN_EXTENSION=/path/to/_C.so`` loads that build instead of the installed one (``make
test-sanitize`` uses it for the sanitizer build).
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys


class ExtensionUnavailable(RuntimeError):
    """Raised when the compiled extension is needed but could not be loaded."""


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
            from fastgen import _C  # noqa: F401  (built by setup.py)
    except Exception as exc:  # ImportError, or an OSError from a missing shared library
        return None, f"fastgen._C could not be imported ({type(exc).__name__}: {exc})"
    return _C, None


def get_ext():
    """Return the ``fastgen._C`` module, or raise :class:`ExtensionUnavailable` saying why."""
    mod, reason = _load()
    if mod is None:
        raise ExtensionUnavailable(
            reason + ". Rebuild it with `pip install --no-build-isolation -e .` "
            "(set FASTGEN_BUILD_CUDA=0 for a CPU-only build).")
    return mod


def ext_reason() -> str | None:
    """Why the extension is unavailable, or None when it loaded."""
    return _load()[1]


def build_info() -> dict:
    """What the extension was built with: {'cuda': bool, 'openmp': bool, ...}; {} when missing."""
    mod, _ = _load()
    return dict(mod.build_info()) if mod is not None else {}

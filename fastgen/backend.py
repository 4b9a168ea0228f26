"""Backend registry: which implementation of an op runs, and why another one cannot.

Every public op takes ``backend=`` with one of:

========== ===================================== ==============================================
name       runs on                               provided by
========== ===================================== ==============================================
reference  any device                            plain PyTorch (the definition of correct)
cpu        CPU tensors                           ``fastgen._C``: C++17 + OpenMP
cuda       CUDA tensors                          ``fastgen._C``: CUDA kernels (sm_80, sm_90, PTX)
triton     CUDA tensors (CPU with                Triton JIT kernels, nothing to build
           ``TRITON_INTERPRET=1``)
========== ===================================== ==============================================

``"auto"`` (the default) is overridden by the ``FASTGEN_BACKEND`` environment variable; otherwise
a CUDA tensor gets ``cuda`` if built, else ``triton``, else ``reference``, and a CPU tensor gets
``cpu`` if built, else ``reference``. A backend asked for by name that cannot run raises
:class:`BackendUnavailableError` saying why and how to fix it: there is never a silent fallback.
"""
from __future__ import annotations

import functools
import importlib
import os
import warnings
from dataclasses import dataclass

import torch

from fastgen import _ext

BACKENDS = ("reference", "cpu", "cuda", "triton")


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run this op on these tensors; the message says why and what to do."""


@dataclass(frozen=True)
class OpInfo:
    name: str
    family: str
    backends: tuple  # backend names that implement the op
    missing: tuple = ()  # (backend, why it does not implement the op) pairs


_OPS: dict = {}


def register_op(name: str, family: str, backends=BACKENDS, missing: dict | None = None) -> None:
    """Declare a public op, the backends that implement it and, in ``missing``, why each of the
    others does not (shown by :func:`info` and in the error for a backend asked for by name)."""
    _OPS[name] = OpInfo(name, family, tuple(backends), tuple((missing or {}).items()))


def registered_ops() -> list:
    return list(_OPS.values())


@functools.lru_cache(maxsize=None)
def _triton_import_error() -> str | None:
    try:
        import triton  # noqa: F401
    except Exception as exc:
        return f"triton is not importable ({type(exc).__name__}: {exc}); `pip install triton`"
    return None


def _triton_interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def backend_status(name: str, device_type: str) -> tuple:
    """(available, reason) for running backend ``name`` on tensors of ``device_type`` ('cpu'/'cuda')."""
    if name == "reference":
        return True, "plain PyTorch"
    if name == "cpu":
        if device_type != "cpu":
            return False, f"the cpu backend runs on CPU tensors only, these are on {device_type}"
        reason = _ext.ext_reason()
        return (False, reason) if reason else (True, "C++/OpenMP")
    if name == "cuda":
        if device_type != "cuda":
            return False, f"the cuda backend runs on CUDA tensors only, these are on {device_type}"
        reason = _ext.ext_reason()
        if reason:
            return False, reason
        build = _ext.build_info()
        if not build.get("cuda", False):
            why = build.get("cuda_missing_reason") or "FASTGEN_BUILD_CUDA=0 or no nvcc at build time"
            return False, f"fastgen._C was built without CUDA ({why}); {_ext.CUDA_HINT}"
        if not torch.cuda.is_available():
            return False, "torch sees no CUDA device"
        return True, "CUDA kernels"
    if name == "triton":
        reason = _triton_import_error()
        if reason:
            return False, reason
        if device_type == "cpu" and not _triton_interpreted():
            return False, "Triton needs CUDA tensors, or TRITON_INTERPRET=1 to interpret kernels on the CPU"
        if device_type == "cuda" and _triton_interpreted():
            return False, "TRITON_INTERPRET=1 is set: the interpreter runs on CPU tensors only"
        if device_type == "cuda" and not torch.cuda.is_available():
            return False, "torch sees no CUDA device (set TRITON_INTERPRET=1 to interpret on the CPU)"
        return True, "Triton JIT" + (" (interpreter)" if device_type == "cpu" else "")
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(('auto',) + BACKENDS)}")


def available_backends(device) -> list:
    """The backend names that can run on tensors of ``device`` (a torch.device or string)."""
    device_type = torch.device(device).type
    return [b for b in BACKENDS if backend_status(b, device_type)[0]]


def resolve(op: str, backend: str | None, device: torch.device) -> str:
    """Pick the backend for one call of ``op`` on tensors of ``device``; raise if it cannot run."""
    from_env = backend in (None, "auto")
    requested = (os.environ.get("FASTGEN_BACKEND", "auto") or "auto") if from_env else backend
    return _resolve(op, requested, device.type, from_env)


@torch.compiler.assume_constant_result  # evaluated once while tracing: no graph break under torch.compile
def _resolve(op: str, requested: str, device_type: str, from_env: bool) -> str:
    if requested != "auto" and requested not in BACKENDS:
        raise ValueError(f"{op}: unknown backend {requested!r}; choose one of "
                         f"{', '.join(('auto',) + BACKENDS)}")
    supported = _OPS[op].backends if op in _OPS else BACKENDS
    if requested == "auto":
        order = ("cuda", "triton") if device_type == "cuda" else ("cpu",)
        for cand in order:
            if cand in supported and backend_status(cand, device_type)[0]:
                return cand
        return "reference"
    if requested not in supported:
        why = dict(_OPS[op].missing).get(requested) if op in _OPS else None
        raise BackendUnavailableError(
            f"{op}: backend {requested!r} does not implement this op" + (f" ({why})" if why else "")
            + f"; it has: {', '.join(supported)}")
    ok, reason = backend_status(requested, device_type)
    if not ok:
        source = " (from FASTGEN_BACKEND)" if from_env else ""
        raise BackendUnavailableError(f"{op}: backend {requested!r}{source} is unavailable: {reason}")
    return requested


def kernels(family: str, backend: str):
    """The kernel module of ``family`` for ``backend``: ``native`` for cpu/cuda, ``triton`` for triton."""
    module = {"cpu": "native", "cuda": "native", "triton": "triton"}[backend]
    return importlib.import_module(f"fastgen.ops.{family}.{module}")


def info(file=None) -> str:
    """Print and return the op x backend availability table, with the reason for each missing one.

    Each backend is judged on the device it serves: ``cpu`` on CPU tensors, ``cuda`` on CUDA
    tensors, ``triton`` on CUDA tensors (or CPU ones under ``TRITON_INTERPRET=1``).
    """
    import fastgen
    import fastgen.gan  # noqa: F401  (importing the namespaces registers every op)
    import fastgen.nerf  # noqa: F401

    with warnings.catch_warnings():  # the table below states the same reason
        warnings.simplefilter("ignore", RuntimeWarning)
        _ext.ext_reason()
    triton_device = "cpu" if _triton_interpreted() else "cuda"
    device_of = {"reference": "cpu", "cpu": "cpu", "cuda": "cuda", "triton": triton_device}
    status = {b: backend_status(b, device_of[b]) for b in BACKENDS}
    build = _ext.build_info()
    lines = [f"fastgen {getattr(fastgen, '__version__', '?')} | torch {torch.__version__} | "
             f"CUDA device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}",
             f"fastgen._C: {'loaded ' + str(build) if build else _ext.ext_reason()}", "",
             "backends:"]
    for b in BACKENDS:
        ok, reason = status[b]
        lines.append(f"  {b:<10} {'available  ' if ok else 'unavailable'}  {reason}")
    lines += ["", "ops (yes = implemented and available here, - = not implemented by that backend):"]
    header = f"  {'op':<44}" + "".join(f"{b:<11}" for b in BACKENDS)
    lines.append(header)
    for op in sorted(_OPS.values(), key=lambda o: (o.family, o.name)):
        cells = []
        for b in BACKENDS:
            if b not in op.backends:
                cells.append("-")
            else:
                cells.append("yes" if status[b][0] else "no")
        lines.append(f"  {op.family + '.' + op.name:<44}" + "".join(f"{c:<11}" for c in cells))
    notes = [f"  {op.name} has no {b} backend: {why}" for op in sorted(_OPS.values(), key=lambda o: o.name)
             for b, why in op.missing]
    if notes:
        lines += ["", "why an op lacks a backend:", *notes]
    text = "\n".join(lines)
    print(text, file=file)
    return text

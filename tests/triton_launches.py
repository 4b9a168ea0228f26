"""Records every Triton kernel launch the test run makes under ``TRITON_INTERPRET=1``.

The interpreter accepts code that Triton's compiler rejects (dtype mixing in ``tl.dot``,
non-constexpr shapes, wrong-rank blocks...). So that CI catches those, each launch is written down
as the compiler would specialise it (argument types, which integers and pointers are 16-divisible,
integers equal to 1, constexprs, launch options) and ``scripts/compile_triton.py`` later compiles
every distinct configuration with the real compiler for sm_80 and sm_90.

Active only when ``FASTGEN_TRITON_LAUNCHES`` names a folder (``make test`` sets it); each process
(xdist worker) appends its distinct launches to its own ``launches-<pid>.jsonl`` there.
"""
from __future__ import annotations

import inspect
import json
import os

import torch

_TENSOR_TYPES = {
    torch.float64: "fp64", torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16",
    torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
    torch.bool: "i1",
}
# Keyword arguments of a launch that are compiler options, not kernel parameters.
_OPTIONS = ("num_warps", "num_stages", "num_ctas", "enable_fp_fusion", "maxnreg")


def _is_constexpr(param: inspect.Parameter) -> bool:
    ann = param.annotation
    if isinstance(ann, str):
        return ann.split(".")[-1] == "constexpr"
    return getattr(ann, "__name__", "") == "constexpr"


def _constexpr_value(value):
    """A JSON form of a constexpr value that scripts/compile_triton.py turns back into it."""
    import triton.language as tl

    if isinstance(value, tl.constexpr):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tl.dtype):
        return {"tl_dtype": value.name}
    raise TypeError(f"cannot record constexpr value {value!r} of type {type(value).__name__}")


def describe(fn, args, kwargs) -> dict:
    """The compiler's view of one launch of the Python kernel function ``fn``."""
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in _OPTIONS}
    sig = inspect.signature(fn)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    signature, constexprs, divisible, ones = {}, {}, [], []
    for i, (name, param) in enumerate(sig.parameters.items()):
        value = bound.arguments[name]
        if _is_constexpr(param):
            signature[name] = "constexpr"
            constexprs[name] = _constexpr_value(value)
        elif isinstance(value, torch.Tensor):
            if value.dtype not in _TENSOR_TYPES:
                raise TypeError(f"{fn.__name__}: tensor argument {name} of dtype {value.dtype}")
            signature[name] = "*" + _TENSOR_TYPES[value.dtype]
            if value.data_ptr() % 16 == 0:
                divisible.append(i)
        elif value is None:
            signature[name] = "constexpr"
            constexprs[name] = None
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            if value == 1:  # the launcher specialises integers equal to 1 as constants
                signature[name] = "constexpr"
                constexprs[name] = 1
                ones.append(name)
                continue
            signature[name] = "i32" if -2**31 <= value < 2**31 else "i64"
            if value % 16 == 0:
                divisible.append(i)
        elif isinstance(value, float):
            signature[name] = "fp32"
        else:
            raise TypeError(f"{fn.__name__}: argument {name} of type {type(value).__name__}")
    return {"module": fn.__module__, "name": fn.__qualname__, "signature": signature,
            "constexprs": constexprs, "divisible": divisible, "options": options, "ones": ones}


def install(folder: str) -> None:
    """Wrap the interpreter's launch so that each distinct launch configuration is recorded."""
    from triton.runtime.interpreter import InterpretedFunction

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"launches-{os.getpid()}.jsonl")
    seen: set = set()
    run = InterpretedFunction.run

    def recording_run(self, *args, grid, warmup, **kwargs):
        try:
            record = describe(self.fn, args, dict(kwargs))
        except TypeError as exc:  # reported as a failure by scripts/compile_triton.py, never here
            record = {"module": self.fn.__module__, "name": self.fn.__qualname__, "error": str(exc)}
        record = json.dumps(record, sort_keys=True)
        if record not in seen:
            seen.add(record)
            with open(path, "a") as f:
                f.write(record + "\n")
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    InterpretedFunction.run = recording_run

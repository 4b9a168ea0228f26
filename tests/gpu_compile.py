"""Compile one Triton kernel configuration with Triton's real compiler from a test, no GPU needed.

A test builds the launch record (the format tests/triton_launches.py writes) with :func:`record`
and compiles it with :func:`compile_record`, which runs ``scripts/compile_triton.compile_one`` (the
same code ``make test`` compiles the recorded launches with) in a child process: under
TRITON_INTERPRET=1 the test process holds the interpreter's kernels, which the compiler cannot take.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CHILD = ("import json, sys; sys.path.insert(0, 'scripts'); from compile_triton import compile_one; "
          "print(json.dumps(compile_one((json.loads(sys.argv[1]), int(sys.argv[2])))))")


def record(fn, constexprs: dict, ptrs: dict | None = None, default_ptr: str = "*fp32", num_warps: int = 4,
           scalar: str = "i32") -> dict:
    """The launch record of ``fn`` (a @triton.jit kernel) with every pointer typed (``ptrs`` by
    parameter name, else ``default_ptr``), the other run-time arguments ``scalar``, and every
    pointer and integer 16-divisible, as the full-size GPU runs specialise them."""
    fn = getattr(fn, "fn", fn)
    fn = getattr(fn, "fn", fn) if not hasattr(fn, "__code__") else fn
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    signature = {n: "constexpr" if n in constexprs else (ptrs or {}).get(n, default_ptr) if n.endswith("_ptr")
                 else scalar for n in names}
    return {"module": fn.__module__, "name": fn.__name__, "signature": signature,
            "constexprs": dict(constexprs), "options": {"num_warps": num_warps}, "divisible": "all"}


def compile_record(rec: dict, cc: int) -> dict:
    """Compile ``rec`` for sm_``cc``; the result row (registers, spills, shared memory), or an
    AssertionError with the compiler's message."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(rec), str(cc)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in row, f"{rec['name']} for sm_{cc}: {row['error']}"
    return row

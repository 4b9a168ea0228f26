"""Compile every recorded Triton launch configuration with Triton's real compiler, no GPU needed.

    python scripts/compile_triton.py build/triton-launches [--archs 80,90] [--report FILE] [--jobs N]

The input folder holds the ``launches-*.jsonl`` files that ``tests/triton_launches.py`` writes when
the test suite runs under ``TRITON_INTERPRET=1`` with ``FASTGEN_TRITON_LAUNCHES`` set (``make
test`` does). Each distinct configuration is compiled to cubin for every architecture with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", cc, 32))``. The report (markdown) lists
registers, stack, local memory (spills) and shared memory per kernel and configuration, read off
the cubin with cuobjdump. Exit status 1 when any configuration fails to compile, needs more shared
memory than the architecture has, or could not be recorded.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout

# Shared memory one block may use (opt-in maximum), bytes.
SHARED_LIMIT = {80: 163 * 1024, 86: 99 * 1024, 89: 99 * 1024, 90: 227 * 1024}


def _float_class(value):
    """Float constexprs (epsilons, gains) take random values in tests; code generation depends on
    which branch they select, so one value per class is compiled: zero, negative, positive."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return 0.0 if value == 0 else (-0.5 if value < 0 else 0.5)
    return value


def aligned(record: dict) -> dict:
    """The record with every pointer and integer argument 16-divisible: how the full-size GPU
    benchmarks launch (power-of-two sizes, 256-byte aligned CUDA allocations), which the test
    suite's small, ragged sizes under the interpreter rarely do. Integers the launcher specialised
    because they were 1 in a test (``ones``) are run-time i32 arguments there."""
    ones = record.get("ones", [])
    signature = {k: ("i32" if k in ones else t) for k, t in record["signature"].items()}
    constexprs = {k: v for k, v in record["constexprs"].items() if k not in ones}
    return {**record, "signature": signature, "constexprs": constexprs, "ones": [],
            "divisible": "all"}  # resolved in parameter order by compile_one


def load(folder: str, with_aligned: bool = True, aligned_only: bool = False) -> list[dict]:
    """The distinct launch configurations recorded in ``folder`` (plus their aligned variants);
    ``aligned_only``: one per kernel, argument types, constexprs and options, its aligned variant
    (the quick check of ``make test``: whether a kernel compiles rarely depends on divisibility)."""
    records = {}
    for path in sorted(glob.glob(os.path.join(folder, "launches-*.jsonl"))):
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    record["constexprs"] = {k: _float_class(v) for k, v in record.get("constexprs", {}).items()}
                    if aligned_only and "error" not in record:
                        variants = [aligned(record)]
                    elif with_aligned and "error" not in record:
                        variants = [record, aligned(record)]
                    else:
                        variants = [record]
                    for r in variants:
                        records[json.dumps(r, sort_keys=True)] = r
    return sorted(records.values(), key=lambda r: (r["module"], r["name"], json.dumps(r, sort_keys=True)))


def _constexpr(value):
    if isinstance(value, dict) and "tl_dtype" in value:
        import triton.language as tl

        return getattr(tl, {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}
                       .get(value["tl_dtype"], value["tl_dtype"]))
    return value


def _resources(cubin: bytes, cuobjdump: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([cuobjdump, "--dump-resource-usage", f.name], capture_output=True, text=True).stdout
    usage = {}
    for key in ("REG", "STACK", "SHARED", "LOCAL"):
        m = re.search(rf"\b{key}:(\d+)", out)
        usage[key.lower()] = int(m.group(1)) if m else None
    return usage


def compile_one(job: tuple) -> dict:
    """Compile one record for one architecture; returns the record's result row."""
    record, cc = job
    os.environ.pop("TRITON_INTERPRET", None)  # the real JITFunction, not the interpreter's
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, said explicitly
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    row = {"kernel": f"{record['module']}.{record['name']}", "cc": cc}
    if "error" in record:
        return {**row, "error": "not recorded: " + record["error"]}
    try:
        fn = getattr(importlib.import_module(record["module"]), record["name"])
        fn = getattr(fn, "fn", fn) if not isinstance(fn, triton.runtime.JITFunction) else fn
        constexprs = {k: _constexpr(v) for k, v in record["constexprs"].items()}
        signature = {name: record["signature"][name] for name in fn.arg_names}  # parameter order
        divisible = record["divisible"]
        if divisible == "all":
            divisible = [i for i, t in enumerate(signature.values()) if t.startswith("*") or t in ("i32", "i64")]
        attrs = {(i,): [["tt.divisibility", 16]] for i in divisible}
        src = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
        compiled = triton.compile(src, target=GPUTarget("cuda", cc, 32), options=dict(record["options"]))
    except Exception as exc:  # the compiler's own message is the point of this script
        msg = " ".join(str(exc).split())
        return {**row, "error": f"{type(exc).__name__}: {msg[:600]}"}
    from triton.backends.nvidia.compiler import get_ptxas  # noqa: F401 (ensures the nvidia backend)

    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    usage = _resources(compiled.asm["cubin"], cuobjdump)
    shared = compiled.metadata.shared
    row.update(usage, shared=shared, num_warps=compiled.metadata.num_warps)
    limit = SHARED_LIMIT.get(cc)
    if limit is not None and shared > limit:
        row["error"] = f"needs {shared} bytes of shared memory, sm_{cc} has {limit}"
    return row


def describe(record: dict) -> str:
    parts = [f"{k}={v}" for k, v in sorted(record.get("constexprs", {}).items())]
    types = sorted({t for t in record.get("signature", {}).values() if t != "constexpr"})
    parts.append("types " + "/".join(types))
    if record.get("divisible") == "all":
        parts.append("div16 all")
    elif record.get("divisible"):
        parts.append(f"div16 {len(record['divisible'])}")
    return ", ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--archs", default="80,90")
    parser.add_argument("--report", default=None, help="write the markdown resource report here")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    variants = parser.add_mutually_exclusive_group()
    variants.add_argument("--no-aligned", action="store_true",
                          help="only the recorded specialisations, not also their all-16-divisible variants")
    variants.add_argument("--aligned-only", action="store_true",
                          help="only the all-16-divisible variant of each kernel x types x constexprs (quick)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="stop after this many seconds; what was not compiled by then is listed, not failed")
    ns = parser.parse_args(argv)
    records = load(ns.folder, with_aligned=not ns.no_aligned, aligned_only=ns.aligned_only)
    if not records:
        try:
            import triton  # noqa: F401
        except ImportError:
            print("compile_triton: triton is not installed, nothing to compile")
            return 0
        print(f"compile_triton: no launches recorded in {ns.folder}", file=sys.stderr)
        return 1
    archs = [int(a) for a in ns.archs.split(",")]
    jobs = [(r, cc) for r in _round_robin(records) for cc in archs]
    done, unfinished = run_jobs(jobs, ns.jobs, ns.budget_s)
    failures = [(r, row) for (r, _), row in done if "error" in row]
    kernels = sorted({row["kernel"] for _, row in done})
    print(f"compile_triton: {len(records)} launch configurations, {len(done)} of {len(jobs)} compiles for "
          f"sm_{', sm_'.join(map(str, archs))} done ({len(kernels)} kernels): {len(failures)} failed")
    if unfinished:
        names = sorted({f"{r['module']}.{r['name']}" for (r, _) in unfinished})
        print(f"compile_triton: {len(unfinished)} compiles not done within --budget-s {ns.budget_s:g} "
              f"(slow to compile, or queued behind those): {', '.join(names)}")
    for record, row in failures:
        print(f"  FAILED sm_{row['cc']} {row['kernel']} [{describe(record)}]: {row['error']}", file=sys.stderr)
    if ns.report:
        write_report(ns.report, done, max(archs))
    return 1 if failures else 0


def _round_robin(records: list) -> list:
    """Every kernel's first configuration, then every kernel's second, ...: under a time budget
    each kernel gets compiled at least once before any gets its hundredth."""
    by_kernel: dict = {}
    for r in records:
        by_kernel.setdefault((r["module"], r["name"]), []).append(r)
    queues = list(by_kernel.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def run_jobs(jobs: list, n_workers: int, budget_s: float | None) -> tuple:
    """Compile ``jobs`` on ``n_workers`` processes: ([(job, row)] done, [job] not done in time).
    At the budget the workers are killed: a compile stuck in LLVM cannot be interrupted."""
    pool = ProcessPoolExecutor(n_workers)
    futures = {pool.submit(compile_one, job): job for job in jobs}
    done = []
    try:
        for future in as_completed(futures, timeout=budget_s):
            done.append((futures[future], future.result()))
    except FuturesTimeout:
        for process in list(pool._processes.values()):
            process.kill()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    finished = {id(job) for job, _ in done}
    return done, [job for job in jobs if id(job) not in finished]


def write_report(path: str, done: list, cc: int) -> None:
    lines = [f"# Triton kernels compiled for sm_{cc}",
             "",
             "Regenerate with `make kernel-report` (the test suite's launch configurations, compiled by",
             "`scripts/compile_triton.py`). reg: registers per thread; stack and local: bytes per thread",
             "(local > 0 means spills); shared: bytes per block.",
             "",
             "| kernel | configuration | warps | reg | stack | local | shared |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for (record, job_cc), row in sorted(done, key=lambda d: (d[1]["kernel"], describe(d[0][0]))):
        if job_cc != cc or "error" in row:
            continue
        flag = " (spills)" if row.get("local") else ""
        lines.append(f"| `{row['kernel'].removeprefix('fastgen.ops.')}` | {describe(record)} | {row['num_warps']} | "
                     f"{row['reg']} | {row['stack']} | {row['local']}{flag} | {row['shared']} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

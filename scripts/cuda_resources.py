"""Registers, stack, spills (local memory) and shared memory of every CUDA kernel in the built
extension, per architecture, read with cuobjdump --dump-resource-usage (no GPU needed).

    python scripts/cuda_resources.py [path/to/_C.so] [--report FILE]

Kernel names are demangled with c++filt when it is on PATH. Exit status 1 when a kernel uses more
static shared memory than its architecture allows a block (an extension built without CUDA has
nothing to check: status 0, saying so).
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

SHARED_LIMIT = {80: 48 * 1024, 86: 48 * 1024, 89: 48 * 1024, 90: 48 * 1024}  # static __shared__ per block


def cuobjdump() -> str:
    found = shutil.which("cuobjdump")
    if found:
        return found
    import triton

    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")


def demangle(names: list[str]) -> dict:
    if not names or shutil.which("c++filt") is None:
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def parse(text: str) -> list[dict]:
    rows, arch, kind = [], None, None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Fatbin "):
            kind = line.split()[1]
        m = re.match(r"arch = sm_(\d+)", line)
        if m:
            arch = int(m.group(1))
        m = re.match(r"\s*Function (\S+):", line)
        if m and kind == "elf" and i + 1 < len(lines):
            usage = dict(re.findall(r"(REG|STACK|SHARED|LOCAL):(\d+)", lines[i + 1]))
            rows.append({"arch": arch, "kernel": m.group(1), **{k.lower(): int(v) for k, v in usage.items()}})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extension", nargs="?", default=None)
    parser.add_argument("--report", default=None)
    ns = parser.parse_args(argv)
    path = ns.extension or next(iter(glob.glob(os.path.join("fastgen", "_C*.so"))), None)
    if path is None:
        print("cuda_resources: no fastgen/_C*.so: build the extension first", file=sys.stderr)
        return 1
    text = subprocess.run([cuobjdump(), "--dump-resource-usage", path], capture_output=True, text=True).stdout
    rows = parse(text)
    if not rows:
        print(f"cuda_resources: {path} has no device code (built without CUDA): nothing to check")
        return 0
    names = demangle(sorted({r["kernel"] for r in rows}))
    over = [r for r in rows if r.get("shared", 0) > SHARED_LIMIT.get(r["arch"], 48 * 1024)]
    archs = sorted({r["arch"] for r in rows})
    spills = [r for r in rows if r.get("local", 0)]
    print(f"cuda_resources: {len(names)} kernels for sm_{', sm_'.join(map(str, archs))}; "
          f"{len(spills)} with local memory (spills or stack arrays), {len(over)} over the shared-memory limit")
    if ns.report:
        arch = max(archs)
        lines = [f"# CUDA kernels compiled for sm_{arch}", "",
                 "Regenerate with `make kernel-report` (`scripts/cuda_resources.py`: cuobjdump of the built",
                 "extension). reg: registers per thread; stack and local: bytes per thread (local > 0 means",
                 "spills or a local array); shared: static bytes per block.", "",
                 "| kernel | reg | stack | local | shared |", "| --- | --- | --- | --- | --- |"]
        for r in sorted((r for r in rows if r["arch"] == arch), key=lambda r: names[r["kernel"]]):
            name = names[r["kernel"]].replace("|", "\\|")
            lines.append(f"| `{name}` | {r.get('reg')} | {r.get('stack')} | {r.get('local')} | {r.get('shared')} |")
        with open(ns.report, "w") as f:
            f.write("\n".join(lines) + "\n")
    for r in over:
        print(f"  OVER sm_{r['arch']} {names[r['kernel']]}: {r['shared']} bytes of shared memory", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())

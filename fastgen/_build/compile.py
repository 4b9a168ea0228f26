"""Compiling many sources to objects in parallel: with ninja (incremental) or a thread pool.

ninja rebuilds an object only when its command line changed or the source or a header it read
(from the compiler's depfile, ``<object>.d``) is newer than the object. It is used whenever it is
installed: the ``ninja`` PyPI package (a build requirement in pyproject.toml) or one on PATH.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    source: str
    obj: str
    command: list  # writes ``obj``, and ``obj + '.d'`` (make-style header dependencies)
    tool: str      # shown in the progress line, e.g. "c++" or "nvcc"


class CompileFailed(Exception):
    def __init__(self, sources: list, log: str):
        super().__init__(", ".join(sources))
        self.sources, self.log = sources, log

    def first_error(self) -> str:
        return next((line.strip() for line in self.log.splitlines()
                     if "error" in line or "fatal" in line), "see the log above")


def find_ninja() -> str | None:
    try:
        import ninja  # the PyPI package: a binary in ninja.BIN_DIR
        path = os.path.join(ninja.BIN_DIR, "ninja")
        if os.path.isfile(path):
            return path
    except ImportError:
        pass
    return shutil.which("ninja")


def build_objects(jobs: list, build_dir: str, n_jobs: int) -> None:
    """Bring every job's object up to date; raise :class:`CompileFailed` naming the failures."""
    os.makedirs(build_dir, exist_ok=True)
    for job in jobs:
        os.makedirs(os.path.dirname(job.obj), exist_ok=True)
    ninja = find_ninja()
    if ninja is None:
        print("fastgen: ninja not found (pip install ninja): recompiling every source",
              file=sys.stderr, flush=True)
        _run_pool(jobs, n_jobs)
    else:
        _run_ninja(ninja, jobs, build_dir, n_jobs)


def _escape_path(path: str) -> str:
    return path.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")


def _write_ninja_file(jobs: list, path: str) -> None:
    lines = ["ninja_required_version = 1.3", "",
             "rule compile", "  command = $cmd", "  description = $tool $in",
             "  depfile = $out.d", "  deps = gcc", ""]
    for job in jobs:
        lines += [f"build {_escape_path(job.obj)}: compile {_escape_path(job.source)}",
                  f"  cmd = {shlex.join(job.command).replace('$', '$$')}",
                  f"  tool = {job.tool}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _run_ninja(ninja: str, jobs: list, build_dir: str, n_jobs: int) -> None:
    # One build file per job set: the CUDA and C++ phases rewrite it with their own jobs.
    _write_ninja_file(jobs, os.path.join(build_dir, "build.ninja"))
    cmd = [ninja, "-C", build_dir, "-j", str(n_jobs), "-k", "0", *(j.obj for j in jobs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in proc.stdout:
        print(line, end="", file=sys.stderr, flush=True)
        log.append(line)
    if proc.wait() != 0:
        failed_lines = [line for line in log if line.startswith("FAILED:")]
        failed = [j.source for j in jobs if any(j.obj in line for line in failed_lines)]
        raise CompileFailed(failed or ["ninja"], "".join(log)[-6000:])


def _run_pool(jobs: list, n_jobs: int) -> None:
    def run(job: Job) -> tuple:
        print(shlex.join(job.command), file=sys.stderr, flush=True)
        return job, subprocess.run(job.command, capture_output=True, text=True)

    with ThreadPoolExecutor(max(1, n_jobs)) as pool:
        results = list(pool.map(run, jobs))
    for _, p in results:  # compiler warnings
        if p.stdout.strip() or p.stderr.strip():
            print(p.stdout + p.stderr, file=sys.stderr)
    failed = [(job, p) for job, p in results if p.returncode != 0]
    if failed:
        raise CompileFailed([job.source for job, _ in failed],
                            "\n".join(p.stdout + p.stderr for _, p in failed)[-6000:])

"""Run the benchmark suite: time every backend of every case, print a table, write the results.

    python benchmarks/run.py [--quick | --full] [--device cpu|cuda] [--cases composite,...]
                             [--backends reference,compile,cpu,...] [--no-compile]
                             [--out benchmarks/results]

(or ``python -m benchmarks.run ...`` from the repository root). The device defaults to CUDA when
a GPU is visible; on CPU the sizes default to ``--quick``. Results go to
``<out>/<device>.json``, ``.csv`` and ``.png``; see DESIGN.md "Benchmarks" for the schema.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import harness, report
from benchmarks.cases import select_cases


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (the default on CPU)")
    size.add_argument("--full", action="store_true", help="the issue's sizes (the default on CUDA)")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="default: cuda if available, else cpu")
    parser.add_argument("--cases", type=_names,
                        help="comma-separated case or family names (default: all)")
    parser.add_argument("--backends", type=_names,
                        help="comma-separated backends and baselines to time, e.g. "
                             "reference,compile,cpu (default: every one available)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="results folder (default: benchmarks/results)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log or CI: a wide table rather than rich's 80-column default
        console = Console(width=160)
    # Graph breaks in a reference (data-dependent sizes) are expected; dynamo's warnings about them
    # would drown the table.
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    device = torch.device(args.device) if args.device else harness.default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        console.print("[red]--device cuda: no CUDA device is visible[/]")
        return 2
    size = "full" if args.full or (device.type == "cuda" and not args.quick) else "quick"
    try:
        cases = select_cases(args.cases)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    unknown = set(args.backends or ()) - set(harness.known_backends(cases))
    if unknown:
        console.print(f"[red]unknown backend(s) {', '.join(sorted(unknown))}; choose from "
                      f"{', '.join(harness.known_backends(cases))}[/]")
        return 2
    allocator = harness.settle_allocator()
    device_name, slug = harness.device_label(device)
    busy = harness.cpu_contention(device)
    if busy:
        console.print(f"[yellow]warning: {busy}[/]")
    plan = [(case, harness.backends_for(case, device, args.backends, compile=not args.no_compile))
            for case in cases]

    start = time.perf_counter()
    results: list[harness.Record | harness.Skip] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    total = sum(len(backends) * len(harness.directions(case)) for case, backends in plan)
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("measuring ceilings", total=total)

        def announce(what: str) -> None:
            progress.update(task, description=what)

        peak_gbps, peak_tflops = harness.measure_ceilings(device)
        for case, backends in plan:
            for result in harness.run_case(case, device, size, backends, peak_gbps, announce):
                results.append(result)
                progress.advance(task)

    env = report.environment(device_name, peak_gbps, peak_tflops, allocator)
    report.print_table(console, env, results)
    paths = report.write_results(args.out, slug, env, results)
    console.print(f"{size} run in {time.perf_counter() - start:.0f} s; wrote "
                  + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

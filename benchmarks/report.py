"""Presenting results: the rich table, ``<device>.json`` / ``.csv`` and the speedup bar chart.

Speedups are always derived here from records of the same case, direction and shape, never
stored in a case.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import subprocess
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from benchmarks.harness import DIRECTIONS, KERNEL_BACKENDS, Record, Skip

Result = Record | Skip
REPO_ROOT = Path(__file__).resolve().parents[1]


def environment(device_name: str, peak_gbps: float | None, peak_tflops: float | None,
                allocator: str | None = None) -> dict:
    """The header of the results JSON (everything but ``records``). ``allocator``: how the host
    allocator was set for the run (:func:`benchmarks.harness.settle_allocator`), if it was."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {
        "device": device_name,
        "torch": torch.__version__,
        "triton": triton_version,
        "cuda": torch.version.cuda,
        "git_sha": _git_sha(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "peak_gbps": _round(peak_gbps),
        "peak_tflops": _round(peak_tflops),
        "allocator": allocator,
    }


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None  # not a git checkout, or no commit yet
    return out.stdout.strip() or None


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def _key(r: Record) -> tuple:
    return r.case, r.direction, tuple(sorted(r.shape.items()))


def baselines(records: list[Record]) -> list[str]:
    """Backends present in ``records`` that are baselines (not fastgen kernels), reference first."""
    names = dict.fromkeys(["reference", "compile"] + [r.backend for r in records])
    present = {r.backend for r in records}
    return [b for b in names if b in present and b not in KERNEL_BACKENDS]


def speedup(record: Record, baseline: str, records: list[Record]) -> float | None:
    """How many times faster ``record`` is than ``baseline`` (same case, direction and shape)."""
    for other in records:
        if other.backend == baseline and _key(other) == _key(record):
            return other.ms / record.ms
    return None


def format_rate(r: Record) -> str:
    """``1.23 G points/s`` (empty for records without a throughput)."""
    if r.throughput is None:
        return ""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if r.throughput >= scale:
            return f"{r.throughput / scale:.3g} {prefix} {r.throughput_unit}".replace("  ", " ")
    return f"{r.throughput:.3g} {r.throughput_unit}"


def format_shape(shape: dict) -> str:
    """``{"n_rays": 16384, ...}`` as ``"n_rays=16,384 ..."``."""
    return " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in shape.items())


def print_table(console: Console, env: dict, results: list[Result]) -> None:
    """One row per result, a section per case and direction, baselines first within it."""
    records = [r for r in results if isinstance(r, Record)]
    bases = baselines(records)
    peak = "no bandwidth peak on CPU"
    if env["peak_gbps"]:
        peak = (f"measured peak: copy {env['peak_gbps']:,.0f} GB/s, "
                f"bf16 matmul {env['peak_tflops']:,.0f} TFLOP/s")
    shapes = {r.case: format_shape(r.shape) for r in records}
    table = Table(title=f"fastgen benchmarks on {env['device']}",
                  caption="\n".join([peak, *(f"{c}: {s}" for c, s in shapes.items())]))
    for name in ("case", "direction", "backend"):
        table.add_column(name, no_wrap=True)
    rates = any(r.throughput is not None for r in records)
    for name in ("ms", "GB/s", "% of peak", *(["throughput"] if rates else []), *(f"vs {b}" for b in bases)):
        table.add_column(name, justify="right", no_wrap=True)
    skips = any(isinstance(r, Skip) for r in results)
    if skips:
        table.add_column("note", overflow="fold", max_width=60)
    cases = list(dict.fromkeys(r.case for r in results))
    ordered = sorted(results, key=lambda r: (cases.index(r.case), DIRECTIONS.index(r.direction)))
    previous = None
    for r in ordered:
        if previous is not None and (r.case, r.direction) != previous:
            table.add_section()
        previous = r.case, r.direction
        if isinstance(r, Skip):
            table.add_row(r.case, r.direction, r.backend, "skipped", "", "", *([""] if rates else []),
                          *("" for _ in bases), r.reason, style="dim")
            continue
        pct = "" if r.pct_of_peak is None else f"{r.pct_of_peak:.1f}"
        table.add_row(r.case, r.direction, r.backend, f"{r.ms:.3f}", f"{r.gbps:.1f}", pct,
                      *([format_rate(r)] if rates else []), *(_speedup_cell(speedup(r, b, records)) for b in bases),
                      *([""] if skips else []))
    console.print(table)


def _speedup_cell(x: float | None) -> str:
    if x is None:
        return ""
    return f"[{'green' if x >= 1 else 'red'}]{x:.2f}x[/]"


def write_results(out_dir: Path, slug: str, env: dict, results: list[Result]) -> list[Path]:
    """Write ``<slug>.json``, ``.csv`` and (with reference records) ``.png`` under ``out_dir``.

    The JSON follows DESIGN.md "Benchmarks", plus ``skipped``: the (case, backend, direction)
    that could not be measured, with the reason. Returns the paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [_rounded(r) for r in results if isinstance(r, Record)]
    skipped = [dataclasses.asdict(r) for r in results if isinstance(r, Skip)]
    json_path, csv_path, png_path = (out_dir / f"{slug}.{ext}" for ext in ("json", "csv", "png"))
    json_path.write_text(json.dumps({**env, "records": [dataclasses.asdict(r) for r in records],
                                     "skipped": skipped}, indent=2) + "\n")
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fld.name for fld in dataclasses.fields(Record)])
        writer.writeheader()
        for r in records:
            writer.writerow({**dataclasses.asdict(r), "shape": format_shape(r.shape)})
    md_path = out_dir / f"{slug}.md"
    md_path.write_text(markdown_table(env, records))
    if not any(r.backend == "reference" for r in records):
        return [json_path, csv_path, md_path]  # no speedups to plot
    plot_speedups(png_path, env, records)
    return [json_path, csv_path, md_path, png_path]


def markdown_table(env: dict, records: list[Record]) -> str:
    """The results as a Markdown table (what README.md shows), speedups derived from the records."""
    bases = baselines(records)
    rates = any(r.throughput is not None for r in records)
    head = ["case", "direction", "backend", "ms", "GB/s", "% of peak", *(["throughput"] if rates else []),
            *(f"vs {b}" for b in bases)]
    lines = [f"Device: {env['device']} (torch {env['torch']}, git {env.get('git_sha') or '?'}, {env['date']})",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cases = list(dict.fromkeys(r.case for r in records))
    for r in sorted(records, key=lambda r: (cases.index(r.case), DIRECTIONS.index(r.direction))):
        cells = [r.case, r.direction, r.backend, f"{r.ms:.3f}", f"{r.gbps:.2f}",
                 "" if r.pct_of_peak is None else f"{r.pct_of_peak:.1f}", *([format_rate(r)] if rates else [])]
        cells += ["" if (x := speedup(r, b, records)) is None else f"{x:.2f}x" for b in bases]
        lines.append("| " + " | ".join(cells) + " |")
    shapes = dict.fromkeys(f"{r.case}: {format_shape(r.shape)}" for r in records)
    return "\n".join(lines + [""] + [f"- {s}" for s in shapes]) + "\n"


def _rounded(r: Record) -> Record:
    return dataclasses.replace(r, ms=_round(r.ms), gbps=_round(r.gbps),
                               pct_of_peak=_round(r.pct_of_peak, 3), throughput=_round(r.throughput))


def plot_speedups(path: Path, env: dict, records: list[Record], per_row: int = 12) -> None:
    """Bar chart of every backend's speedup over the reference, grouped by case and direction,
    ``per_row`` groups per row of panels (the problem sizes are in the tables, not the plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    groups = list(dict.fromkeys((r.case, r.direction) for r in records))
    backends = list(dict.fromkeys(r.backend for r in records if r.backend != "reference"))
    width = 0.8 / max(1, len(backends))
    rows = [groups[i:i + per_row] for i in range(0, len(groups), per_row)] or [[]]
    fig, axes = plt.subplots(len(rows), 1, squeeze=False,
                             figsize=(2.5 + min(len(groups), per_row) * max(1.8, 0.5 * len(backends)),
                                      0.6 + 3.8 * len(rows)))
    for ax, row in zip(axes[:, 0], rows):
        for j, backend in enumerate(backends):
            xs, ys = [], []
            for i, group in enumerate(row):
                for r in records:
                    s = speedup(r, "reference", records)
                    if (r.case, r.direction) == group and r.backend == backend and s is not None:
                        xs.append(i + (j - (len(backends) - 1) / 2) * width)
                        ys.append(s)
            bars = ax.bar(xs, ys, width, label=backend, color=plt.get_cmap("tab10")(j % 10))
            ax.bar_label(bars, labels=[f"{y:.3g}x" for y in ys], fontsize=8, padding=2)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}x"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("speedup over eager")
        ax.set_xticks(range(len(row)), [f"{case}\n{direction}" for case, direction in row], fontsize=8)
        ax.set_xlim(-0.6, per_row - 0.4)
        ax.margins(y=0.15)
    from matplotlib.patches import Patch

    handles = [Patch(color=plt.get_cmap("tab10")(j % 10), label=b) for j, b in enumerate(backends)]
    axes[0, 0].legend(handles=handles, title="backend", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"fastgen on {env['device']}: speedup over the eager PyTorch reference (log scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

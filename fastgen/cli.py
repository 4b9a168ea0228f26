"""Command line: ``fastgen info`` (backend availability), ``fastgen bench`` (the benchmark suite),
``fastgen demo nerf|gan`` (the training demos) and ``fastgen build`` (rebuild the C++/CUDA
extension in place)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastgen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print every op x backend with availability and reasons")
    bench = sub.add_parser("bench", help="run benchmarks/run.py from a source checkout (extra args pass through)")
    bench.add_argument("args", nargs=argparse.REMAINDER)
    demo = sub.add_parser("demo", help="run a training demo: fastgen demo nerf|gan [options] (--help after the name)",
                          add_help=False)
    demo.add_argument("args", nargs=argparse.REMAINDER)
    build = sub.add_parser("build", help="(re)build the C++/CUDA extension fastgen._C in place "
                           "(after installing a compiler, or for your GPU's architecture)")
    build.add_argument("--cuda-archs", metavar="ARCHS",
                       help='compute capabilities, e.g. "86" or "80;90" (sets FASTGEN_CUDA_ARCHS)')
    build.add_argument("--cpu-only", action="store_true", help="skip the CUDA kernels (FASTGEN_BUILD_CUDA=0)")
    build.add_argument("-j", "--jobs", type=int, help="parallel compile jobs (default: all cores)")
    ns = parser.parse_args(argv)
    if ns.command == "build":
        from fastgen._build.inplace import build as build_extension

        return build_extension(ns.cuda_archs, ns.cpu_only, ns.jobs)
    if ns.command == "demo":
        from fastgen.demo import main as demo_main

        return demo_main(ns.args)
    if ns.command == "info":
        import fastgen

        fastgen.info()
        return 0
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "run.py")
    if not os.path.exists(script):
        print("fastgen bench needs a source checkout (benchmarks/run.py is not installed with the package)",
              file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, script, *ns.args])


if __name__ == "__main__":
    sys.exit(main())

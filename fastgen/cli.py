"""Command line: ``fastgen info`` (backend availability), ``fastgen bench`` (the benchmark suite) and
``fastgen demo nerf|gan`` (the training demos)."""
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
    ns = parser.parse_args(argv)
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

"""Demos: real training programs on fastgen's ops, ``python -m fastgen.demo nerf|gan`` (or
``fastgen demo nerf|gan``). Each demo module defines ``main(argv) -> int``; run one with ``--help``
for its options."""
from __future__ import annotations

import importlib

DEMOS = {"nerf": "fastgen.demo.nerf", "gan": "fastgen.demo.gan"}


def main(argv) -> int:
    """Run the demo named by ``argv[0]`` with the remaining arguments."""
    argv = list(argv)
    if not argv or argv[0] not in DEMOS:
        print(f"usage: python -m fastgen.demo {{{'|'.join(DEMOS)}}} [options]   (--help after the name for the options)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return importlib.import_module(DEMOS[argv[0]]).main(argv[1:])

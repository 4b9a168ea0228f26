"""Builds the extension ``fastgen._C``: C++17 + OpenMP kernels, plus CUDA kernels when nvcc works.

Metadata lives in pyproject.toml; the build itself in fastgen/_build/ (its docstring lists the
environment variables), shared with ``fastgen build``, which rebuilds an installed package in
place. This file never imports torch: the extension takes raw pointers and stream handles as
integers and does not link libtorch, so one binary works with any torch version.

Without a working C++ compiler the install still succeeds, without the extension (the cpu and
cuda backends then say why they are missing); FASTGEN_REQUIRE_EXT=1 makes that an error.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def load_build_package():
    """fastgen/_build as a standalone package: importing fastgen itself would import torch."""
    path = os.path.join(HERE, "fastgen", "_build")
    spec = importlib.util.spec_from_file_location(
        "fastgen_build", os.path.join(path, "__init__.py"), submodule_search_locations=[path])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return importlib.import_module("fastgen_build.extension")


class BuildPyWithSources(build_py):
    """Also copies csrc/ to fastgen/_csrc/, so that `fastgen build` can rebuild an installed
    (non-editable) package; an editable install builds from csrc/ itself."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            target = os.path.join(self.build_lib, "fastgen", "_csrc")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(os.path.join(HERE, "csrc"), target)


build = load_build_package()
setup(ext_modules=[build.extension("csrc", os.path.join(HERE, "build"))],
      cmdclass={"build_ext": build.BuildExt, "build_py": BuildPyWithSources})

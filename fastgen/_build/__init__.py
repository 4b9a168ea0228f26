"""How ``fastgen._C`` is built: by ``setup.py`` (pip install / pip wheel) and by ``fastgen build``.

Nothing here imports torch or the rest of fastgen: setup.py loads this package by file path.

Environment:
  FASTGEN_REQUIRE_EXT  1: a missing C++ compiler or a failed C++ build is an error. Otherwise the
                       extension is skipped with a warning, the install succeeds without the
                       cpu/cuda backends, and fastgen/_build_status.json records why.
  FASTGEN_BUILD_CUDA   unset: build CUDA when nvcc is found, else warn and build CPU-only.
                       0: CPU-only.  1: CUDA required (a missing nvcc or a failed compile is an
                       error, for CI jobs that must prove the CUDA code compiles).
  FASTGEN_CUDA_ARCHS   compute capabilities, ascending, default "80;90": SASS for each and PTX
                       for the last (which newer GPUs JIT-compile). "75;80;90" adds Turing.
  CUDA_HOME, CUDA_PATH where nvcc lives (bin/nvcc); else nvcc is looked up on PATH.
  FASTGEN_BUILD_JOBS   parallel compile jobs (default: all cores).
  CXX                  the C++ compiler (default: the one Python was built with, usually g++).
  FASTGEN_SANITIZE     e.g. "address,undefined": build the C++ side with those sanitizers, its
                       objects apart from the normal build's (for `make test-sanitize`; the CUDA
                       side is left out: compute-sanitizer checks it on a GPU).

Sources compile in parallel with ninja when it is installed (the ``ninja`` PyPI package or one on
PATH): incremental, with header dependencies from the compilers' depfiles, so an edit to one .cu
rebuilds one object. Without ninja every object is rebuilt, still in parallel.
"""

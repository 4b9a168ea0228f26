#!/usr/bin/env bash
# On a lent GPU machine (see the device tool): build, test on CUDA, memcheck, benchmark.
#   Carry .whl (pybind11, nerfacc 0.5.3 and any missing test deps as wheels) and run from the repo root:
#   bash scripts/gpu_session.sh [all|test|memcheck|bench]
# A device call is limited to 10 minutes: run the stages as three calls on the warm machine
# (`test`, then `memcheck`, then `bench`; the build outputs stay on a warm machine between calls),
# and fetch $OUT (logs, benchmarks/results/<device>.*) after each.
# Results land in benchmarks/results/ and, when $OUT is set, logs and results are copied there.
set -uo pipefail
stage=${1:-all}
out=${OUT:-/tmp/fastgen-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -20 | tee "$out/build.log"
python3 -m fastgen info | tee "$out/info.txt"

if [[ $stage == all || $stage == test ]]; then
  FASTGEN_CHECKS=1 FASTGEN_REQUIRE_BACKENDS=reference,cpu,cuda,triton \
    python3 -m pytest tests -q -ra -x 2>&1 | tee "$out/test.log" | tail -40
fi
if [[ $stage == all || $stage == memcheck ]]; then
  compute-sanitizer --tool memcheck --error-exitcode 1 \
    python3 -m pytest tests -q -k "cuda and not compile" -p no:cacheprovider 2>&1 | tail -40 | tee "$out/memcheck.log"
fi
if [[ $stage == all || $stage == bench ]]; then
  python3 benchmarks/run.py --full 2>&1 | tee "$out/bench.log" | tail -60
  cp benchmarks/results/* "$out/" 2>/dev/null
fi

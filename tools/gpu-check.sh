#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (the H100 box: no network, no apt): builds the
# default preset with CUDA forced on, runs every test (the `gpu` test must pass there, not skip),
# runs `coil info`, the default training run on the GPU and coil_bench, and prints a summary. Logs go to $OUT when set, else
# build/gpu-check/. Exits nonzero on any failure.
#
#   ./tools/gpu-check.sh [extra coil_bench arguments]
#
# COIL_EXTRA_BENCHES=1 also runs every other bench/coil_bench_* executable (all into labs.log,
# each under COIL_BENCH_TIMEOUT seconds, default 180). Logs: build.log (environment, configure,
# build), ctest.log, run.log (coil info + the default training run on the GPU), bench.log,
# labs.log: few files, since the GPU machine returns at most 8.
#
# COIL_PREBUILT=1: use the executables of tools/gpu-bundle.sh (unpacked into build/default, with
# lib/ for the libraries the GPU machine lacks) instead of configuring and building; the GPU
# suite (coil_gpu_tests) then runs directly, since the bundle has no CTest files.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
LOG="${OUT:-$ROOT/build/gpu-check}"
mkdir -p "$LOG"
JOBS="${COIL_JOBS:-$(nproc)}"
((JOBS > 16)) && JOBS=16
BUILD="$ROOT/build/default"

status_build=FAIL status_tests=FAIL status_gpu="not run" status_smoke="not run" status_bench="not run"
status_extra="not run (COIL_EXTRA_BENCHES=1 runs them)"
tests_line="(not run)"
fail=0

step() { printf '\n==== %s\n' "$*"; }

# shellcheck disable=SC2317  # called from the EXIT trap
summary() {
  step "summary (logs in $LOG)"
  printf '  %-12s %s\n' build "$status_build" tests "$status_tests: $tests_line" \
    "gpu test" "$status_gpu" "coil run" "$status_smoke" bench "$status_bench" \
    "other bench" "$status_extra"
  if [[ -s "$LOG/bench.log" ]]; then
    printf '\n'
    grep -E '^(===|elementwise|f32 GEMM|  )' "$LOG/bench.log"
  fi
  printf '\n%s\n' "$([[ $fail == 0 ]] && echo 'GPU CHECK PASSED' || echo 'GPU CHECK FAILED')"
}
trap summary EXIT

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  nvcc --version 2>&1 | tail -2 || /usr/local/cuda/bin/nvcc --version 2>&1 | tail -2 || true
  cmake --version | head -1; } | tee "$LOG/build.log"

if [[ "${COIL_PREBUILT:-0}" == 1 ]]; then
  step "prebuilt executables (tools/gpu-bundle.sh, commit $(cat "$BUILD/gpu-bundle-commit" 2>/dev/null))"
  export LD_LIBRARY_PATH="$ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  missing="$(ldd "$BUILD/tests/coil_gpu_tests" "$BUILD/coil" 2>&1 | grep 'not found' | sort -u || true)"
  if [[ -x "$BUILD/tests/coil_gpu_tests" && -z "$missing" ]]; then
    status_build="prebuilt"
  else
    echo "prebuilt executables unusable: ${missing:-build/default/tests/coil_gpu_tests is missing}" |
      tee -a "$LOG/build.log"
    fail=1
    exit 1
  fi
elif step "configure + build (preset default, COIL_CUDA=ON, -j$JOBS)" &&
   cmake --preset default -DCOIL_CUDA=ON >>"$LOG/build.log" 2>&1 &&
   cmake --build "$BUILD" -j"$JOBS" >>"$LOG/build.log" 2>&1; then
  status_build=ok
  tail -2 "$LOG/build.log"
else
  tail -40 "$LOG/build.log" 2>/dev/null
  status_build=FAIL
  fail=1
  exit 1
fi

if [[ "$status_build" == prebuilt ]]; then
  step "coil_gpu_tests (the gpu test; the CPU suites run in CI)"
  (cd "$BUILD/tests" && ./coil_gpu_tests) 2>&1 | tee "$LOG/ctest.log"
  gpu_rc=${PIPESTATUS[0]}
  tests_line="$(grep -E '^\[doctest\] test cases' "$LOG/ctest.log" | tail -1)"
  status_tests=$([[ $gpu_rc == 0 ]] && echo ok || echo FAIL)
  # Exit 77: no GPU seen, which CTest would call skipped.
  gpu_line="gpu $([[ $gpu_rc == 0 ]] && echo Passed || { [[ $gpu_rc == 77 ]] && echo Skipped || echo Failed; })"
  [[ $gpu_rc == 0 ]] || fail=1
else
  step "ctest (all tests, gpu included)"
  ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" 2>&1 | tee "$LOG/ctest.log"
  ctest_rc=${PIPESTATUS[0]}
  tests_line="$(grep -E 'tests passed' "$LOG/ctest.log" | tail -1)"
  if [[ $ctest_rc == 0 ]]; then
    status_tests=ok
  else
    status_tests=FAIL
    fail=1
  fi
  # The gpu test exits 77 (CTest: skipped) when it sees no GPU: on this machine that is a failure.
  gpu_line="$(grep -E 'Test +#[0-9]+: gpu ' "$LOG/ctest.log" | tail -1)"
fi
if [[ "$gpu_line" =~ Passed ]]; then
  status_gpu=passed
elif [[ -z "$gpu_line" ]]; then
  status_gpu="MISSING (no CTest test named gpu)"
  fail=1
elif [[ "$gpu_line" =~ Skipped|Not\ Run ]]; then
  status_gpu="SKIPPED (no GPU visible to coil?)"
  fail=1
else
  status_gpu=FAILED
  fail=1
fi

step "coil info (smoke on every device) and the default training run on the GPU"
if { "$BUILD/coil" info && "$BUILD/coil" train configs/default.yaml --device cuda \
       --run-dir "$BUILD/gpu-check-run" --force; } >"$LOG/run.log" 2>&1; then
  status_smoke=ok
  grep -q 'cuda' "$LOG/run.log" || { status_smoke="ran, but saw no CUDA device"; fail=1; }
else
  status_smoke=FAIL
  fail=1
fi
tail -3 "$LOG/run.log"

step "coil_bench"
if "$BUILD/bench/coil_bench" "$@" 2>&1 | tee "$LOG/bench.log"; then
  status_bench=ok
  grep -q '=== cuda' "$LOG/bench.log" || { status_bench="ran, but benchmarked no CUDA device"; fail=1; }
  grep -q 'MISMATCH' "$LOG/bench.log" && { status_bench="coil and cuBLAS results differ"; fail=1; }
else
  status_bench=FAIL
  fail=1
fi

if [[ "${COIL_EXTRA_BENCHES:-0}" == 1 ]]; then
  # All kernel labs into one log (the device returns only a few files), each capped in time.
  status_extra=ok
  for exe in "$BUILD"/bench/coil_bench_*; do
    [[ -x "$exe" ]] || continue
    name="$(basename "$exe")"
    step "$name" | tee -a "$LOG/labs.log"
    if ! timeout "${COIL_BENCH_TIMEOUT:-180}" "$exe" >>"$LOG/labs.log" 2>&1; then
      status_extra="FAIL ($name)"
      fail=1
    fi
  done
fi

exit "$fail"

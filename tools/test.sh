#!/usr/bin/env bash
# The test job: set up (packages, configure, build everything of the default preset), then run
# every CTest test. The `gpu` test reports "skipped" on a machine without a GPU.
# Arguments go to ctest (e.g. -R tensor). COIL_PRESET picks another preset (cpu, debug, asan).
set -euo pipefail
# shellcheck source=tools/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# shellcheck disable=SC2119
coil_setup  # builds every target: library, coil, tests, bench
ctest --test-dir "$COIL_BUILD_DIR" --output-on-failure -j"$COIL_JOBS" "$@"

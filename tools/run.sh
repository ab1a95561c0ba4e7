#!/usr/bin/env bash
# The main job: set up (packages, configure, build the default preset), then train the default
# config (configs/default.yaml) into runs/default, replacing an earlier run there.
# CUDA is built when nvcc is found; with no GPU present coil runs on the CPU.
# Builds only the coil target. Extra arguments go to `coil train` (e.g. key=value overrides). COIL_PRESET picks another preset (cpu, debug, asan).
set -euo pipefail
# shellcheck source=tools/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
coil_setup --target coil
exec "$COIL_BUILD_DIR/coil" train configs/default.yaml --run-dir runs/default --force "$@"

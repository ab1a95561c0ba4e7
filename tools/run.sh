#!/usr/bin/env bash
# The main job: set up (packages, configure, build the default preset) and run `coil`.
# CUDA is built when nvcc is found; with no GPU present coil runs on the CPU.
# Builds only the coil target. Arguments go to coil. COIL_PRESET picks another preset (cpu, debug, asan).
set -euo pipefail
# shellcheck source=tools/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
coil_setup --target coil
exec "$COIL_BUILD_DIR/coil" "$@"

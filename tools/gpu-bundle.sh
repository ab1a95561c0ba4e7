#!/usr/bin/env bash
# Builds the GPU check's executables here (preset `default`, CUDA on, sm_90) and packs them into
# build/gpu-bundle.tar.xz (about 45 MB with every lab: under the GPU machine's 64 MiB carry), so
# a device call spends its minutes on tests instead of the 3-minute CUDA build. The bundle holds
# build/default/coil, build/default/tests/coil_gpu_tests and build/default/bench/coil_bench*
# (stripped), plus lib/ with the shared libraries the GPU machine's Ubuntu 24.04 lacks (it has
# yaml-cpp 0.8; Debian 12 builds link libyaml-cpp.so.0.7). On the GPU machine, from the root of
# a tree at the same commit:
#
#   tar -xJf gpu-bundle.tar.xz && COIL_PREBUILT=1 ./tools/gpu-check.sh
#
# COIL_PREBUILT=1 makes gpu-check.sh skip the configure and build, put lib/ on the library path,
# stop at once if a library is still missing (ldd), and run the GPU suite (coil_gpu_tests)
# directly instead of ctest. First run on a GPU machine (an H100) on 2026-12-07: passed. The
# CPU suites stay with CI (or a full ./tools/gpu-check.sh, which builds there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD=build/default
cmake --preset default -DCOIL_CUDA=ON >/dev/null
# bench/CMakeLists.txt: coil_bench from bench_core.cpp, coil_bench_<name> from each bench_<name>.cpp.
benches=(coil_bench)
for f in bench/bench_*.cpp; do
  name="$(basename "$f" .cpp)"
  [[ $name == bench_core ]] || benches+=("coil_${name}")
done
cmake --build "$BUILD" -j"$(nproc)" --target coil coil_gpu_tests "${benches[@]}"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$BUILD/tests" "$STAGE/$BUILD/bench" "$STAGE/lib"
cp "$BUILD/coil" "$STAGE/$BUILD/"
cp "$BUILD/tests/coil_gpu_tests" "$STAGE/$BUILD/tests/"
for b in "${benches[@]}"; do cp "$BUILD/bench/$b" "$STAGE/$BUILD/bench/"; done
strip "$STAGE/$BUILD/coil" "$STAGE/$BUILD/tests/coil_gpu_tests" "$STAGE/$BUILD"/bench/*
# The libraries whose versions differ on the GPU machine, copied under their sonames.
ldd "$BUILD/tests/coil_gpu_tests" | awk '/libyaml-cpp/ {print $1, $3}' |
  while read -r soname path; do cp -L "$path" "$STAGE/lib/$soname"; done
git rev-parse HEAD >"$STAGE/$BUILD/gpu-bundle-commit"
tar -C "$STAGE" -cJf "$BUILD/../gpu-bundle.tar.xz" .
echo "build/gpu-bundle.tar.xz ($(du -h build/gpu-bundle.tar.xz | cut -f1)), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' plus uncommitted changes')"

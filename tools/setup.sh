# shellcheck shell=bash
# Shared set-up for tools/run.sh and tools/test.sh (sourced, not run): installs the Debian
# packages coil needs when some are missing, then configures and builds one CMake preset.
#
# Idempotent and quick when everything is there. Where dpkg and apt-get exist (Debian, Ubuntu,
# CI, a fresh machine) a package counts as present only when dpkg says it is installed: a file
# that merely looks right (Debian's reference cblas.h behind the alternatives system) is not
# OpenBLAS. Only machines without dpkg/apt-get (the GPU machine: no apt, tools from elsewhere)
# fall back to probes, and each probe looks for what CMake will look for (the library itself).
# When it cannot install, it warns; configure then names the package still missing.
#
# Environment: COIL_PRESET (default "default"), COIL_CMAKE_ARGS (extra configure arguments),
# COIL_JOBS (default $(nproc)), COIL_SKIP_INSTALL=1 (never call apt-get).

COIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COIL_PRESET="${COIL_PRESET:-default}"
COIL_JOBS="${COIL_JOBS:-$(nproc)}"
COIL_BUILD_DIR="$COIL_ROOT/build/$COIL_PRESET"

coil_log() { printf '[coil] %s\n' "$*" >&2; }

# "package:probe" pairs; the probe is used only where dpkg/apt-get are absent. A probe is
# "cmd:NAME" (a program on PATH), "inc:PATH" (a header under an include directory) or
# "lib:NAME" (libNAME.so in a library directory). Every new dependency gets a line here and a
# coil_require in CMakeLists.txt naming the same package.
COIL_DEB_PACKAGES=(
  "build-essential:cmd:g++"
  "cmake:cmd:cmake"
  "ninja-build:cmd:ninja"
  "ccache:cmd:ccache"
  "libfmt-dev:inc:fmt/format.h"
  "doctest-dev:inc:doctest/doctest.h"
  "libopenblas-openmp-dev:lib:openblas"
  "liblapacke-dev:lib:lapacke"
  "libfftw3-dev:lib:fftw3f"
  "libyaml-cpp-dev:lib:yaml-cpp"
  "libcli11-dev:inc:CLI/CLI.hpp"
  "nlohmann-json3-dev:inc:nlohmann/json.hpp"
  "libpng-dev:lib:png"
)

coil_have_header() {
  local dir
  for dir in /usr/include /usr/local/include /usr/include/*-linux-gnu /opt/*/include \
             ${CONDA_PREFIX:+$CONDA_PREFIX/include}; do
    [[ -e "$dir/$1" ]] && return 0
  done
  return 1
}

coil_have_library() {
  local dir
  for dir in /usr/lib /usr/lib64 /usr/local/lib /usr/lib/*-linux-gnu /usr/lib/*-linux-gnu/openblas* \
             /opt/*/lib ${CONDA_PREFIX:+$CONDA_PREFIX/lib}; do
    compgen -G "$dir/lib$1.so*" >/dev/null && return 0
  done
  return 1
}

coil_use_dpkg() { command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; }

coil_package_present() {  # $1 = "package:kind:what"
  local pkg="${1%%:*}" probe="${1#*:}"
  local kind="${probe%%:*}" what="${probe#*:}"
  if coil_use_dpkg; then
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]]
    return
  fi
  case "$kind" in
    cmd) command -v "$what" >/dev/null 2>&1 ;;
    inc) coil_have_header "$what" ;;
    lib) coil_have_library "$what" ;;
    *) return 1 ;;
  esac
}

coil_install_packages() {
  local entry missing=()
  for entry in "${COIL_DEB_PACKAGES[@]}"; do
    coil_package_present "$entry" || missing+=("${entry%%:*}")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  coil_log "missing packages: ${missing[*]}"
  if [[ "${COIL_SKIP_INSTALL:-0}" == 1 ]] || ! command -v apt-get >/dev/null 2>&1; then
    coil_log "not installing (no apt-get, or COIL_SKIP_INSTALL=1); configure will name what is really needed"
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      coil_log "not root and no password-less sudo: install them by hand: apt-get install ${missing[*]}"
      return 0
    fi
  fi
  coil_log "installing: ${missing[*]}"
  if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           --no-install-recommends "${missing[@]}"; } >&2; then
    coil_log "apt-get failed; continuing (configure will say what is really needed)"
  fi
  return 0
}

# Configures (always: cheap, and picks up new source files) and builds $COIL_PRESET.
# Extra arguments go to `cmake --build` (e.g. --target coil).
coil_configure_build() {
  cd "$COIL_ROOT" || return 1
  coil_log "configure preset '$COIL_PRESET' -> build/$COIL_PRESET"
  # shellcheck disable=SC2086  # COIL_CMAKE_ARGS is a word list on purpose
  local log="$COIL_ROOT/build/.configure-$COIL_PRESET.log"
  cmake --preset "$COIL_PRESET" ${COIL_CMAKE_ARGS:-} >"$log" 2>&1 || {
    # A missing dependency is one line from CMakeLists.txt's coil_require ("coil: missing ...");
    # anything else gets the whole log.
    if grep -q 'coil: missing' "$log"; then
      grep -o 'coil: missing.*' "$log" | sed 's/^coil: /[coil] /' >&2
    else
      cat "$log" >&2
    fi
    coil_log "configure failed (log: build/.configure-$COIL_PRESET.log)"
    return 1
  }
  grep -E 'coil: CUDA backend' "$COIL_ROOT/build/.configure-$COIL_PRESET.log" | sed 's/^-- /[coil] /' >&2
  coil_log "build with -j$COIL_JOBS"
  cmake --build "$COIL_BUILD_DIR" -j"$COIL_JOBS" "$@"
}

coil_setup() {
  mkdir -p "$COIL_ROOT/build"
  coil_install_packages
  coil_configure_build "$@"
}

#!/usr/bin/env bash
# Builds meridian. Usage: scripts/build.sh [release|asan] (default release).
# Output in build/<kind>/; the binary is build/<kind>/server/meridian.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
# Let ccache share results between clones of the repository.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMERIDIAN_SANITIZE=ON) ;;
  *) echo "build.sh: unknown build kind '$kind' (release|asan)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${flags[@]}" >/dev/null
cmake --build "build/$kind" -j "$(nproc)"

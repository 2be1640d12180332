#!/usr/bin/env bash
# Builds meridian. Usage: scripts/build.sh [release|asan|tsan|clang-tsa]
# (default release). Output in build/<kind>/; the binary is
# build/<kind>/server/meridian.
#   asan       AddressSanitizer + UndefinedBehaviorSanitizer (gcc)
#   tsan       ThreadSanitizer (gcc)
#   clang-tsa  clang with -Wthread-safety -Werror: the lock annotations are
#              checked at compile time (a static analysis build; the tests it
#              builds are not run)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
# Let ccache share results between clones of the repository.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMERIDIAN_SANITIZE=ON) ;;
  tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMERIDIAN_TSAN=ON) ;;
  clang-tsa) flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_CXX_COMPILER=clang++ -DMERIDIAN_THREAD_SAFETY=ON) ;;
  *) echo "build.sh: unknown build kind '$kind' (release|asan|tsan|clang-tsa)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${flags[@]}" >/dev/null
cmake --build "build/$kind" -j "$(nproc)"

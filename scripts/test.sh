#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit tests,
# the PromQL conformance suite, and the integration tests against the real
# Prometheus (SIGKILL crash test, bad-input battery, end-to-end comparison);
# the clang -Wthread-safety build; then the unit and integration tests again
# under ASan+UBSan.
# Set MERIDIAN_SKIP_ASAN=1 to skip the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export MERIDIAN_PROMQL_TESTDATA=${MERIDIAN_PROMQL_TESTDATA:-$(cd .. && pwd)/shared/promql-testdata}

scripts/build.sh release
(cd build/release && ctest -j2 --output-on-failure --timeout 900)

# Static lock analysis: clang with -Wthread-safety -Werror compiles the tree
# (the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations); nothing runs.
scripts/build.sh clang-tsa

if [[ "${MERIDIAN_SKIP_ASAN:-0}" != 1 ]]; then
  scripts/build.sh asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build/asan && ctest -j2 --output-on-failure --timeout 1200)
fi

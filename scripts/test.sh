#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit tests,
# the PromQL conformance suite, and the integration tests against the real
# Prometheus (SIGKILL crash test, bad-input battery, end-to-end comparison);
# the clang -Wthread-safety build; then the unit tests and a set of integration
# tests under ThreadSanitizer, and every test under ASan+UBSan. Set MERIDIAN_SKIP_TSAN=1 /
# MERIDIAN_SKIP_ASAN=1 to skip a sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export MERIDIAN_PROMQL_TESTDATA=${MERIDIAN_PROMQL_TESTDATA:-$(cd .. && pwd)/shared/promql-testdata}

scripts/build.sh release
(cd build/release && ctest -j2 --output-on-failure --timeout 900)

# Static lock analysis: clang with -Wthread-safety -Werror compiles the tree
# (the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations); nothing runs.
scripts/build.sh clang-tsa

# ThreadSanitizer over the unit tests of model, storage, ingest, query, http,
# api and server, the downsampled query tests, then over a representative set of integration
# tests, with meridian built with TSan too (the harness fails a test whose
# meridian printed a TSan report): remote-write over HTTP, queries, keep-alive,
# remote read and the global view (a region killed with SIGKILL), rules and
# their reload (SIGHUP, POST /-/reload), certificate and auth-file reloads
# (SIGHUP), query cancellation. Suppressions (scripts/tsan.supp) are for
# third-party code only.
# Not under TSan: StorageTest.SurvivesSigkill (forks after threads started,
# which TSan does not support), PromQL conformance (single threaded),
# DisconnectWatchTest (the endpoint-scanning fallback fstat()s the process's
# fds while other threads close them: a real race, which is why meridian's
# server hands the watch its socket instead, DisconnectWatchFdTest, run here),
# HttpServerTest.StopReturnsWithOpenConnections (gets a reset instead of an
# orderly close under TSan's timing), and the other integration tests: the
# timing-bound ones (slow senders, saturation, read timeouts, the 200-shard
# write burst, which got 86 503s under TSan: TSan's 5-15x
# slowdown moves their clocks), the 60 s end-to-end comparison and the
# SIGKILL crash and disk-fault tests, which exercise no more concurrency than
# the set below. compactor_test: 1 run in 4 reported a race on a RocksDB
# block (allocated in rocksdb::UncompressBlockData, read by the checkpoint
# thread through libstdc++'s string append, both inside librocksdb's reads);
# the present suppressions do not cover it, and one for libstdc++ would hide
# meridian's own races.
TSAN_INTEGRATION='ApiTest.*:HttpTest.KeepAliveQueriesAreFastAndTheConnectionStaysOpen'
TSAN_INTEGRATION+=':HttpTest.PostWithoutBodyWorks'
TSAN_INTEGRATION+=':GlobalViewTest.*:RemoteReadTest.*:RulesTest.*:TlsTest.RotatedCertificatesAreServedWithoutRestart'
TSAN_INTEGRATION+=':AuthTest.RolesTenantsAndHeaders:CancelTest.*:HarnessTest.*'
if [[ "${MERIDIAN_SKIP_TSAN:-0}" != 1 ]]; then
  scripts/build.sh tsan
  echo "tsan: not run: StorageTest.SurvivesSigkill, PromQL conformance, DisconnectWatchTest," \
       "HttpServerTest.StopReturnsWithOpenConnections, integration tests outside the set" \
       "(reasons in scripts/test.sh)"
  (
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
    cd build/tsan
    model/model_test
    storage/storage_test --gtest_filter='-StorageTest.SurvivesSigkill'
    query/query_test
    ingest/ingest_test
    http/http_test --gtest_filter='-DisconnectWatchTest.*:HttpServerTest.StopReturnsWithOpenConnections'
    api/api_test
    server/server_test
    # Window functions over downsampled data on two threads (a pipeline of
    # batches between the query's thread and the executor's).
    tests/downsampling/downsampled_query_test
    tests/integration/integration_test --gtest_filter="$TSAN_INTEGRATION"
  )
fi

if [[ "${MERIDIAN_SKIP_ASAN:-0}" != 1 ]]; then
  scripts/build.sh asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build/asan && ctest -j2 --output-on-failure --timeout 1200)
fi

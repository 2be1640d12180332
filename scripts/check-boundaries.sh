#!/usr/bin/env bash
# Fails when an #include crosses a module boundary. Dependencies point one way:
#   model  <-  storage  <-  compactor          <-  server (wiring)
#   model  <-  ingest, query, remote (production code sees model/ only)
#   http (connection layer)  <-  api (Prometheus HTTP API)  <-  server
# model (labels, matchers, samples, the Queryable and Appender interfaces, Go's
# number formats) depends on nothing of meridian and on no RocksDB, protobuf
# or HTTP library; any module may use it. storage knows nothing of HTTP,
# PromQL or protobuf. Outside storage/, only its public headers (storage.h,
# format.h and the ones it documents as public) may be included: its
# internals never. Tests and benchmarks of ingest and query may open a real
# Storage through storage/storage.h.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
check() {  # folder, forbidden-include regex, reason[, "src" = production files only]
  local hits
  hits=$(grep -rnE "^#include [<\"]($2)" "$1" --include='*.h' --include='*.cc' 2>/dev/null)
  if [[ ${4:-} == src ]]; then
    hits=$(grep -vE '_test\.cc:|_benchmark\.cc:|/test_[a-z_]*\.h:|/fake_[a-z_]*\.h:' <<<"$hits")
  fi
  if [[ -n $hits ]]; then
    echo "boundary violation ($3):"
    echo "$hits"
    fail=1
  fi
}
check model     'storage/|ingest/|query/|server/|compactor/|proto/|tests/|bench/|rocksdb/|google/protobuf|httplib|prometheus/' "model depends on nothing of meridian (no RocksDB, protobuf, HTTP)"
check storage   'query/|ingest/|server/|compactor/|proto/|httplib|prometheus/' "storage must not know PromQL, HTTP, protobuf"
check ingest    'query/|server/|compactor/|httplib' "ingest depends on model only"
check query     'ingest/|server/|compactor/|httplib|proto/' "query depends on model only"
check ingest    'storage/' "ingest appends through model/appender.h, not storage" src
check query     'storage/' "query reads through model/queryable.h, not storage" src
check remote    'query/|ingest/|server/|api/|compactor/|rocksdb/' "remote depends on model and proto only"
check remote    'storage/' "remote reads through model/queryable.h, not storage" src
check http      'api/|server/|query/|storage/|ingest/|remote/|compactor/|rocksdb/' "http is a connection layer: it knows nothing of Prometheus, PromQL or storage"
check api       'server/|rocksdb/' "api depends on http, query, model and storage's public header, never on server"
check rules     'ingest/|server/|api/|http/|compactor/|remote/|ui/|httplib|proto/|rocksdb/' "rules depends on query and model only"
check rules     'storage/' "rules reads through model/queryable.h and appends through model/appender.h" src
# storage's internals stay inside storage/.
internals='storage/(rocks_storage|tenant_head|mem_series|chunk_store|querier|keys|postings_index|wal_record|rocks_status|aggregate_cache)\.h'
for dir in ingest query remote rules http api server compactor tests bench; do
  [[ -d $dir ]] && check "$dir" "$internals" "storage internals are private to storage/"
done
check ui        'storage/|ingest/|query/|server/|api/|remote/|compactor/|rocksdb/|proto/' "ui serves its embedded files; server wires it"
check compactor 'query/|ingest/|server/|api/|remote/|ui/|k8s/|httplib|proto/|prometheus/' "compactor depends on storage only"
# The compactor sees storage through its public headers only: storage.h and
# compaction.h (its narrow access to persisted data), besides model/.
check compactor 'storage/(chunk_codec|coding|aggr_codec)\.h' "compactor uses storage's public headers (storage.h, compaction.h)"
[[ -d k8s ]] && check k8s 'server/|api/|ingest/|compactor/|proto/|remote/' "k8s uses model and query only"
[[ -d k8s ]] && check k8s 'storage/' "k8s reads through model/queryable.h, not storage" src
# Only storage's RocksDB adapter includes RocksDB: nothing outside storage/.
check ingest    'rocksdb/' "RocksDB is storage's business"
check query     'rocksdb/' "RocksDB is storage's business"
check server    'rocksdb/' "RocksDB is storage's business"
[[ -d k8s ]] && check k8s 'rocksdb/' "RocksDB is storage's business"
check compactor 'rocksdb/' "RocksDB is storage's business"
if ((fail == 0)); then echo "module boundaries: ok"; fi
exit $fail

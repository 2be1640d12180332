#!/usr/bin/env bash
# Fails when an #include crosses a module boundary. Dependencies point one way:
#   storage  <-  ingest, query, compactor  <-  server
# model (the shared vocabulary: Go's number formats) depends on nothing of
# meridian and on no RocksDB, protobuf or HTTP library; any module may use it.
# storage knows nothing of HTTP, PromQL or protobuf; ingest and query see
# storage's public headers only; only server includes everything.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
check() {  # folder, forbidden-include regex, reason
  local hits
  hits=$(grep -rnE "^#include [<\"]($2)" "$1" --include='*.h' --include='*.cc' 2>/dev/null)
  if [[ -n $hits ]]; then
    echo "boundary violation ($3):"
    echo "$hits"
    fail=1
  fi
}
check model     'storage/|ingest/|query/|server/|compactor/|proto/|tests/|bench/|rocksdb/|google/protobuf|httplib|prometheus/' "model depends on nothing of meridian (no RocksDB, protobuf, HTTP)"
check storage   'query/|ingest/|server/|compactor/|proto/|httplib|prometheus/' "storage must not know PromQL, HTTP, protobuf"
check ingest    'query/|server/|compactor/|httplib' "ingest depends on storage only"
check query     'ingest/|server/|compactor/|httplib|proto/' "query depends on storage only"
check remote    'query/|ingest/|server/|api/|compactor/|rocksdb/|storage/(rocks_storage|tenant_head|mem_series|chunk_store|querier|keys)' "remote depends on storage's public interfaces and proto only"
[[ -d compactor ]] && check compactor 'query/|ingest/|server/|httplib' "compactor depends on storage only"
# Only storage's RocksDB adapter includes RocksDB: nothing outside storage/.
check ingest    'rocksdb/' "RocksDB is storage's business"
check query     'rocksdb/' "RocksDB is storage's business"
check server    'rocksdb/' "RocksDB is storage's business"
if ((fail == 0)); then echo "module boundaries: ok"; fi
exit $fail

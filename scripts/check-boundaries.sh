#!/usr/bin/env bash
# Fails when an #include crosses a module boundary. Dependencies point one way:
#   storage  <-  ingest, query, compactor  <-  server
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
check storage   'query/|ingest/|server/|compactor/|proto/|httplib|prometheus/' "storage must not know PromQL, HTTP, protobuf"
check ingest    'query/|server/|compactor/|httplib' "ingest depends on storage only"
check query     'ingest/|server/|compactor/|httplib|proto/' "query depends on storage only"
[[ -d compactor ]] && check compactor 'query/|ingest/|server/|httplib' "compactor depends on storage only"
# Only storage's RocksDB adapter includes RocksDB: nothing outside storage/.
check ingest    'rocksdb/' "RocksDB is storage's business"
check query     'rocksdb/' "RocksDB is storage's business"
check server    'rocksdb/' "RocksDB is storage's business"
if ((fail == 0)); then echo "module boundaries: ok"; fi
exit $fail

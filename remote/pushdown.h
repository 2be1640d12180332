// The client side of aggregation pushdown (model/queryable.h PushdownQuery):
// asks a regional meridian's Prometheus HTTP API (the remote's api-url) to
// evaluate a pushed-down aggregation over its own data:
//   POST <api-url>/api/v1/query_range  query, start, end, step  (or /api/v1/query, time)
//        lookback_delta, partial_response, and the replica deduplication to
//        apply (replicaLabels[]=... with dedup=true, else dedup=false), as
//        Thanos's query API takes them
// with the tenant header (and the remote's auth/TLS) as the remote-read calls.
// Only remotes configured with `pushdown` (a meridian) are asked; a plain
// Prometheus has no replicaLabels[] and stays on remote-read.
#ifndef MERIDIAN_REMOTE_PUSHDOWN_H_
#define MERIDIAN_REMOTE_PUSHDOWN_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/queryable.h"
#include "model/status.h"
#include "remote/client.h"

namespace meridian::remote {

// A remote's answer: its result series, and its own warnings and infos.
struct PushdownAnswer {
  std::vector<std::pair<Labels, std::vector<Sample>>> series;
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
};

// The endpoint of the query API call (`e` with its URL replaced).
RemoteEndpoint PushdownEndpoint(const RemoteEndpoint& e, bool instant);

// Sends `query` on `call` (made from PushdownEndpoint). Errors name the HTTP
// status and the remote's error text.
absl::StatusOr<PushdownAnswer> QueryRemote(HttpCall* call, const RemoteEndpoint& e,
                                           const std::string& query, const PushdownQuery& q,
                                           std::string_view caller_tenant, bool partial_response);

// Parses a Prometheus API query answer (matrix or vector). Exposed for tests.
absl::StatusOr<PushdownAnswer> ParseQueryAnswer(std::string_view body);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_PUSHDOWN_H_

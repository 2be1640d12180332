#include "remote/pushdown.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>

#include "remote/watermark.h"

namespace meridian::remote {
namespace {

std::string Seconds(int64_t ms) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(std::llabs(ms % 1000)));
  if (ms < 0 && ms > -1000) return std::string("-") + buf;
  return buf;
}

}  // namespace

RemoteEndpoint PushdownEndpoint(const RemoteEndpoint& e, bool instant) {
  RemoteEndpoint api = e;
  api.url = ApiBaseUrl(e) + (instant ? "/api/v1/query" : "/api/v1/query_range");
  return api;
}

absl::StatusOr<PushdownAnswer> QueryRemote(HttpCall* call, const RemoteEndpoint& e,
                                           const std::string& query, const PushdownQuery& q,
                                           std::string_view caller_tenant, bool partial_response) {
  MERIDIAN_RETURN_IF_ERROR(call->setup());
  httplib::Params params;
  params.emplace("query", query);
  if (q.step_ms == 0) {
    params.emplace("time", Seconds(q.end_ms));
  } else {
    params.emplace("start", Seconds(q.start_ms));
    params.emplace("end", Seconds(q.end_ms));
    params.emplace("step", Seconds(q.step_ms));
  }
  if (q.lookback_ms > 0) params.emplace("lookback_delta", Seconds(q.lookback_ms));
  if (q.max_source_resolution_ms >= 0) {
    params.emplace("max_source_resolution", Seconds(q.max_source_resolution_ms));
  }
  params.emplace("partial_response", partial_response ? "true" : "false");
  if (q.replica_labels.empty()) {
    params.emplace("dedup", "false");
  } else {
    params.emplace("dedup", "true");
    for (const auto& r : q.replica_labels) params.emplace("replicaLabels[]", r);
  }
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", "meridian-remote-read/0.1"}};
  const std::string tenant = e.tenant.empty() ? std::string(caller_tenant) : e.tenant;
  if (!tenant.empty() && !e.tenant_header.empty()) headers.emplace(e.tenant_header, tenant);
  auto res = call->client()->Post(call->path(), headers, params);
  if (!res) return absl::UnavailableError("query API failed: " + httplib::to_string(res.error()));
  auto parsed = ParseQueryAnswer(res->body);
  if (res->status != 200) {
    std::string msg = parsed.ok() ? "" : std::string(parsed.status().message());
    if (msg.size() > 200) msg.resize(200);
    return absl::UnavailableError("query API answered HTTP " + std::to_string(res->status) +
                                  (msg.empty() ? "" : ": " + msg));
  }
  return parsed;
}

}  // namespace meridian::remote

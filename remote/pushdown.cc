#include "remote/pushdown.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

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

absl::StatusOr<Sample> PointOf(const nlohmann::json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_string()) {
    return absl::DataLossError("query API: malformed point");
  }
  const double t = p[0].get<double>();
  const std::string v = p[1].get<std::string>();
  Sample s;
  s.t_ms = static_cast<int64_t>(t * 1000 + (t < 0 ? -0.5 : 0.5));
  if (v == "NaN") {
    s.v = std::numeric_limits<double>::quiet_NaN();
  } else if (v == "+Inf") {
    s.v = std::numeric_limits<double>::infinity();
  } else if (v == "-Inf") {
    s.v = -std::numeric_limits<double>::infinity();
  } else {
    char* end = nullptr;
    s.v = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') return absl::DataLossError("query API: bad value");
  }
  return s;
}

}  // namespace

RemoteEndpoint PushdownEndpoint(const RemoteEndpoint& e, bool instant) {
  RemoteEndpoint api = e;
  api.url = ApiBaseUrl(e) + (instant ? "/api/v1/query" : "/api/v1/query_range");
  return api;
}

absl::StatusOr<PushdownAnswer> ParseQueryAnswer(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("query API: not JSON");
  if (j.value("status", "") != "success") {
    std::string err = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                    : "no error text";
    return absl::UnavailableError("query API: " + err);
  }
  const auto& data = j["data"];
  if (!data.is_object() || !data.contains("result") || !data["result"].is_array()) {
    return absl::DataLossError("query API: no data.result");
  }
  const std::string type = data.value("resultType", "");
  PushdownAnswer out;
  for (const auto& s : data["result"]) {
    if (!s.is_object() || !s.contains("metric") || !s["metric"].is_object()) {
      return absl::DataLossError("query API: malformed series");
    }
    std::vector<Label> ls;
    for (auto it = s["metric"].begin(); it != s["metric"].end(); ++it) {
      if (!it.value().is_string()) return absl::DataLossError("query API: malformed label");
      ls.push_back(Label{it.key(), it.value().get<std::string>()});
    }
    std::vector<Sample> points;
    if (type == "matrix" && s.contains("values") && s["values"].is_array()) {
      for (const auto& p : s["values"]) {
        MERIDIAN_ASSIGN_OR_RETURN(Sample x, PointOf(p));
        points.push_back(x);
      }
    } else if (type == "vector" && s.contains("value")) {
      MERIDIAN_ASSIGN_OR_RETURN(Sample x, PointOf(s["value"]));
      points.push_back(x);
    } else {
      return absl::DataLossError("query API: unexpected result type " + type);
    }
    out.series.emplace_back(Labels::FromUnsorted(std::move(ls)), std::move(points));
  }
  for (const char* key : {"warnings", "infos"}) {
    if (!j.contains(key) || !j[key].is_array()) continue;
    for (const auto& w : j[key]) {
      if (!w.is_string()) continue;
      (std::string(key) == "warnings" ? out.warnings : out.infos).push_back(w.get<std::string>());
    }
  }
  return out;
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

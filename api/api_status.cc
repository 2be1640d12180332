// The Prometheus API's status endpoints (/api/v1/status/*), the admin
// snapshot.
#include <httplib.h>

#include <thread>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/json.h"

namespace meridian::api {

using namespace api_internal;  // NOLINT: this file's shared vocabulary

Reply PrometheusApi::BuildInfo(const httplib::Request&) {
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject();
  w.Key("version").String(options_.version);
  w.Key("revision").String("meridian");
  w.Key("branch").String("main");
  w.Key("buildUser").String("meridian");
  w.Key("buildDate").String(__DATE__);
  w.Key("goVersion").String("none (C++20)");
  w.EndObject();
  return r;
}

Reply PrometheusApi::RuntimeInfo(const httplib::Request&) {
  Reply r;
  StorageStats s = local_ != nullptr ? local_->Stats() : StorageStats{};
  JsonWriter w(&r.data);
  w.BeginObject();
  w.Key("startTime").String(options_.start_time_rfc3339);
  w.Key("CWD").String(options_.cwd);
  w.Key("reloadConfigSuccess").Bool(true);
  w.Key("lastConfigTime").String(options_.start_time_rfc3339);
  w.Key("corruptionCount").Int(static_cast<int64_t>(s.corruptions));
  w.Key("goroutineCount").Int(0);
  w.Key("GOMAXPROCS").Int(std::thread::hardware_concurrency());
  w.Key("GOMEMLIMIT").Int(0);
  w.Key("GOGC").String("");
  w.Key("GODEBUG").String("");
  w.Key("storageRetention").String(options_.storage_retention);
  w.Key("numSeries").Int(static_cast<int64_t>(s.series));
  w.EndObject();
  return r;
}

Reply PrometheusApi::Flags(const httplib::Request&) {
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject();
  for (const auto& [k, v] : options_.flags) w.Key(k).String(v);
  w.EndObject();
  return r;
}

Reply PrometheusApi::TsdbStatus(const httplib::Request& req) {
  size_t limit = 10;
  if (HasParam(req, "limit")) {
    limit = std::strtoull(Param(req, "limit").c_str(), nullptr, 10);
    if (limit == 0) {
      return {InvalidParam("limit", absl::InvalidArgumentError("limit must be a positive number"))};
    }
  }
  // Everything here is the tenant's, as a Prometheus holding only its data
  // would answer (minTime/maxTime: a global meridian reads its regions'
  // watermarks from them).
  CardinalityStats c;
  if (local_ != nullptr) c = local_->Cardinality(TenantOf(req, options_.default_tenant), limit);
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject();
  w.Key("headStats").BeginObject();
  w.Key("numSeries").Int(static_cast<int64_t>(c.num_series));
  w.Key("numLabelPairs").Int(static_cast<int64_t>(c.series_count_by_label_value_pair.size()));
  w.Key("chunkCount").Int(0);
  w.Key("minTime").Int(c.min_time_ms);
  w.Key("maxTime").Int(c.max_time_ms);
  w.EndObject();
  auto list = [&](const char* key, const std::vector<CardinalityStats::Entry>& v) {
    w.Key(key).BeginArray();
    for (const auto& e : v) {
      w.BeginObject().Key("name").String(e.name);
      w.Key("value").Int(static_cast<int64_t>(e.value)).EndObject();
    }
    w.EndArray();
  };
  list("seriesCountByMetricName", c.series_count_by_metric_name);
  list("labelValueCountByLabelName", c.label_value_count_by_label_name);
  list("memoryInBytesByLabelName", c.memory_in_bytes_by_label_name);
  list("seriesCountByLabelValuePair", c.series_count_by_label_value_pair);
  w.EndObject();
  return r;
}

// Prometheus's TSDB snapshot: a consistent copy of the data dir under
// <data-dir>/snapshots/<name>; `meridian restore` starts a data dir from it.
Reply PrometheusApi::Snapshot(const httplib::Request& req) {
  if (!options_.enable_admin_api) return {absl::UnavailableError("admin APIs disabled")};
  bool skip_head = false;
  if (NonEmptyParam(req, "skip_head")) {
    auto b = ParseGoBool(Param(req, "skip_head"));
    if (!b.ok()) return {InvalidParam("skip_head", b.status())};
    skip_head = *b;
  }
  if (local_ == nullptr) return {absl::UnavailableError("this meridian has no local storage")};
  auto name = local_->Snapshot(/*persist_head=*/!skip_head);
  if (!name.ok()) return {name.status()};
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject().Key("name").String(*name).EndObject();
  return r;
}

}  // namespace meridian::api

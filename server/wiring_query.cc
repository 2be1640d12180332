// Queries: the PromQL engine (with its admission lanes and the query metrics)
// and the Prometheus HTTP API over it.
#include <ctime>
#include <filesystem>

#include "server/server_internal.h"

namespace meridian::server {

namespace {

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

void MeridianServer::Impl::SetUpEngine() {
  promql::EngineOptions eo;
  eo.lookback_delta_ms = config.lookback_delta_ms;
  eo.max_samples = config.max_samples;
  eo.timeout = std::chrono::milliseconds(config.query_timeout_ms);
  eo.admission.dashboard_slots = static_cast<int>(config.query_max_concurrency);
  eo.admission.priority_slots = static_cast<int>(config.query_priority_concurrency);
  eo.admission.queue_timeout = std::chrono::milliseconds(config.query_queue_timeout_ms);
  eo.admission.max_queued = static_cast<int>(config.query_max_queued);
  metrics = std::make_unique<Metrics>(config.default_tenant);
  eo.on_query_done = [m = metrics.get()](const promql::QueryStats& s) { m->ObserveQuery(s); };
  eo.executor = read_ahead.get();
  engine = std::make_unique<promql::Engine>(eo);
}

absl::Status MeridianServer::Impl::SetUpApi() {
  api::ApiOptions ao;
  ao.default_tenant = config.default_tenant;
  ao.flags = config.AsFlags();
  ao.start_time_rfc3339 = NowRfc3339();
  ao.cwd = std::filesystem::current_path().string();
  ao.storage_retention = config.retention_ms == 0 ? "0s" : ao.flags["retention"];
  ao.enable_admin_api = config.enable_admin_api;
  ao.max_metadata_results = static_cast<size_t>(config.max_metadata_results);
  ao.max_tenant_id_bytes = static_cast<size_t>(config.max_tenant_id_bytes);
  ao.rules = rules.get();
  ao.observe_request = [m = metrics.get()](std::string_view handler, int code, double seconds) {
    m->ObserveRequest(handler, code, seconds);
  };
  MERIDIAN_RETURN_IF_ERROR(SetUpRemotes(&ao));
  SetUpQueryCache(&ao);
  api = std::make_unique<api::PrometheusApi>(storage.get(), storage.get(), engine.get(), ao);
  return absl::OkStatus();
}

// The results cache of range queries (api/query_cache.h, docs/query-cache.md):
// only over local data. A global meridian (--remote-read) has none: its
// remotes' data has no data generation to tell it that an old step changed.
void MeridianServer::Impl::SetUpQueryCache(api::ApiOptions* ao) {
  if (config.query_cache_bytes > 0 && remotes.empty()) {
    api::QueryCacheOptions qo;
    qo.max_bytes = static_cast<size_t>(config.query_cache_bytes);
    qo.offset_ms = kQueryCacheOffsetMs;  // storage's late_write_ms (wiring_storage.cc)
    query_cache = std::make_shared<api::RangeQueryCache>(
        qo, [s = storage.get()](std::string_view tenant) { return s->DataGeneration(tenant); });
    ao->query_cache = query_cache.get();
  }
  auto counter = [&](const char* name, const char* help) {
    return std::make_shared<CounterMirror>(metrics->AddCounter(name, help));
  };
  auto hits = counter("meridian_query_cache_hits_total",
                      "Range queries answered from the results cache alone.");
  auto partial = counter("meridian_query_cache_partial_hits_total",
                         "Range queries answered from kept steps plus evaluated ones.");
  auto misses = counter("meridian_query_cache_misses_total",
                        "Range queries through the results cache that could use no kept step.");
  auto invalidated = counter("meridian_query_cache_invalidations_total",
                             "Kept answers dropped because their tenant's data changed.");
  auto evictions =
      counter("meridian_query_cache_evictions_total", "Kept answers dropped for memory.");
  auto* bytes = metrics->AddGauge("meridian_query_cache_bytes",
                                  "Estimated memory of the results cache's kept answers.");
  auto* entries = metrics->AddGauge("meridian_query_cache_entries",
                                    "Kept answers (one per query, step and tenant).");
  metrics->AddCollector(
      [c = query_cache, hits, partial, misses, invalidated, evictions, bytes, entries] {
        if (c == nullptr) return;
        api::QueryCacheStats s = c->Stats();
        hits->Set(static_cast<double>(s.hits));
        partial->Set(static_cast<double>(s.partial_hits));
        misses->Set(static_cast<double>(s.misses));
        invalidated->Set(static_cast<double>(s.invalidations));
        evictions->Set(static_cast<double>(s.evictions));
        bytes->Set(static_cast<double>(s.bytes));
        entries->Set(static_cast<double>(s.entries));
      });
}

}  // namespace meridian::server

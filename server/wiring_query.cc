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
  api = std::make_unique<api::PrometheusApi>(storage.get(), storage.get(), engine.get(), ao);
  return absl::OkStatus();
}

}  // namespace meridian::server

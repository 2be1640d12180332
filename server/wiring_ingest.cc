// Ingest: the remote-write receiver, its limits and concurrency limiter, and
// the write routes (/api/v1/write and its aliases).
#include <algorithm>

#include "api/api.h"
#include "api/params.h"
#include "server/server_internal.h"

namespace meridian::server {

namespace {

ingest::IngestLimits LimitsOf(const Config& c) {
  ingest::IngestLimits l;
  l.max_labels_per_series = static_cast<size_t>(c.max_labels_per_series);
  l.max_label_name_bytes = static_cast<size_t>(c.max_label_name_bytes);
  l.max_label_value_bytes = static_cast<size_t>(c.max_label_value_bytes);
  l.max_series_per_request = static_cast<size_t>(c.max_series_per_request);
  l.max_samples_per_request = static_cast<size_t>(c.max_samples_per_request);
  l.max_series_per_tenant = static_cast<uint64_t>(c.max_series_per_tenant);
  l.max_tenant_id_bytes = static_cast<size_t>(c.max_tenant_id_bytes);
  l.ingestion_rate = c.ingestion_rate;
  l.ingestion_burst = c.ingestion_burst;
  return l;
}

}  // namespace

bool InflightLimiter::Acquire() {
  MutexLock lock(&mu_);
  if (limit_ <= 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  while (inflight_ >= limit_) {
    if (cv_.WaitUntil(&mu_, deadline) && inflight_ >= limit_) return false;
  }
  ++inflight_;
  return true;
}

void InflightLimiter::Release() {
  {
    MutexLock lock(&mu_);
    --inflight_;
  }
  cv_.Signal();
}

bool IsWritePath(const std::string& path) {
  return path == "/api/v1/write" || path == "/api/v1/receive" || path == "/api/v1/push";
}

void MeridianServer::Impl::SetUpIngest() {
  ingest::RemoteWriteOptions ro;
  ro.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  ro.max_decoded_bytes = static_cast<size_t>(config.max_decoded_bytes);
  ro.max_future_ms = config.max_future_ms;
  ro.limits = LimitsOf(config);
  receiver = std::make_unique<ingest::RemoteWriteReceiver>(storage.get(), ro);
  limiter = std::make_unique<InflightLimiter>(config.max_inflight_writes, std::chrono::seconds(1));
}

void MeridianServer::Impl::RegisterWriteRoutes() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    auto start = Clock::now();
    ingest::RemoteWriteStats stats;
    const std::string tenant = api::TenantOf(req, config.default_tenant);
    absl::Status st;
    if (!limiter->Acquire()) {
      st = absl::UnavailableError("too many concurrent remote-write requests; retry later");
      stats.request_rejected = "too_many_inflight";
    } else {
      st = receiver->Receive(tenant, req.get_header_value("Content-Type"),
                             req.get_header_value("Content-Encoding"), req.body, &stats);
      limiter->Release();
    }
    res.set_header("X-Prometheus-Remote-Write-Samples-Written",
                   std::to_string(stats.samples_written));
    res.set_header("X-Prometheus-Remote-Write-Histograms-Written",
                   std::to_string(stats.histograms_written));
    res.set_header("X-Prometheus-Remote-Write-Exemplars-Written",
                   std::to_string(stats.exemplars_written));
    switch (st.code()) {
      case absl::StatusCode::kOk:
        res.status = 204;
        break;
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kOutOfRange:
        res.status = 400;
        break;
      case absl::StatusCode::kResourceExhausted:
        res.status = 413;
        break;
      case absl::StatusCode::kUnimplemented:
        res.status = 415;
        break;
      case absl::StatusCode::kUnavailable:
        res.status = 503;
        res.set_header("Retry-After", std::to_string(std::max(1, stats.retry_after_s)));
        break;
      default:
        res.status = 500;
    }
    if (!st.ok()) {
      std::string text = res.status == 500 ? api::PublicMessage(st) : std::string(st.message());
      res.set_content(text + "\n", "text/plain; charset=utf-8");
    }
    metrics->ObserveWrite(tenant, &stats, res.status);
    metrics->ObserveRequest("/api/v1/write", res.status,
                            std::chrono::duration<double>(Clock::now() - start).count());
  };
  for (const char* path : {"/api/v1/write", "/api/v1/receive", "/api/v1/push"}) {
    http.Post(path, handler);
  }
}

}  // namespace meridian::server

#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include "model/sync.h"

namespace meridian::server {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  request_duration_ = &prometheus::BuildHistogram()
                           .Name("meridian_http_request_duration_seconds")
                           .Help("Latency of HTTP requests by handler.")
                           .Register(*registry_);
  requests_ = &prometheus::BuildCounter()
                   .Name("meridian_http_requests_total")
                   .Help("HTTP requests by handler and status code.")
                   .Register(*registry_);
  rejected_ = &prometheus::BuildCounter()
                   .Name("meridian_ingest_samples_rejected_total")
                   .Help("Remote-write samples rejected, by reason.")
                   .Register(*registry_);
  requests_rejected_ = &prometheus::BuildCounter()
                            .Name("meridian_ingest_requests_rejected_total")
                            .Help("Remote-write requests refused as a whole, by reason.")
                            .Register(*registry_);
  queries_rejected_ = &prometheus::BuildCounter()
                           .Name("meridian_query_rejected_total")
                           .Help("Queries refused by admission control, by lane and reason.")
                           .Register(*registry_);
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  samples_ingested_ = counter("meridian_ingest_samples_total", "Samples ingested through remote-write.");
  series_created_ = counter("meridian_ingest_series_created_total", "Series created by remote-write.");
  metadata_ingested_ = counter("meridian_ingest_metadata_total", "Metric metadata entries ingested.");
  histograms_dropped_ = counter("meridian_ingest_native_histograms_dropped_total",
                                "Native histogram samples received and not stored (unsupported).");
  exemplars_dropped_ = counter("meridian_ingest_exemplars_dropped_total",
                               "Exemplars received and not stored (unsupported).");
  active_series_ = gauge("meridian_storage_series", "Series held in the storage index (all tenants).");
  disk_bytes_ = gauge("meridian_storage_disk_bytes", "Bytes used on disk by the data directory.");
  cached_series_ = gauge("meridian_storage_series_cache_entries", "Entries in the label-set to series cache.");
  cache_bytes_ = gauge("meridian_storage_series_cache_bytes", "Estimated memory of the series cache.");
  head_min_time_ = gauge("meridian_storage_min_time_seconds", "Oldest sample timestamp stored.");
  head_max_time_ = gauge("meridian_storage_max_time_seconds", "Newest sample timestamp stored.");
  corruptions_ = counter("meridian_storage_corruptions_total",
                         "Encounters with corrupt stored data: reads that skipped a series (each "
                         "read counts), retention passes and compactions that met it.");
  wal_write_failures_ = counter("meridian_wal_write_failures_total",
                                "Durable writes (WAL records, tenants, metadata, checkpoints) that failed.");
  checkpoint_failures_ = counter("meridian_checkpoint_failures_total",
                                 "Checkpoints that failed (retried with backoff from 1 s).");
  checkpoints_ = counter("meridian_checkpoints_total", "Checkpoints completed.");
  storage_resumes_ = counter("meridian_storage_resumes_total",
                             "Recoveries of the storage from a failed write (RocksDB Resume).");
  storage_degraded_ = gauge("meridian_storage_degraded",
                            "1 while the storage refuses writes after a failed write (and /-/ready answers 503).");
}

void Metrics::ObserveRequest(std::string_view handler, int code, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  std::string h(handler);
  request_duration_->Add({{"handler", h}}, kBuckets).Observe(seconds);
  requests_->Add({{"handler", h}, {"code", std::to_string(code)}}).Increment();
}

prometheus::Counter& Metrics::samples_rejected(std::string_view reason) {
  return rejected_->Add({{"reason", std::string(reason)}});
}

prometheus::Counter& Metrics::requests_rejected(std::string_view reason) {
  return requests_rejected_->Add({{"reason", std::string(reason)}});
}

prometheus::Counter& Metrics::queries_rejected(std::string_view lane, std::string_view reason) {
  return queries_rejected_->Add({{"lane", std::string(lane)}, {"reason", std::string(reason)}});
}

std::string Metrics::Render(const Storage& storage, const promql::QueryAdmission& admission) {
  StorageStats s = storage.Stats();
  active_series_->Set(static_cast<double>(s.series));
  disk_bytes_->Set(static_cast<double>(s.disk_bytes));
  cached_series_->Set(static_cast<double>(s.cached_series));
  cache_bytes_->Set(static_cast<double>(s.cache_bytes));
  head_min_time_->Set(static_cast<double>(s.min_time_ms) / 1000.0);
  head_max_time_->Set(static_cast<double>(s.max_time_ms) / 1000.0);
  {
    MutexLock l(&corruptions_mu_);
    if (s.corruptions > corruptions_seen_) {
      corruptions_->Increment(static_cast<double>(s.corruptions - corruptions_seen_));
      corruptions_seen_ = s.corruptions;
    }
  }
  {
    MutexLock l(&render_mu_);
    StorageHealth h = storage.Health();
    auto advance = [](prometheus::Counter* c, uint64_t now, uint64_t before) {
      if (now > before) c->Increment(static_cast<double>(now - before));
    };
    advance(wal_write_failures_, h.wal_write_failures, last_health_.wal_write_failures);
    advance(checkpoint_failures_, h.checkpoint_failures, last_health_.checkpoint_failures);
    advance(checkpoints_, h.checkpoints, last_health_.checkpoints);
    advance(storage_resumes_, h.resumes, last_health_.resumes);
    storage_degraded_->Set(h.writable ? 0 : 1);
    last_health_ = h;
    for (promql::QueryPriority p : {promql::QueryPriority::kDashboard, promql::QueryPriority::kPriority}) {
      promql::QueryAdmission::Rejections r = admission.rejected(p);
      auto& last = last_rejected_[p == promql::QueryPriority::kPriority ? 1 : 0];
      const char* lane = promql::QueryPriorityName(p);
      advance(&queries_rejected(lane, "queue_full"), r.queue_full, last.queue_full);
      advance(&queries_rejected(lane, "queue_timeout"), r.queue_timeout, last.queue_timeout);
      last = r;
    }
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace meridian::server

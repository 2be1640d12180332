// Metrics: meridian's own metrics, exposed at /metrics through prometheus-cpp.
// Thread-safe (prometheus-cpp metrics are atomic).
#ifndef MERIDIAN_SERVER_METRICS_H_
#define MERIDIAN_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "model/sync.h"
#include "query/admission.h"
#include "storage/storage.h"

namespace meridian::server {

class Metrics {
 public:
  Metrics();

  // Request latency and count for one endpoint (handler label) and status code.
  void ObserveRequest(std::string_view handler, int code, double seconds);

  // Remote-write accounting.
  prometheus::Counter& samples_ingested() { return *samples_ingested_; }
  prometheus::Counter& series_created() { return *series_created_; }
  prometheus::Counter& metadata_ingested() { return *metadata_ingested_; }
  prometheus::Counter& histograms_dropped() { return *histograms_dropped_; }
  prometheus::Counter& exemplars_dropped() { return *exemplars_dropped_; }
  // reason: invalid_labels, too_far_in_future, too_old, conflict, too_many_labels,
  // label_name_too_long, label_value_too_long, series_limit
  prometheus::Counter& samples_rejected(std::string_view reason);
  // Remote-write requests refused as a whole, by reason: invalid_tenant,
  // tenant_limit, request_too_large, rate_limited, too_many_inflight.
  prometheus::Counter& requests_rejected(std::string_view reason);
  // Queries refused by admission control, by lane and reason (queue_timeout).
  prometheus::Counter& queries_rejected(std::string_view lane, std::string_view reason);

  // Renders the text exposition format, refreshing gauges from `storage` first.
  // and the query admission lanes' refusals from `admission`.
  std::string Render(const Storage& storage, const promql::QueryAdmission& admission);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* request_duration_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* requests_rejected_;
  prometheus::Family<prometheus::Counter>* queries_rejected_;
  prometheus::Counter* samples_ingested_;
  prometheus::Counter* series_created_;
  prometheus::Counter* metadata_ingested_;
  prometheus::Counter* histograms_dropped_;
  prometheus::Counter* exemplars_dropped_;
  prometheus::Gauge* active_series_;
  prometheus::Gauge* disk_bytes_;
  prometheus::Gauge* cached_series_;
  prometheus::Gauge* cache_bytes_;
  prometheus::Gauge* head_min_time_;
  prometheus::Gauge* head_max_time_;
  // Mirrors StorageStats::corruptions (a counter kept by the storage).
  prometheus::Counter* corruptions_;
  Mutex corruptions_mu_;
  uint64_t corruptions_seen_ ABSL_GUARDED_BY(corruptions_mu_) = 0;
  prometheus::Counter* wal_write_failures_;
  prometheus::Counter* checkpoint_failures_;
  prometheus::Counter* checkpoints_;
  prometheus::Counter* storage_resumes_;
  prometheus::Gauge* storage_degraded_;
  // Storage's cumulative counts at the last Render, to advance the counters.
  Mutex render_mu_;
  StorageHealth last_health_ ABSL_GUARDED_BY(render_mu_);
  // Admission's cumulative refusals per lane at the last Render.
  promql::QueryAdmission::Rejections last_rejected_[2] ABSL_GUARDED_BY(render_mu_);
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_METRICS_H_

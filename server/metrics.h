// Metrics: meridian's own metrics, exposed at /metrics through prometheus-cpp.
// Names follow Prometheus's conventions (base units, _total for counters,
// _seconds/_bytes suffixes); `promtool check metrics` passes on the output
// (tests/integration/metrics_test.cc).
//
// Adding metrics for a component (compactor, rules, remotes, ...):
//   - Counters and histograms the server itself observes: register a family in
//     the constructor (one block per component, in metrics.cc) and give it an
//     accessor or an Observe* method here. Create every labelled child the
//     component can emit at construction, so each series exists from the
//     start at 0 (rate() and absent() need the first 0).
//   - Figures a component keeps itself (atomics in its stats struct): register
//     gauges, and CounterMirror for cumulative counts, and refresh them from
//     the component's stats in a collector:
//       auto* runs = metrics->AddCounter("meridian_compactor_runs_total", "...");
//       metrics->AddCollector([=, mirror = std::make_shared<CounterMirror>(runs)] {
//         mirror->Set(compactor->Stats().runs);
//       });
//     Collectors run at the start of every Render.
//
// Thread-safety: thread-safe (prometheus-cpp metrics are atomic; the tenant
// set and the mirrors lock).
#ifndef MERIDIAN_SERVER_METRICS_H_
#define MERIDIAN_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "ingest/remote_write.h"
#include "model/sync.h"
#include "query/admission.h"
#include "query/engine.h"
#include "storage/storage.h"

namespace meridian::server {

// Advances a prometheus-cpp counter to a cumulative count kept elsewhere
// (a counter cannot be set). Thread-safe; counts that go backwards (a
// component restarted) are ignored until they pass the last one again.
class CounterMirror {
 public:
  explicit CounterMirror(prometheus::Counter* counter) : counter_(counter) {}
  void Set(double cumulative);

 private:
  prometheus::Counter* const counter_;
  Mutex mu_;
  double last_ ABSL_GUARDED_BY(mu_) = 0;
};

class Metrics {
 public:
  // `default_tenant`'s per-tenant series exist from the start.
  explicit Metrics(std::string default_tenant = "");
  ~Metrics();

  // Request latency and count for one endpoint (handler label) and status code.
  void ObserveRequest(std::string_view handler, int code, double seconds);

  // One remote-write request for `tenant` answered with `code`: samples,
  // series created and rejections per tenant. Every non-2xx answer counts once
  // in meridian_ingest_requests_rejected_total under a reason: `stats`'
  // request_rejected, else one derived from the code (invalid_request,
  // invalid_samples, request_too_large, unsupported_media_type,
  // method_not_allowed, storage_unavailable, internal). `stats` may be null
  // (a request answered before the receiver saw it). The tenant label is
  // empty for tenants the storage does not hold (invalid or refused IDs), so
  // clients cannot create label values at will.
  void ObserveWrite(std::string_view tenant, const ingest::RemoteWriteStats* stats, int code);

  // One admitted query (promql::EngineOptions::on_query_done).
  void ObserveQuery(const promql::QueryStats& stats);

  prometheus::Counter& metadata_ingested() { return *metadata_ingested_; }
  prometheus::Counter& histograms_dropped() { return *histograms_dropped_; }
  prometheus::Counter& exemplars_dropped() { return *exemplars_dropped_; }

  // For components' own metrics (see the file comment).
  prometheus::Registry& registry() { return *registry_; }
  prometheus::Counter* AddCounter(const std::string& name, const std::string& help);
  prometheus::Gauge* AddGauge(const std::string& name, const std::string& help);
  void AddCollector(std::function<void()> collect);

  // Renders the text exposition format: runs the collectors, refreshes the
  // gauges from `storage` and the query admission lanes from `admission`,
  // and appends the process_* metrics and meridian_build_info.
  std::string Render(const Storage& storage, const promql::QueryAdmission& admission);

 private:
  struct TenantCounters;
  // The per-tenant children of `tenant` ("" for unknown tenants), created
  // (all reasons at 0) on first use.
  TenantCounters& Tenant(const std::string& tenant);
  bool KnownTenant(std::string_view tenant);
  void AddWalMetrics();
  void RenderStorage(const Storage& storage);
  void RenderQueries(const promql::QueryAdmission& admission);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* request_duration_;
  prometheus::Family<prometheus::Counter>* requests_;

  // Ingest, per tenant.
  prometheus::Family<prometheus::Counter>* samples_ingested_;
  prometheus::Family<prometheus::Counter>* series_created_;
  prometheus::Family<prometheus::Counter>* samples_rejected_;
  prometheus::Family<prometheus::Counter>* requests_rejected_;
  prometheus::Counter* metadata_ingested_;
  prometheus::Counter* histograms_dropped_;
  prometheus::Counter* exemplars_dropped_;
  Mutex tenants_mu_;
  // Tenants seen (their counters exist); "" stands for every other tenant.
  absl::flat_hash_map<std::string, std::unique_ptr<TenantCounters>> tenants_
      ABSL_GUARDED_BY(tenants_mu_);

  // Series and storage.
  prometheus::Gauge* series_;
  prometheus::Family<prometheus::Gauge>* tenant_series_;
  prometheus::Family<prometheus::Gauge>* tenant_active_series_;
  prometheus::Gauge* disk_bytes_;
  prometheus::Gauge* cached_series_;
  prometheus::Gauge* cache_bytes_;
  prometheus::Gauge* head_min_time_;
  prometheus::Gauge* head_max_time_;
  prometheus::Gauge* storage_degraded_;
  std::unique_ptr<CounterMirror> corruptions_;
  std::unique_ptr<CounterMirror> wal_write_failures_;
  std::unique_ptr<CounterMirror> storage_resumes_;
  std::unique_ptr<CounterMirror> series_evicted_;
  std::unique_ptr<CounterMirror> series_readmitted_;

  // WAL and checkpoints.
  std::unique_ptr<CounterMirror> wal_written_bytes_;
  std::unique_ptr<CounterMirror> wal_syncs_;
  std::unique_ptr<CounterMirror> wal_synced_appends_;
  std::unique_ptr<CounterMirror> wal_sync_seconds_;
  prometheus::Gauge* wal_pending_bytes_;
  std::unique_ptr<CounterMirror> checkpoints_;
  std::unique_ptr<CounterMirror> checkpoint_failures_;
  std::unique_ptr<CounterMirror> checkpoint_seconds_;
  prometheus::Gauge* checkpoint_last_seconds_;
  prometheus::Gauge* checkpoint_last_time_;

  // RocksDB.
  prometheus::Family<prometheus::Gauge>* sst_bytes_;
  prometheus::Family<prometheus::Gauge>* memtable_bytes_;
  prometheus::Family<prometheus::Gauge>* pending_compaction_bytes_;
  prometheus::Family<prometheus::Counter>* write_stalls_;
  Mutex stalls_mu_;
  // "family/kind" -> mirror of that family's stall count.
  absl::flat_hash_map<std::string, std::unique_ptr<CounterMirror>> stall_mirrors_
      ABSL_GUARDED_BY(stalls_mu_);
  std::unique_ptr<CounterMirror> write_stall_seconds_;
  prometheus::Gauge* block_cache_capacity_;
  prometheus::Gauge* block_cache_usage_;
  std::unique_ptr<CounterMirror> block_cache_hits_;
  std::unique_ptr<CounterMirror> block_cache_misses_;
  prometheus::Gauge* block_cache_hit_ratio_;

  // Queries, per lane (index: 0 dashboard, 1 priority).
  struct Lane {
    prometheus::Gauge* running;
    prometheus::Gauge* queued;
    prometheus::Gauge* slots;
    prometheus::Histogram* queue_seconds;
    prometheus::Histogram* eval_seconds;
    prometheus::Histogram* loaded_samples;
    std::unique_ptr<CounterMirror> rejected_queue_full;
    std::unique_ptr<CounterMirror> rejected_queue_timeout;
  };
  Lane lanes_[2];

  Mutex collectors_mu_;
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(collectors_mu_);
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_METRICS_H_

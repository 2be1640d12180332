#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <array>

#include "server/process_metrics.h"

namespace meridian::server {
namespace {

// Remote-write samples rejected, by reason (RemoteWriteStats' counts).
constexpr std::array<const char*, 8> kSampleReasons = {
    "invalid_labels",      "too_far_in_future",    "too_old",     "conflict", "too_many_labels",
    "label_name_too_long", "label_value_too_long", "series_limit"};

// Remote-write requests answered with a non-2xx code, by reason: the
// receiver's own (RemoteWriteStats::request_rejected and the server's
// too_many_inflight) and the ones ObserveWrite derives from the code.
constexpr std::array<const char*, 12> kRequestReasons = {
    "invalid_tenant",     "tenant_limit",        "request_too_large", "rate_limited",
    "too_many_inflight",  "invalid_request",     "invalid_samples",   "unsupported_media_type",
    "method_not_allowed", "storage_unavailable", "internal",          "other"};

const char* ReasonOfCode(int code, const ingest::RemoteWriteStats* stats) {
  if (stats != nullptr && stats->request_rejected != nullptr) return stats->request_rejected;
  switch (code) {
    case 400: {
      bool samples = stats != nullptr &&
                     (stats->rejected_invalid_labels || stats->rejected_too_far_in_future ||
                      stats->rejected_too_old || stats->rejected_conflict ||
                      stats->rejected_too_many_labels || stats->rejected_label_name_too_long ||
                      stats->rejected_label_value_too_long || stats->rejected_series_limit);
      return samples ? "invalid_samples" : "invalid_request";
    }
    case 405:
      return "method_not_allowed";
    case 413:
      return "request_too_large";
    case 415:
      return "unsupported_media_type";
    case 503:
      return "storage_unavailable";
    case 500:
      return "internal";
    default:
      return "other";
  }
}

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const prometheus::Histogram::BucketBoundaries kSampleBuckets = {10,  100, 1e3, 1e4,
                                                                1e5, 1e6, 1e7, 5e7};

}  // namespace

void CounterMirror::Set(double cumulative) {
  MutexLock l(&mu_);
  if (cumulative > last_) {
    counter_->Increment(cumulative - last_);
    last_ = cumulative;
  }
}

struct Metrics::TenantCounters {
  prometheus::Counter* samples;
  prometheus::Counter* series_created;
  std::array<prometheus::Counter*, kSampleReasons.size()> samples_rejected;
  std::array<prometheus::Counter*, kRequestReasons.size()> requests_rejected;
};

Metrics::Metrics(std::string default_tenant) : registry_(std::make_shared<prometheus::Registry>()) {
  auto counter = [&](const char* name, const char* help) { return AddCounter(name, help); };
  auto gauge = [&](const char* name, const char* help) { return AddGauge(name, help); };
  auto mirror = [&](const char* name, const char* help) {
    return std::make_unique<CounterMirror>(AddCounter(name, help));
  };
  auto counters = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  auto gauges = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  };

  // HTTP.
  request_duration_ = &prometheus::BuildHistogram()
                           .Name("meridian_http_request_duration_seconds")
                           .Help("Latency of HTTP requests by handler.")
                           .Register(*registry_);
  requests_ = counters("meridian_http_requests_total", "HTTP requests by handler and status code.");

  // Ingest.
  samples_ingested_ = counters("meridian_ingest_samples_total",
                               "Samples ingested through remote-write, by tenant.");
  series_created_ = counters("meridian_ingest_series_created_total",
                             "Series created by remote-write, by tenant.");
  samples_rejected_ = counters("meridian_ingest_samples_rejected_total",
                               "Remote-write samples rejected, by tenant and reason.");
  requests_rejected_ =
      counters("meridian_ingest_requests_rejected_total",
               "Remote-write requests answered with a non-2xx code, by tenant (empty: a tenant the "
               "storage does not hold) and reason.");
  metadata_ingested_ =
      counter("meridian_ingest_metadata_total", "Metric metadata entries ingested.");
  histograms_dropped_ = counter("meridian_ingest_native_histograms_dropped_total",
                                "Native histogram samples received and not stored (unsupported).");
  exemplars_dropped_ = counter("meridian_ingest_exemplars_dropped_total",
                               "Exemplars received and not stored (unsupported).");
  Tenant("");
  if (!default_tenant.empty()) Tenant(default_tenant);

  // Series and storage.
  series_ = gauge("meridian_storage_series",
                  "Series in the in-memory head, all tenants (series idle for --head-idle-timeout "
                  "leave it: meridian_storage_series_evicted_total).");
  tenant_series_ = gauges("meridian_tenant_series", "Series a tenant holds in memory.");
  tenant_active_series_ =
      gauges("meridian_tenant_active_series",
             "Series of a tenant whose newest sample is at most 10 minutes older than now.");
  disk_bytes_ =
      gauge("meridian_storage_disk_bytes",
            "Bytes the data directory occupies on disk (allocated blocks, as du counts).");
  cached_series_ =
      gauge("meridian_storage_series_cache_entries", "Entries in the label-set to series cache.");
  cache_bytes_ =
      gauge("meridian_storage_series_cache_bytes", "Estimated memory of the series cache.");
  head_min_time_ = gauge("meridian_storage_min_time_seconds", "Oldest sample timestamp stored.");
  head_max_time_ = gauge("meridian_storage_max_time_seconds", "Newest sample timestamp stored.");
  storage_degraded_ =
      gauge("meridian_storage_degraded",
            "1 while the storage refuses writes after a failed write (and /-/ready answers 503).");
  corruptions_ = mirror("meridian_storage_corruptions_total",
                        "Encounters with corrupt stored data: reads that skipped a series (each "
                        "read counts), retention passes and compactions that met it.");
  wal_write_failures_ =
      mirror("meridian_wal_write_failures_total",
             "Durable writes (WAL records, tenants, metadata, checkpoints) that failed.");
  storage_resumes_ = mirror("meridian_storage_resumes_total",
                            "Recoveries of the storage from a failed write (RocksDB Resume).");
  series_evicted_ = mirror("meridian_storage_series_evicted_total",
                           "Series that left the in-memory head, idle for --head-idle-timeout "
                           "(their data stays on disk, read through the on-disk index).");
  series_readmitted_ = mirror("meridian_storage_series_readmitted_total",
                              "Series that came back after leaving the head, re-admitted under "
                              "their old id (not counted as created).");

  AddWalMetrics();

  // RocksDB.
  sst_bytes_ = gauges("meridian_rocksdb_sst_bytes", "Bytes of live SST files, by column family.");
  memtable_bytes_ =
      gauges("meridian_rocksdb_memtable_bytes", "Bytes of memtables, by column family.");
  pending_compaction_bytes_ =
      gauges("meridian_rocksdb_pending_compaction_bytes",
             "RocksDB's estimate of the bytes compaction has to rewrite, by column family.");
  write_stalls_ =
      counters("meridian_rocksdb_write_stalls_total",
               "Writes RocksDB delayed (kind=slowdown) or stopped (kind=stop), by column family.");
  write_stall_seconds_ = mirror("meridian_rocksdb_write_stall_seconds_total",
                                "Time writes spent delayed or stopped by RocksDB.");
  block_cache_capacity_ = gauge("meridian_rocksdb_block_cache_capacity_bytes",
                                "Capacity of the chunk block cache (--block-cache-bytes).");
  block_cache_usage_ =
      gauge("meridian_rocksdb_block_cache_usage_bytes", "Memory the chunk block cache holds.");
  block_cache_hits_ =
      mirror("meridian_rocksdb_block_cache_hits_total", "Block cache lookups that hit.");
  block_cache_misses_ =
      mirror("meridian_rocksdb_block_cache_misses_total", "Block cache lookups that missed.");
  block_cache_hit_ratio_ = gauge("meridian_rocksdb_block_cache_hit_ratio",
                                 "Block cache hits / lookups since start (0 before any lookup).");

  // Queries, per lane.
  auto* running = gauges("meridian_query_running", "Queries being evaluated, by lane.");
  auto* queued = gauges("meridian_query_queued", "Queries waiting for a slot, by lane.");
  auto* slots =
      gauges("meridian_query_slots", "Queries a lane evaluates at once (its concurrency).");
  auto* queue_seconds = &prometheus::BuildHistogram()
                             .Name("meridian_query_queue_duration_seconds")
                             .Help("Time admitted queries waited for a slot, by lane.")
                             .Register(*registry_);
  auto* eval_seconds = &prometheus::BuildHistogram()
                            .Name("meridian_query_duration_seconds")
                            .Help("Time from admission to the result of queries, by lane.")
                            .Register(*registry_);
  auto* loaded = &prometheus::BuildHistogram()
                      .Name("meridian_query_loaded_samples")
                      .Help(
                          "Samples one query took into memory (what --max-samples bounds, "
                          "summed over the query), by lane.")
                      .Register(*registry_);
  auto* rejected = counters("meridian_query_rejected_total",
                            "Queries refused by admission control, by lane and reason.");
  for (promql::QueryPriority p :
       {promql::QueryPriority::kDashboard, promql::QueryPriority::kPriority}) {
    Lane& l = lanes_[p == promql::QueryPriority::kPriority ? 1 : 0];
    const prometheus::Labels lane = {{"lane", promql::QueryPriorityName(p)}};
    l.running = &running->Add(lane);
    l.queued = &queued->Add(lane);
    l.slots = &slots->Add(lane);
    l.queue_seconds = &queue_seconds->Add(lane, kLatencyBuckets);
    l.eval_seconds = &eval_seconds->Add(lane, kLatencyBuckets);
    l.loaded_samples = &loaded->Add(lane, kSampleBuckets);
    l.rejected_queue_full = std::make_unique<CounterMirror>(
        &rejected->Add({{"lane", promql::QueryPriorityName(p)}, {"reason", "queue_full"}}));
    l.rejected_queue_timeout = std::make_unique<CounterMirror>(
        &rejected->Add({{"lane", promql::QueryPriorityName(p)}, {"reason", "queue_timeout"}}));
  }
}

// WAL and checkpoints.
void Metrics::AddWalMetrics() {
  auto gauge = [&](const char* name, const char* help) { return AddGauge(name, help); };
  auto mirror = [&](const char* name, const char* help) {
    return std::make_unique<CounterMirror>(AddCounter(name, help));
  };
  wal_written_bytes_ = mirror("meridian_wal_written_bytes_total", "Bytes of WAL records written.");
  wal_pending_bytes_ =
      gauge("meridian_wal_pending_bytes", "Bytes of WAL records not yet covered by a checkpoint.");
  wal_syncs_ = mirror("meridian_wal_syncs_total",
                      "Synced writes of WAL records (--sync-wal): one per group of concurrent "
                      "appends.");
  wal_synced_appends_ = mirror("meridian_wal_synced_appends_total",
                               "Appends whose WAL records a synced write carried.");
  wal_sync_seconds_ = mirror("meridian_wal_sync_seconds_total",
                             "Time spent in synced writes of WAL records (write and log sync).");
  checkpoints_ = mirror("meridian_checkpoints_total", "Checkpoints completed.");
  checkpoint_failures_ = mirror("meridian_checkpoint_failures_total",
                                "Checkpoints that failed (retried with backoff from 1 s).");
  checkpoint_seconds_ = mirror("meridian_checkpoint_duration_seconds_total",
                               "Time spent in checkpoints, successful or failed.");
  checkpoint_last_seconds_ = gauge("meridian_checkpoint_last_duration_seconds",
                                   "Run time of the last successful checkpoint.");
  checkpoint_last_time_ = gauge("meridian_checkpoint_last_success_timestamp_seconds",
                                "When the last successful checkpoint ended (0: none yet).");
}

Metrics::~Metrics() = default;

prometheus::Counter* Metrics::AddCounter(const std::string& name, const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
}

prometheus::Gauge* Metrics::AddGauge(const std::string& name, const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
}

void Metrics::AddCollector(std::function<void()> collect) {
  MutexLock l(&collectors_mu_);
  collectors_.push_back(std::move(collect));
}

void Metrics::ObserveRequest(std::string_view handler, int code, double seconds) {
  std::string h(handler);
  request_duration_->Add({{"handler", h}}, kLatencyBuckets).Observe(seconds);
  requests_->Add({{"handler", h}, {"code", std::to_string(code)}}).Increment();
}

Metrics::TenantCounters& Metrics::Tenant(const std::string& tenant) {
  MutexLock l(&tenants_mu_);
  std::unique_ptr<TenantCounters>& t = tenants_[tenant];
  if (t) return *t;
  t = std::make_unique<TenantCounters>();
  const prometheus::Labels labels = {{"tenant", tenant}};
  t->samples = &samples_ingested_->Add(labels);
  t->series_created = &series_created_->Add(labels);
  for (size_t i = 0; i < kSampleReasons.size(); ++i) {
    t->samples_rejected[i] =
        &samples_rejected_->Add({{"tenant", tenant}, {"reason", kSampleReasons[i]}});
  }
  for (size_t i = 0; i < kRequestReasons.size(); ++i) {
    t->requests_rejected[i] =
        &requests_rejected_->Add({{"tenant", tenant}, {"reason", kRequestReasons[i]}});
  }
  return *t;
}

bool Metrics::KnownTenant(std::string_view tenant) {
  MutexLock l(&tenants_mu_);
  return tenants_.contains(std::string(tenant));
}

void Metrics::ObserveWrite(std::string_view tenant, const ingest::RemoteWriteStats* stats,
                           int code) {
  const bool ok = code >= 200 && code < 300;
  // A tenant becomes known once the storage holds it (a write stored
  // something, or Render saw it); refused IDs never become label values.
  const bool stored =
      stats != nullptr && stats->request_rejected == nullptr &&
      (stats->samples_written > 0 || stats->series_created > 0 || stats->metadata_written > 0);
  std::string label;
  if (stored || KnownTenant(tenant)) label = std::string(tenant);
  TenantCounters& t = Tenant(label);
  if (stats != nullptr) {
    t.samples->Increment(static_cast<double>(stats->samples_written));
    t.series_created->Increment(static_cast<double>(stats->series_created));
    const uint64_t counts[kSampleReasons.size()] = {stats->rejected_invalid_labels,
                                                    stats->rejected_too_far_in_future,
                                                    stats->rejected_too_old,
                                                    stats->rejected_conflict,
                                                    stats->rejected_too_many_labels,
                                                    stats->rejected_label_name_too_long,
                                                    stats->rejected_label_value_too_long,
                                                    stats->rejected_series_limit};
    for (size_t i = 0; i < kSampleReasons.size(); ++i) {
      if (counts[i]) t.samples_rejected[i]->Increment(static_cast<double>(counts[i]));
    }
    metadata_ingested_->Increment(static_cast<double>(stats->metadata_written));
    histograms_dropped_->Increment(static_cast<double>(stats->histograms_dropped));
    exemplars_dropped_->Increment(static_cast<double>(stats->exemplars_dropped));
  }
  if (ok) return;
  const std::string_view reason = ReasonOfCode(code, stats);
  for (size_t i = 0; i < kRequestReasons.size(); ++i) {
    if (reason == kRequestReasons[i]) {
      t.requests_rejected[i]->Increment();
      return;
    }
  }
  t.requests_rejected[kRequestReasons.size() - 1]->Increment();  // "other"
}

void Metrics::ObserveQuery(const promql::QueryStats& stats) {
  Lane& l = lanes_[stats.priority == promql::QueryPriority::kPriority ? 1 : 0];
  l.queue_seconds->Observe(stats.queue_seconds);
  l.eval_seconds->Observe(stats.eval_seconds);
  l.loaded_samples->Observe(static_cast<double>(stats.samples_loaded));
}

void Metrics::RenderStorage(const Storage& storage) {
  StorageStats s = storage.Stats();
  series_->Set(static_cast<double>(s.series));
  for (const TenantSeriesStats& t : s.tenants) {
    Tenant(t.tenant);
    tenant_series_->Add({{"tenant", t.tenant}}).Set(static_cast<double>(t.series));
    tenant_active_series_->Add({{"tenant", t.tenant}}).Set(static_cast<double>(t.active_series));
  }
  disk_bytes_->Set(static_cast<double>(s.disk_bytes));
  cached_series_->Set(static_cast<double>(s.cached_series));
  cache_bytes_->Set(static_cast<double>(s.cache_bytes));
  head_min_time_->Set(static_cast<double>(s.min_time_ms) / 1000.0);
  head_max_time_->Set(static_cast<double>(s.max_time_ms) / 1000.0);
  corruptions_->Set(static_cast<double>(s.corruptions));
  series_evicted_->Set(static_cast<double>(s.series_evicted));
  series_readmitted_->Set(static_cast<double>(s.series_readmitted));
  wal_written_bytes_->Set(static_cast<double>(s.wal_written_bytes));
  wal_pending_bytes_->Set(static_cast<double>(s.wal_pending_bytes));
  wal_syncs_->Set(static_cast<double>(s.wal_syncs));
  wal_synced_appends_->Set(static_cast<double>(s.wal_synced_appends));
  wal_sync_seconds_->Set(static_cast<double>(s.wal_sync_micros) / 1e6);
  for (const ColumnFamilyStats& f : s.families) {
    const prometheus::Labels family = {{"family", f.name}};
    sst_bytes_->Add(family).Set(static_cast<double>(f.sst_bytes));
    memtable_bytes_->Add(family).Set(static_cast<double>(f.memtable_bytes));
    pending_compaction_bytes_->Add(family).Set(static_cast<double>(f.pending_compaction_bytes));
    MutexLock l(&stalls_mu_);
    for (auto [kind, n] : {std::pair<const char*, uint64_t>{"slowdown", f.write_slowdowns},
                           std::pair<const char*, uint64_t>{"stop", f.write_stops}}) {
      auto& m = stall_mirrors_[f.name + "/" + kind];
      if (!m) {
        m = std::make_unique<CounterMirror>(
            &write_stalls_->Add({{"family", f.name}, {"kind", kind}}));
      }
      m->Set(static_cast<double>(n));
    }
  }
  write_stall_seconds_->Set(static_cast<double>(s.write_stall_micros) / 1e6);
  block_cache_capacity_->Set(static_cast<double>(s.block_cache_capacity_bytes));
  block_cache_usage_->Set(static_cast<double>(s.block_cache_usage_bytes));
  block_cache_hits_->Set(static_cast<double>(s.block_cache_hits));
  block_cache_misses_->Set(static_cast<double>(s.block_cache_misses));
  const uint64_t lookups = s.block_cache_hits + s.block_cache_misses;
  block_cache_hit_ratio_->Set(
      lookups == 0 ? 0 : static_cast<double>(s.block_cache_hits) / static_cast<double>(lookups));

  StorageHealth h = storage.Health();
  wal_write_failures_->Set(static_cast<double>(h.wal_write_failures));
  checkpoint_failures_->Set(static_cast<double>(h.checkpoint_failures));
  checkpoints_->Set(static_cast<double>(h.checkpoints));
  storage_resumes_->Set(static_cast<double>(h.resumes));
  storage_degraded_->Set(h.writable ? 0 : 1);
  checkpoint_seconds_->Set(h.checkpoint_seconds_total);
  checkpoint_last_seconds_->Set(h.last_checkpoint_seconds);
  checkpoint_last_time_->Set(static_cast<double>(h.last_checkpoint_ms) / 1000.0);
}

void Metrics::RenderQueries(const promql::QueryAdmission& admission) {
  for (promql::QueryPriority p :
       {promql::QueryPriority::kDashboard, promql::QueryPriority::kPriority}) {
    const bool priority = p == promql::QueryPriority::kPriority;
    Lane& l = lanes_[priority ? 1 : 0];
    l.running->Set(admission.running(p));
    l.queued->Set(admission.queued(p));
    l.slots->Set(priority ? admission.options().priority_slots
                          : admission.options().dashboard_slots);
    promql::QueryAdmission::Rejections r = admission.rejected(p);
    l.rejected_queue_full->Set(static_cast<double>(r.queue_full));
    l.rejected_queue_timeout->Set(static_cast<double>(r.queue_timeout));
  }
}

std::string Metrics::Render(const Storage& storage, const promql::QueryAdmission& admission) {
  std::vector<std::function<void()>> collectors;
  {
    MutexLock l(&collectors_mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();
  RenderStorage(storage);
  RenderQueries(admission);
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect()) + ProcessMetricsText() + BuildInfoText();
}

}  // namespace meridian::server

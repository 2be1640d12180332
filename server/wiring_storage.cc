// Storage and the compactor: opening the data dir, the background compactor
// pass, POST /internal/compact, GET /api/v1/status/compactor and
// POST /internal/force_flush.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "api/params.h"
#include "model/executor.h"
#include "server/server_internal.h"

namespace meridian::server {

compactor::CompactorOptions CompactorOptionsOf(const Config& c) {
  compactor::CompactorOptions o;
  o.downsample_5m_after_ms = c.downsample_5m_after_ms;
  o.downsample_1h_after_ms = c.downsample_1h_after_ms;
  o.retention.raw_ms = c.retention_ms;
  o.retention.res_5m_ms = c.retention_5m_ms;
  o.retention.res_1h_ms = c.retention_1h_ms;
  for (const auto& [tenant, r] : c.tenant_retention) {
    o.tenant_retention[tenant] = {r.raw_ms, r.res_5m_ms, r.res_1h_ms};
  }
  return o;
}

absl::Status MeridianServer::Impl::OpenStorage() {
  StorageOptions so;
  so.dir = config.data_dir;
  so.out_of_order_window_ms = config.out_of_order_window_ms;
  so.allow_backfill = config.allow_backfill;
  so.head_idle_timeout_ms = config.head_idle_timeout_ms;
  // Retention is the compactor's (per resolution and tenant): the storage
  // deletes only what the compactor asks for.
  so.retention_ms = 0;
  so.sync_wal = config.sync_wal;
  so.block_cache_bytes = static_cast<size_t>(config.block_cache_bytes);
  so.aggregate_cache_bytes = static_cast<size_t>(config.aggregate_cache_bytes);
  so.late_write_ms = kQueryCacheOffsetMs;  // the results cache's offset (wiring_query.cc)
  so.max_tenants = static_cast<size_t>(config.max_tenants);
  // Large Selects decode series ahead of the evaluation on this pool: two
  // threads per core (a read-ahead thread mostly waits for its query), at
  // least four; a Select that finds them all busy reads on its own thread.
  read_ahead = std::make_shared<ThreadPool>(
      static_cast<int>(std::max(4u, 2 * std::thread::hardware_concurrency())), "read-ahead");
  so.read_ahead_executor = read_ahead;
  auto opened = Storage::Open(so);
  if (!opened.ok()) return opened.status();
  storage = *std::move(opened);
  compactor = std::make_unique<compactor::Compactor>(storage.get(), CompactorOptionsOf(config));
  return absl::OkStatus();
}

// The background compactor (downsampling and retention per resolution and
// tenant): a throttled pass every --compact-interval, the first one an
// interval after start.
void MeridianServer::Impl::RetentionLoop() {
  if (config.compact_interval_ms <= 0) return;
  MutexLock lock(&mu);
  while (!stopping) {
    cv.WaitFor(&mu, std::chrono::milliseconds(config.compact_interval_ms));
    if (stopping) break;
    mu.Unlock();
    auto st = compactor->RunPass(/*flush=*/false, /*throttled=*/true);
    if (!st.ok()) std::fprintf(stderr, "meridian: compactor: %s\n", st.status().ToString().c_str());
    mu.Lock();
  }
}

void MeridianServer::Impl::RegisterCompactorRoutes() {
  // One full pass now (flush, downsample everything due, retention); answers
  // when it is done with its summary. Tests and benchmarks use it as they
  // use /internal/force_flush.
  http.Post("/internal/compact", [this](const httplib::Request&, httplib::Response& res) {
    auto st = compactor->RunPass(/*flush=*/true, /*throttled=*/false);
    if (st.ok()) {
      res.set_content(
          "{\"status\":\"success\",\"data\":" + compactor::Compactor::SummaryJson(*st) + "}",
          "application/json");
    } else {
      std::fprintf(stderr, "meridian: compactor: %s\n", st.status().ToString().c_str());
      res.status = st.status().code() == absl::StatusCode::kUnavailable ? 503 : 500;
      res.set_content(
          R"json({"status":"error","errorType":"internal","error":"compaction pass failed (details in the server log)"})json",
          "application/json");
    }
  });
  http.Get("/api/v1/status/compactor", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"success\",\"data\":" + compactor->StatusJson() + "}",
                    "application/json");
  });
}

void MeridianServer::Impl::RegisterStorageRoutes() {
  // Like VictoriaMetrics' /internal/force_flush: persist the in-memory head now
  // (tests and benchmarks use it to measure settled disk usage).
  auto force_flush = [this](const httplib::Request&, httplib::Response& res) {
    absl::Status st = storage->Flush();
    res.status = st.ok() ? 200 : 500;
    res.set_content(st.ok() ? "flushed\n" : api::PublicMessage(st) + "\n",
                    "text/plain; charset=utf-8");
  };
  http.Post("/internal/force_flush", force_flush);
  // Like VictoriaMetrics' /internal/force_merge: compact what is persisted
  // (a checkpoint rewrites a series' partial head chunk under the same key;
  // the old versions stay on disk until RocksDB compacts them).
  http.Post("/internal/force_merge", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status st = storage->ForceMerge();
    res.status = st.ok() ? 200 : 500;
    res.set_content(st.ok() ? "merged\n" : api::PublicMessage(st) + "\n",
                    "text/plain; charset=utf-8");
  });
}

}  // namespace meridian::server

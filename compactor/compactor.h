// Compactor: downsampling (raw -> 5m -> 1h) and retention per resolution and
// tenant, in passes over the data persisted by storage (storage/compaction.h).
// Policy and arithmetic live here; the storage enforces the invariants that
// keep data safe (nothing deleted before the coarser data replacing it is
// durable). docs/compactor.md describes the behaviour.
//
//   compactor::Compactor c(storage, options);
//   auto summary = c.RunPass();        // one full pass now
//   std::string s = c.StatusJson();    // /api/v1/status/compactor
//
// Kill-safe: progress is stored durably after the aggregates it covers; a
// pass redone after a crash rewrites the same aggregate chunks.
// Work units are (tenant, resolution, block) and late (series, day) marks: a
// failing unit is retried, then reported and the pass goes on with other
// tenants and resolutions.
//
// Thread-safety: all methods are thread-safe; passes are serialized.
#ifndef MERIDIAN_COMPACTOR_COMPACTOR_H_
#define MERIDIAN_COMPACTOR_COMPACTOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "model/sync.h"
#include "storage/compaction.h"
#include "storage/storage.h"

namespace meridian::compactor {

struct RetentionPolicy {
  // 0 keeps forever.
  int64_t raw_ms = 30 * 86'400'000LL;
  int64_t res_5m_ms = 180 * 86'400'000LL;
  int64_t res_1h_ms = 730 * 86'400'000LL;
};

// Per-tenant overrides; unset fields take the defaults.
struct RetentionOverride {
  std::optional<int64_t> raw_ms, res_5m_ms, res_1h_ms;
};

struct CompactorOptions {
  // Data older than this is downsampled (0: never, and then raw retention
  // deletes raw data with nothing replacing it).
  int64_t downsample_5m_after_ms = 40 * 3'600'000LL;
  int64_t downsample_1h_after_ms = 10 * 86'400'000LL;
  RetentionPolicy retention;
  std::map<std::string, RetentionOverride> tenant_retention;
  // Attempts per unit of work before it is reported and skipped.
  int attempts = 3;
  // Throttled passes sleep this many times the time each unit took.
  double throttle_sleep_ratio = 1.0;
  std::function<int64_t()> now_ms;  // wall clock; injectable for tests
};

struct PassSummary {
  int64_t started_ms = 0;
  double seconds = 0;
  uint64_t tenants = 0;
  uint64_t blocks_5m = 0, blocks_1h = 0;    // blocks downsampled
  uint64_t windows_5m = 0, windows_1h = 0;  // aggregate windows written
  uint64_t raw_samples_read = 0;
  uint64_t windows_read = 0;    // 5m windows read to make 1h ones
  uint64_t late_blocks = 0;     // (series, day) redone for late samples
  uint64_t staged_samples = 0;  // backfilled below the raw floor, merged into aggregates
  uint64_t bytes_freed_raw = 0, bytes_freed_5m = 0, bytes_freed_1h = 0;
  uint64_t failures = 0;
  bool stopped = false;  // RequestStop() ended it early
};

struct UnitFailure {
  int64_t time_ms = 0;
  std::string tenant;
  std::string unit;   // e.g. "downsample 5m block 2026-11-02T00:00:00Z"
  std::string error;  // status code name; details in the server log
};

RetentionPolicy PolicyFor(const CompactorOptions& o, const std::string& tenant);

class Compactor {
 public:
  // `storage` is borrowed, must outlive the compactor and have Compaction().
  Compactor(Storage* storage, CompactorOptions options);

  // One full pass: late marks, raw -> 5m, 5m -> 1h, retention. `flush`
  // persists the in-memory head first; `throttled` sleeps between units
  // (the background loop). Passes are serialized.
  absl::StatusOr<PassSummary> RunPass(bool flush, bool throttled = false);
  // Makes a running pass (and later ones) stop after the current unit.
  void RequestStop() { stop_.store(true); }

  static std::string SummaryJson(const PassSummary& s);
  // The "data" object of /api/v1/status/compactor.
  std::string StatusJson() const;
  // meridian_compactor_* in the text exposition format.
  std::string MetricsText() const;

 private:
  int64_t NowMs() const;
  // Runs `fn` up to attempts times; on the last failure records it.
  bool Attempt(const std::string& tenant, const std::string& unit,
               const std::function<absl::Status()>& fn, PassSummary* sum);
  void Throttle(std::chrono::steady_clock::time_point unit_start, bool throttled);
  void CompactTenant(const std::string& tenant, int64_t now, bool throttled, PassSummary* sum);
  // Merges samples staged below the raw floor into the aggregates of their
  // (series, day); false when more were staged meanwhile (next pass).
  absl::StatusOr<bool> MergeStaged(const std::string& tenant, const StagedGroup& g,
                                   const DownsampleState& state, PassSummary* sum);
  absl::Status RedoLate(const std::string& tenant, const LateMark& m, int64_t through_1h,
                        PassSummary* sum);
  absl::Status Downsample5mBlock(const std::string& tenant, int64_t block, PassSummary* sum);
  absl::Status Downsample1hBlock(const std::string& tenant, int64_t block, PassSummary* sum);

  Storage* const storage_;
  CompactionAccess* const access_;
  const CompactorOptions options_;
  std::atomic<bool> stop_{false};
  Mutex pass_mu_;  // one pass at a time

  mutable Mutex mu_;  // the figures below
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t passes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<PassSummary> last_ ABSL_GUARDED_BY(mu_);
  int64_t last_success_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<UnitFailure> failures_ ABSL_GUARDED_BY(mu_);  // the latest, bounded
  PassSummary totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::compactor

#endif  // MERIDIAN_COMPACTOR_COMPACTOR_H_

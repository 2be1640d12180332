// TenantHead: all in-memory series of one tenant: the series table, its
// postings index, and the bounded label-set -> series cache that keeps the
// append path free of index and RocksDB lookups.
//
// Thread-safety: thread-safe. Series pointers returned by GetOrCreate stay
// valid until Remove(); callers that may race with Remove() hold
// shared_ptrs (readers) or exclude Remove() by other means (the storage's
// append gate).
#ifndef MERIDIAN_STORAGE_TENANT_HEAD_H_
#define MERIDIAN_STORAGE_TENANT_HEAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "model/sync.h"
#include "storage/compaction.h"
#include "storage/mem_series.h"
#include "storage/postings_index.h"
#include "storage/storage.h"

namespace meridian {

// Counters shared by all tenants of one storage.
struct SeriesCacheLimits {
  size_t max_cached_series = 0;
  std::atomic<uint64_t> cached_series{0};
  std::atomic<uint64_t> next_series_id{1};
};

class TenantHead {
 public:
  // `limits` is borrowed and must outlive the head.
  TenantHead(uint32_t id, std::string name, SeriesCacheLimits* limits);
  TenantHead(const TenantHead&) = delete;
  TenantHead& operator=(const TenantHead&) = delete;

  uint32_t id() const { return id_; }
  const std::string& name() const { return name_; }

  // Downsampling (storage/compaction.h). `claimed_5m`: appends below it
  // leave late marks; `raw_floor`: appends below it are too old (raw data
  // deleted there). Both read by appends under the shared gate and raised
  // under the exclusive one. `downsample` is the durable state ('w' key),
  // guarded by the storage's maintenance mutex.
  std::atomic<int64_t> claimed_5m{kNoTime};
  std::atomic<int64_t> raw_floor{kNoTime};
  DownsampleState downsample;
  // A copy of `downsample` for the read path (storage/downsampled_read.cc),
  // under its own lock so that queries never wait for maintenance: floors
  // are published before the data below them is deleted, progress after
  // the aggregates it covers are written.
  void PublishDownsample(const DownsampleState& ds) {
    MutexLock l(&published_mu_);
    published_ = ds;
  }
  DownsampleState PublishedDownsample() const {
    MutexLock l(&published_mu_);
    return published_;
  }

  // Series that left the head (idle; docs/format/storage.md "Head and
  // idle series"). `may_have_inactive`: some series of the tenant are only
  // on disk, so lookups that miss memory ask the disk index. `newest_t_ms`:
  // the newest committed sample, the reference for idleness.
  std::atomic<bool> may_have_inactive{false};
  std::atomic<int64_t> newest_t_ms{kNoTime};
  std::atomic<uint64_t> readmitted{0};
  // A series found on disk: its id and the span of its persisted chunks.
  struct OnDisk {
    uint64_t id = 0;
    int64_t min_t_ms = 0, max_t_ms = -1;  // empty when min > max
  };
  using DiskLookup =
      std::function<absl::StatusOr<std::optional<OnDisk>>(const LabelView* labels, size_t n)>;
  // Set once by the storage, before appends.
  void set_disk_lookup(DiskLookup f) { disk_lookup_ = std::move(f); }
  // After a restart, whose open loads no series: the `series` the head held
  // before count toward the series limit (GetOrCreate's max_series) until
  // as many have been re-admitted, or until the tenant's newest sample
  // passes `until_t_ms` (they would have left the head by then).
  void CarryOver(uint64_t series, int64_t until_t_ms) {
    carried_until_.store(until_t_ms, std::memory_order_relaxed);
    carried_.store(series, std::memory_order_release);
  }
  // The carried-over series not back in the head yet.
  uint64_t CarriedNotBack() const;
  // Puts a series found on disk back into the head (its definition is
  // stored; its persisted span and indexed days are restored).
  MemSeries* Readmit(Labels labels, const OnDisk& d);

  // Returns the series with exactly `labels` (sorted views), creating it
  // with a fresh id when absent (then *created is true). `hash` is
  // SeriesCacheHash(labels, n). When max_series > 0 and the head already
  // holds that many series, an absent series is not created: returns null.
  // A series absent from memory is looked up on disk first when the tenant
  // may have series there (re-admitted under its old id, not "created");
  // when that lookup fails, returns null and sets *error.
  MemSeries* GetOrCreate(const LabelView* labels, size_t n, uint64_t hash, bool* created,
                         uint64_t max_series = 0, absl::Status* error = nullptr);
  // Resolves every series of a batch: out[i] becomes the series of
  // batch[i].labels (created when absent; *created counts new series).
  // Series with no labels resolve to null, and so do new series over
  // max_series (> 0; counted in *limited). Faster than GetOrCreate per
  // series: cache lookups are grouped by shard, one lock per shard, so their
  // cache misses overlap.
  // A failed disk lookup leaves its series null and sets *error.
  void ResolveBatch(std::span<const AppendSeries> batch, MemSeries** out, uint64_t* created,
                    uint64_t max_series = 0, uint64_t* limited = nullptr,
                    absl::Status* error = nullptr);
  // Adds a series loaded from disk (fastest in increasing id order).
  MemSeries* Load(uint64_t id, Labels labels);
  // The series with `id`, or null.
  std::shared_ptr<MemSeries> Find(uint64_t id) const;

  // Series matching all matchers (all series when empty), sorted by id.
  std::vector<std::shared_ptr<MemSeries>> Select(const std::vector<Matcher>& matchers) const;
  // Calls fn(const PostingsIndex&, lookup) under the reader lock, where
  // lookup(id) returns the MemSeries* (borrowed for the call only).
  template <typename Fn>
  void ReadIndex(Fn&& fn) const {
    ReaderMutexLock l(&mu_);
    auto lookup = [this](uint64_t id) ABSL_NO_THREAD_SAFETY_ANALYSIS -> const MemSeries* {
      auto it = series_.find(id);
      return it == series_.end() ? nullptr : it->second.get();
    };
    fn(index_, lookup);
  }
  std::vector<std::shared_ptr<MemSeries>> AllSeries() const;
  // Drops series from the table, index and cache.
  void Remove(const std::vector<std::shared_ptr<MemSeries>>& series);

  size_t num_series() const;
  // Approximate bytes held by the label-set cache.
  size_t CacheBytes() const;

 private:
  mutable Mutex published_mu_;
  DownsampleState published_ ABSL_GUARDED_BY(published_mu_);
  static constexpr size_t kCacheShards = 64;
  struct CacheShard {
    Mutex mu;
    absl::flat_hash_map<uint64_t, absl::InlinedVector<MemSeries*, 1>> map ABSL_GUARDED_BY(mu);
  };
  MemSeries* CacheLookup(CacheShard& shard, const LabelView* labels, size_t n, uint64_t hash);
  void CacheInsert(CacheShard& shard, uint64_t hash, MemSeries* s);
  MemSeries* AddLocked(uint64_t id, Labels labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `flat`: the labels' flat encoding (AppendFlatLabels), compared whole
  // with each candidate's (most differ in their first bytes, the name).
  MemSeries* FindLocked(const LabelView* labels, size_t n, std::string_view flat) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  MemSeries* ReadmitLocked(Labels labels, const OnDisk& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t id_;
  const std::string name_;
  SeriesCacheLimits* const limits_;
  mutable SharedMutex mu_;
  PostingsIndex index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::shared_ptr<MemSeries>> series_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CacheShard[]> cache_;
  DiskLookup disk_lookup_;
  std::atomic<uint64_t> carried_{0};
  std::atomic<int64_t> carried_until_{kNoTime};
};

// The series cache's hash of a label set: one pass over its flat encoding
// (AppendFlatLabels), seeded per process; internal to the cache and never
// persisted. All overloads hash the same set identically.
uint64_t SeriesCacheHash(const LabelView* views, size_t n);
uint64_t SeriesCacheHash(const Labels& labels);
uint64_t SeriesCacheHashFlat(std::string_view flat);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_TENANT_HEAD_H_

// The read path's cache of aggregate windows (internal to storage/; used by
// storage/downsampled_read.cc). Two kinds of entries, both immutable and
// shared with the readers that hold them:
//  - decoded aggregate chunks (and 5m chunks merged into 1h windows), keyed
//    by (kind, series, block), also "no chunk here", tagged with the
//    generation of the downsampled data: every write of aggregates (the
//    compactor's, late samples, staged backfill) and every delete moves it
//    on, so a hit needs no read of RocksDB at all;
//  - 5m windows folded from raw samples (DownsampleRaw, the compactor's
//    arithmetic) for the recent part of a series that is not downsampled
//    yet, keyed by (series, day) and tagged with the series' data epoch
//    (MemSeries::data_epoch). Only closed windows are kept: those that end
//    at or before the 5m window holding the series' newest sample, which an
//    in-order append cannot reach. An out-of-order sample or a trim changes
//    the epoch, so the next read folds those raw samples again.
// The whole cache holds at most `max_bytes` of windows (StorageOptions::
// aggregate_cache_bytes, 0: nothing is kept); a shard that would exceed its
// share is emptied (the next reads rebuild what they need). Readers get the
// windows without a copy: their runs share the immutable vectors.
//
// Thread-safety: all methods are thread-safe.
#ifndef MERIDIAN_STORAGE_AGGREGATE_CACHE_H_
#define MERIDIAN_STORAGE_AGGREGATE_CACHE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "model/aggregate.h"
#include "model/sync.h"

namespace meridian {

class AggregateCache {
 public:
  // Shared with the readers' runs (SeriesData::Run::shared): an entry
  // dropped here stays alive while a reader holds it.
  using Windows = SeriesData::SharedWindows;
  // kMerged1h: a stored 5m chunk (a day) merged into 1h windows;
  // kFoldedMerged1h: a day's kFolded5m entry merged into 1h windows (its
  // whole hours), tagged and spanned as that entry.
  enum class Kind : uint8_t {
    kChunk5m = 1,
    kChunk1h = 2,
    kMerged1h = 3,
    kFolded5m = 4,
    kFoldedMerged1h = 5
  };

  struct Entry {
    uint64_t tag = 0;  // chunks: the generation; folded: the series' data epoch
    // Folded entries: the windows cover [from, through) (closed 5m windows,
    // those without samples absent).
    int64_t from = 0, through = 0;
    Windows windows;  // null: no chunk stored there (chunk kinds)
  };

  static constexpr size_t kDefaultMaxBytes = 256u << 20;
  explicit AggregateCache(size_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}
  AggregateCache(const AggregateCache&) = delete;
  AggregateCache& operator=(const AggregateCache&) = delete;

  std::optional<Entry> Find(Kind kind, uint64_t series_id, int64_t block) const;
  void Put(Kind kind, uint64_t series_id, int64_t block, Entry e);

  // Counters (tests, /metrics later): lookups that found an entry with the
  // right tag are the caller's to count; these count what the cache holds.
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Stored chunks: every write or delete of aggregates calls Invalidate()
  // once it is done; a reader reads generation() before it opens its
  // iterator and uses (and makes) only entries of that generation.
  uint64_t generation() const { return generation_.load(); }
  void Invalidate() { generation_.fetch_add(1); }

 private:
  struct Key {
    Kind kind;
    uint64_t id;
    int64_t block;
    bool operator==(const Key& o) const { return kind == o.kind && id == o.id && block == o.block; }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), static_cast<uint8_t>(k.kind), k.id, k.block);
    }
  };
  struct Shard {
    mutable Mutex mu;
    absl::flat_hash_map<Key, Entry> map ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
  };
  static constexpr size_t kShards = 16;
  static size_t EntryBytes(const Entry& e);
  Shard& ShardOf(uint64_t id) const { return shards_[id % kShards]; }

  const size_t max_bytes_;
  mutable std::array<Shard, kShards> shards_;
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> generation_{1};
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_AGGREGATE_CACHE_H_

// The read path of RocksStorage: Queryable/Querier/SeriesSet over one
// tenant's in-memory index, head data and persisted chunks.
#ifndef MERIDIAN_STORAGE_QUERIER_H_
#define MERIDIAN_STORAGE_QUERIER_H_

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "model/queryable.h"
#include "model/sync.h"
#include "storage/chunk_store.h"
#include "storage/compaction.h"
#include "storage/mem_series.h"

namespace meridian {

class RocksStorage;

// Reads one series' samples in a time range: memory, then (only where
// memory dropped samples) disk through one shared cursor, merged.
class SeriesReader {
 public:
  SeriesReader(const ChunkStore* store, int64_t start_ms, int64_t end_ms)
      : cursor_(store), start_ms_(start_ms), end_ms_(end_ms) {}

  // The range of the next Reads: one reader (one RocksDB iterator) serves
  // reads of different ranges one after the other.
  void SetRange(int64_t start_ms, int64_t end_ms) {
    start_ms_ = start_ms;
    end_ms_ = end_ms;
  }

  // Replaces *out with the samples, sorted by time, without duplicates;
  // empty when the series has none in range.
  absl::Status Read(const MemSeries& s, std::vector<Sample>* out) {
    out->clear();
    bool on_disk, disk_sorted = false;
    {
      MutexLock l(&s.mu);
      MERIDIAN_RETURN_IF_ERROR(s.ReadMemory(start_ms_, end_ms_, out));
      // Changes together with the memory it replaces.
      on_disk = s.DiskOnlyOverlaps(start_ms_, end_ms_);
    }
    if (on_disk) {
      // Read disk after memory: a checkpoint writes chunks before dropping
      // them from memory, and bumps the generation in between, so after
      // CatchUp nothing can fall between the two reads.
      cursor_.CatchUp();
      disk_.clear();
      MERIDIAN_RETURN_IF_ERROR(cursor_.Read(s.id(), start_ms_, end_ms_, &disk_, &disk_sorted));
    }
    if (!on_disk || disk_.empty()) {
      SortAndDedupe(out);
      return absl::OkStatus();
    }
    if (out->empty()) {
      out->swap(disk_);  // all on disk: nothing to merge
      if (!disk_sorted) SortAndDedupe(out);
      return absl::OkStatus();
    }
    // Both sides are usually sorted already: merge in linear time.
    SortAndDedupe(out);
    if (!disk_sorted) SortAndDedupe(&disk_);
    merged_.clear();
    std::merge(out->begin(), out->end(), disk_.begin(), disk_.end(), std::back_inserter(merged_),
               [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    out->swap(merged_);
    SortAndDedupe(out);  // drops the timestamps present on both sides
    return absl::OkStatus();
  }

 private:
  ChunkStore::Cursor cursor_;
  int64_t start_ms_, end_ms_;
  std::vector<Sample> disk_, merged_;
};

class TenantHead;

// Downsampled reads (storage/downsampled_read.cc). One part of a Select's
// range [lo, hi), read at one resolution.
struct ReadSegment {
  Resolution resolution = Resolution::kRaw;
  int64_t lo = 0, hi = 0;
};
// The parts of [start, end] (end inclusive) and the resolution each is read
// at, as SelectHints::resolution_ms/max_resolution_ms ask, from where each
// resolution holds data. Adjacent parts differ in resolution; every cut is
// a multiple of the 1h block (or start).
std::vector<ReadSegment> PlanReadSegments(const DownsampleState& ds, int64_t start, int64_t end,
                                          int64_t resolution_ms, int64_t max_resolution_ms);
// The aggregate resolutions the tenant has data of (Querier::AggregateResolutions).
std::vector<int64_t> AggregateResolutionsOf(const DownsampleState& ds);
// A Select whose hints allow aggregates, reading `segments`
// (PlanReadSegments of the hints). REQUIRES: hints' range set.
// Includes the series that left the head (on disk only), as raw reads do.
absl::StatusOr<std::unique_ptr<SeriesSet>> NewDownsampledSeriesSet(
    const RocksStorage* storage, TenantHead* head, const std::vector<Matcher>& matchers,
    const SelectHints& hints, std::vector<ReadSegment> segments, const ReadContext& ctx);

// `storage` is borrowed and must outlive the Queryable and its Queriers.
std::unique_ptr<Queryable> NewTenantQueryable(const RocksStorage* storage, std::string tenant);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_QUERIER_H_

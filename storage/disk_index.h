// DiskIndex: the on-disk inverted index of the series that are not in the
// in-memory head (docs/format/storage.md, "index family"). Per tenant and
// per day (UTC day of the samples), one key per (label pair, series) plus an
// all-series key per series, so a query over a time range reads only the
// postings of the days it covers; and one key per series from a stable hash
// of its label set to its id, so a series that comes back is re-admitted
// under its old id.
//
// Entries are written by the checkpoint (the days the head's series opened
// since the last one, sorted, the last batch synced), and a series leaves
// the head (idle) only when its postings cover all its days: the eviction
// itself writes nothing.
//
// Thread-safety: thread-safe (RocksDB reads; staging goes into the caller's
// WriteBatch).
#ifndef MERIDIAN_STORAGE_DISK_INDEX_H_
#define MERIDIAN_STORAGE_DISK_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "model/labels.h"
#include "model/matcher.h"
#include "model/status.h"
#include "storage/postings_index.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Iterator;
class SliceTransform;
class WriteBatch;
}  // namespace rocksdb

namespace meridian {

inline constexpr int64_t kIndexDayMs = 86'400'000;
// The day (days since the epoch, floored) of a timestamp.
inline int64_t IndexDayOf(int64_t t_ms) {
  return t_ms >= 0 ? t_ms / kIndexDayMs : -((-(t_ms + 1)) / kIndexDayMs) - 1;
}

namespace diskindex {
inline constexpr char kPostingPrefix = 'p';    // 'p' tenant day pair id -> ""
inline constexpr char kLabelHashPrefix = 'k';  // 'k' tenant hash id -> ""
// Stable (persisted) 64-bit hash of a sorted label set: FNV-1a over each
// name and value, each followed by a 0xff byte.
uint64_t LabelSetHash(const LabelView* labels, size_t n);
uint64_t LabelSetHash(const Labels& labels);
std::string DayPrefix(uint32_t tenant, int64_t day);
std::string PostingKey(uint32_t tenant, int64_t day, std::string_view name, std::string_view value,
                       uint64_t series_id);
std::string LabelHashKey(uint32_t tenant, uint64_t hash, uint64_t series_id);
// The index family's prefix extractor: a label-hash key's 'k' tenant hash
// (no other key is in its domain), so a Bloom filter per table file lets
// FindId skip every file without that hash (most lookups are of new
// series, found nowhere).
std::shared_ptr<const rocksdb::SliceTransform> NewLabelHashPrefixExtractor();
}  // namespace diskindex

class DiskIndex {
 public:
  // All borrowed. `index` is the "index" family, `meta` the "default" one
  // (series definitions, for FindId).
  DiskIndex(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* index, rocksdb::ColumnFamilyHandle* meta)
      : db_(db), index_(index), meta_(meta) {}

  // Stages the postings of series `id` for the days [day_from, day_to].
  absl::Status StageDays(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                         const LabelView* labels, size_t n, int64_t day_from, int64_t day_to) const;
  absl::Status StageDays(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                         const Labels& labels, int64_t day_from, int64_t day_to) const;
  // Stages the label-set hash key of a new series (with its definition).
  absl::Status StageDefinition(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                               const LabelView* labels, size_t n) const;
  // Stages the removal of a series' hash key (its definition is deleted).
  absl::Status StageForget(rocksdb::WriteBatch* wb, uint32_t tenant, uint64_t id,
                           const Labels& labels) const;
  // Stages the deletion of every day partition of the tenant before `day`.
  absl::Status StageDeleteDaysBefore(rocksdb::WriteBatch* wb, uint32_t tenant, int64_t day) const;

  // The id of the tenant's series with exactly these labels (sorted), if
  // one is defined on disk.
  absl::StatusOr<std::optional<uint64_t>> FindId(uint32_t tenant, const LabelView* labels,
                                                 size_t n) const;
  // Sorted ids of the series with postings in a day of [day_from, day_to]
  // matching every matcher (all of them when there are none).
  absl::StatusOr<Postings> Select(uint32_t tenant, const std::vector<Matcher>& matchers,
                                  int64_t day_from, int64_t day_to) const;
  // Label names / values of the series with postings in [day_from, day_to].
  absl::Status LabelNames(uint32_t tenant, int64_t day_from, int64_t day_to,
                          absl::btree_set<std::string>* out) const;
  absl::Status LabelValues(uint32_t tenant, std::string_view name, int64_t day_from, int64_t day_to,
                           absl::btree_set<std::string>* out) const;
  // The first day >= `day` with postings, if any.
  absl::StatusOr<std::optional<int64_t>> FirstDayFrom(uint32_t tenant, int64_t day) const;

 private:
  std::unique_ptr<rocksdb::Iterator> NewIterator() const;
  // Calls fn(day) for every day with postings in [day_from, day_to].
  template <typename Fn>
  absl::Status ForEachDay(rocksdb::Iterator* it, uint32_t tenant, int64_t day_from, int64_t day_to,
                          Fn&& fn) const;

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const index_;
  rocksdb::ColumnFamilyHandle* const meta_;
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_DISK_INDEX_H_

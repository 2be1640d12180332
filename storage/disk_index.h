// DiskIndex: the on-disk inverted index of the series that are not in the
// in-memory head (docs/format/storage.md, "index family"). Per tenant and
// per day (UTC day of the samples), one key per label pair whose value is
// the sorted list of the pair's series ids (delta varints; written as merge
// operands that the family's merge operator unites), plus an all-series list
// per day, so a query over a time range reads only the postings of the days
// it covers; and one key per series from a stable hash of its label set to
// its id, so a series that comes back is re-admitted under its old id.
//
// Entries are written by the checkpoint (the days the head's series opened
// since the last one, in bounded batches, each one ingested table file
// durable on return: IndexBatch), and a series leaves
// the head (idle) only when its postings cover all its days: the eviction
// itself writes nothing.
//
// Thread-safety: thread-safe (RocksDB reads; staging goes into the caller's
// WriteBatch).
#ifndef MERIDIAN_STORAGE_DISK_INDEX_H_
#define MERIDIAN_STORAGE_DISK_INDEX_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "model/labels.h"
#include "model/matcher.h"
#include "model/status.h"
#include "storage/postings_index.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Iterator;
class MergeOperator;
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
// 'q' tenant day name value -> sorted ids (delta uvarints), format 4.
inline constexpr char kPostingPrefix = 'q';
// 'p' tenant day name value id -> "": format 3's postings, one key per
// (pair, series); rewritten as 'q' lists when a format-3 dir is opened.
inline constexpr char kLegacyPostingPrefix = 'p';
inline constexpr char kLabelHashPrefix = 'k';  // 'k' tenant hash id -> ""
// Stable (persisted) 64-bit hash of a sorted label set: FNV-1a over each
// name and value, each followed by a 0xff byte.
uint64_t LabelSetHash(const LabelView* labels, size_t n);
uint64_t LabelSetHash(const Labels& labels);
std::string DayPrefix(uint32_t tenant, int64_t day);
// The key of a label pair's postings list on `day` (the empty pair: all
// series of the day).
std::string PairKey(uint32_t tenant, int64_t day, std::string_view name, std::string_view value);
void AppendPairKey(std::string* out, uint32_t tenant, int64_t day, std::string_view name,
                   std::string_view value);
// A postings list value: strictly increasing ids as uvarint deltas (the
// first from 0).
void EncodePostings(const uint64_t* ids, size_t n, std::string* out);
// Appends the ids of an encoded list to *out; false when it is malformed.
bool DecodePostings(std::string_view in, Postings* out);
// The index family's merge operator: the union of postings lists.
std::shared_ptr<rocksdb::MergeOperator> NewPostingsMergeOperator();
std::string LabelHashKey(uint32_t tenant, uint64_t hash, uint64_t series_id);
// The index family's prefix extractor: a label-hash key's 'k' tenant hash
// (no other key is in its domain), so a Bloom filter per table file lets
// FindId skip every file without that hash (most lookups are of new
// series, found nowhere).
std::shared_ptr<const rocksdb::SliceTransform> NewLabelHashPrefixExtractor();
}  // namespace diskindex

// The index entries of one checkpoint batch, in memory until written as one
// sorted table file: a postings list per (tenant, day, label pair) and the
// label-set hash keys of series indexed for the first time. Memory is about
// 8 bytes per posting plus one key per distinct pair, so the checkpoint
// bounds it by writing a batch whenever postings() passes a limit.
class IndexBatch {
 public:
  // The postings of series `id` for the days [day_from, day_to].
  void AddDays(uint32_t tenant, uint64_t id, const Labels& labels, int64_t day_from,
               int64_t day_to);
  // The label-set hash key of a series.
  void AddDefinition(uint32_t tenant, uint64_t id, const Labels& labels);
  size_t postings() const { return postings_; }
  bool empty() const { return postings_ == 0 && hashes_.empty(); }
  // Calls fn(key, value, is_merge) for every entry in key order: the hash
  // keys (Put, empty value), then the postings lists (merge operands).
  absl::Status ForEachSorted(
      const std::function<absl::Status(std::string_view, std::string_view, bool)>& fn);
  void Clear();

 private:
  void Add(uint32_t tenant, int64_t day, std::string_view name, std::string_view value,
           uint64_t id);
  struct Hash {
    uint32_t tenant;
    uint64_t hash, id;
  };
  absl::flat_hash_map<std::string, std::vector<uint64_t>> lists_;
  std::vector<Hash> hashes_;
  std::string scratch_;
  size_t postings_ = 0;
};

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
  // Rewrites format 3's per-(pair, series) postings keys as postings lists
  // and deletes them; `write` writes (and clears) a batch, the last one
  // synced. Idempotent (lists are united), so a crash may redo it.
  // Returns the number of legacy keys read.
  absl::StatusOr<uint64_t> MigrateLegacyPostings(
      const std::function<absl::Status(rocksdb::WriteBatch*, bool sync)>& write) const;
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

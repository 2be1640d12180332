// ChunkStore: reads persisted chunks of the "chunks" column family
// (docs/format/storage.md). Every stored chunk spans at most
// kMaxChunkSpanMs, so the chunks overlapping [start, end] of a series are
// found by seeking to (series, start - kMaxChunkSpanMs).
//
// Thread-safety: thread-safe (RocksDB reads); an Iterator passed in is
// the caller's and not shared.
#ifndef MERIDIAN_STORAGE_CHUNK_STORE_H_
#define MERIDIAN_STORAGE_CHUNK_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "storage/mem_series.h"
#include "storage/queryable.h"
#include "storage/status.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Iterator;
}  // namespace rocksdb

namespace meridian {

class ChunkStore : public PersistedSampleReader {
 public:
  // `db` and `chunks` are borrowed and must outlive the store.
  ChunkStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks) : db_(db), chunks_(chunks) {}

  // A fresh iterator over the chunk family (reads the latest data).
  std::unique_ptr<rocksdb::Iterator> NewIterator() const;

  // Appends samples of `series_id` with t in [start_ms, end_ms] to *out,
  // unsorted and possibly with duplicate timestamps across overlapping chunks.
  // Returns DataLoss for corrupt chunks, Internal for RocksDB errors.
  absl::Status Read(rocksdb::Iterator* it, uint64_t series_id, int64_t start_ms, int64_t end_ms,
                    std::vector<Sample>* out) const;

  absl::StatusOr<std::optional<double>> ValueAt(uint64_t series_id, int64_t t_ms) override;

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const chunks_;
};

// Sorts by time and drops repeated timestamps (keeping the first).
void SortAndDedupe(std::vector<Sample>* samples);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_CHUNK_STORE_H_

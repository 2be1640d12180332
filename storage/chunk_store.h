// ChunkStore: reads persisted chunks of the "chunks" column family
// (docs/format/storage.md). Every stored chunk spans at most
// kMaxChunkSpanMs, so the chunks overlapping [start, end] of a series are
// found by seeking to (series, start - kMaxChunkSpanMs).
//
// Reading many series: a ChunkStore::Cursor keeps one RocksDB iterator and
// remembers where it stands, so series read in increasing id order (the
// order of the postings) continue where the previous read stopped instead of
// seeking again:
//
//   ChunkStore::Cursor c(&store);
//   for (uint64_t id : ids) c.Read(id, start, end, &samples);
//
// Thread-safety: ChunkStore is thread-safe (RocksDB reads); a Cursor is not.
#ifndef MERIDIAN_STORAGE_CHUNK_STORE_H_
#define MERIDIAN_STORAGE_CHUNK_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/queryable.h"
#include "model/status.h"
#include "storage/mem_series.h"

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
  // `fill_cache` false: blocks read by a scan (retention) do not evict the
  // blocks queries use.
  std::unique_ptr<rocksdb::Iterator> NewIterator(bool fill_cache = true) const;

  // Counts the writes of chunks that replace samples held in memory. The
  // writer calls BumpGeneration() after the chunks are in RocksDB and before
  // it drops the memory they replace (under the series' mutex); a reader that
  // read a series' memory and then sees the generation it started with knows
  // its iterator already holds every chunk that memory no longer has.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void BumpGeneration() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  // Reads chunks of many series through one iterator (see the file comment).
  class Cursor {
   public:
    explicit Cursor(const ChunkStore* store);
    ~Cursor();

    // Appends samples of `series_id` with t in [start_ms, end_ms] to *out,
    // unsorted and possibly with duplicate timestamps across overlapping
    // chunks. *sorted (optional) tells whether what was appended is already
    // strictly increasing in time (no two chunks overlapped).
    // Returns DataLoss for corrupt chunks, Internal for RocksDB errors.
    absl::Status Read(uint64_t series_id, int64_t start_ms, int64_t end_ms,
                      std::vector<Sample>* out, bool* sorted = nullptr);

    // Makes the next Read see every chunk written before generation() last
    // changed. Cheap when nothing changed since the cursor's view was taken
    // (the view is taken by the first Read).
    void CatchUp();

   private:
    void Reset();

    const ChunkStore* store_;
    std::unique_ptr<rocksdb::Iterator> it_;
    uint64_t generation_ = 0;  // of the iterator's view
    // The target of the iterator's last Seek. Every key in [last_seek_,
    // it_->key()) has been visited, so a Seek to a key in that interval
    // would land where the iterator already is.
    std::string last_seek_;
    bool positioned_ = false;
  };

  absl::StatusOr<std::optional<double>> ValueAt(uint64_t series_id, int64_t t_ms) override;

  // Counts one encounter with corrupt data (a read or a maintenance pass
  // that met it) and logs `detail` to stderr (the operator's record: it may
  // name files; at most one line per second). Thread-safe.
  void CountCorruption(std::string_view detail) const override;
  uint64_t corruptions() const { return corruptions_.load(std::memory_order_relaxed); }

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const chunks_;
  std::atomic<uint64_t> generation_{0};
  mutable std::atomic<uint64_t> corruptions_{0};
  mutable std::atomic<int64_t> last_log_s_{0};
};

// Sorts by time and drops repeated timestamps (keeping the first).
void SortAndDedupe(std::vector<Sample>* samples);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_CHUNK_STORE_H_

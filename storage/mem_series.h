// MemSeries: the in-memory head of one series (like a Prometheus head
// series): the samples of the open head chunk not yet persisted (a
// checkpoint writes them as one piece of the chunk and drops them), closed
// chunks that are encoded but not yet persisted, and an out-of-order buffer. It decides
// whether an appended sample is new, a duplicate, a conflict or too old.
//
// Thread-safety: fields marked GUARDED_BY(mu) need `mu`; the atomics and
// the immutable id/labels may be read without it.
#ifndef MERIDIAN_STORAGE_MEM_SERIES_H_
#define MERIDIAN_STORAGE_MEM_SERIES_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "model/labels.h"
#include "model/queryable.h"
#include "model/status.h"
#include "model/sync.h"

namespace meridian {

// Head chunks are cut at this many samples or when they would span more
// than kMaxChunkSpanMs; every stored chunk obeys the span bound, which lets
// readers seek to (start - kMaxChunkSpanMs).
inline constexpr size_t kChunkSamples = 240;
inline constexpr int64_t kMaxChunkSpanMs = 2 * 3600 * 1000;
// The open head chunk keeps at most this many samples raw (16 bytes each);
// older ones are encoded in blocks of this size (a few bytes per sample)
// and merged into one chunk (a piece of the open chunk) when the head is
// cut or persisted.
inline constexpr size_t kHeadRawSamples = 16;

struct ClosedChunk {
  int64_t min_t_ms;
  int64_t max_t_ms;
  std::string data;  // chunk_codec encoding
  // The last piece of a head chunk whose earlier pieces are on disk (keyed
  // from this time on): the checkpoint merges them into one chunk.
  int64_t merge_from_ms = kNoMerge;
  static constexpr int64_t kNoMerge = std::numeric_limits<int64_t>::max();
};

enum class AppendOutcome { kAppended, kDuplicate, kTooOld, kConflict };

struct AppendLimits {
  int64_t min_valid_t_ms = std::numeric_limits<int64_t>::min();  // retention cut-off
  int64_t out_of_order_window_ms = 0;
  bool allow_backfill = false;
};

// One in-flight append's accepted samples of one series, sorted by time and
// unique: registered (MemSeries::AddPending) after classification and before
// the WAL write, removed by Commit (the write succeeded: the samples become
// visible) or RemovePending (it failed: they never existed). Never read by
// queries and never a duplicate: a concurrent append of the same sample
// writes it too; one with a different value at the same time is a conflict,
// so every committed timestamp has one value. The samples are borrowed from
// the append, which outlives the registration.
struct PendingSamples {
  std::span<const Sample> samples;
  PendingSamples* next = nullptr;
};

// One append's classification state for one series: the samples accepted so
// far (input order) and the newest timestamp of the series counting them.
struct StagedRun {
  std::span<const Sample> accepted;
  int64_t newest = std::numeric_limits<int64_t>::min();
  bool sorted = true;  // accepted is increasing in time
  // A duplicate lookup of this run met a corrupt chunk (counted once).
  bool met_corruption = false;
};

// Looks up a persisted sample; implemented over the chunk column family.
class PersistedSampleReader {
 public:
  virtual ~PersistedSampleReader() = default;
  // The value stored at exactly t_ms, or nullopt. DataLoss: the chunk that
  // would hold it is corrupt.
  virtual absl::StatusOr<std::optional<double>> ValueAt(uint64_t series_id, int64_t t_ms) = 0;
  // Counts and logs one encounter with corrupt data (rate-limited log).
  virtual void CountCorruption(std::string_view detail) const = 0;
};

// Appends the flat encoding of sorted labels to *out: per label a uvarint
// length and the name, a uvarint length and the value. MemSeries keeps its
// labels so; the series cache hashes and compares this form.
void AppendFlatLabels(const LabelView* views, size_t n, std::string* out);

class MemSeries {
 public:
  MemSeries(uint64_t id, const Labels& labels);
  MemSeries(const MemSeries&) = delete;
  MemSeries& operator=(const MemSeries&) = delete;

  uint64_t id() const { return id_; }
  // The labels, decoded from the one flat copy kept in memory (a `Labels`
  // per series would cost ~700 bytes more).
  Labels labels() const;
  // True when the series' labels equal the sorted views. Compares one
  // contiguous copy of the labels (cache friendly on the append path).
  bool HasLabels(const LabelView* views, size_t n) const;
  // The labels' flat encoding (AppendFlatLabels of the sorted labels).
  std::string_view flat_labels() const { return flat_labels_; }
  void PrefetchLabels() const { __builtin_prefetch(flat_labels_.data()); }
  // Prefetches the slot the next in-order sample will be written to (a hint
  // read without the lock; a stale address is harmless).
  void PrefetchHead() const {
    __builtin_prefetch(head_end_hint_.load(std::memory_order_relaxed), 1);
  }

  // Classifies and, when accepted, stores one sample (WAL replay, tests:
  // no durability step in between). Returns the reader's error, if any.
  absl::StatusOr<AppendOutcome> Append(const Sample& s, const AppendLimits& limits,
                                       PersistedSampleReader* persisted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Classifies one sample of an append against the committed samples
  // (memory; `persisted` only for samples at or before the newest timestamp
  // that are not in memory), the samples the same append accepted before
  // (`run`) and the pending samples of other in-flight appends. Stores
  // nothing. kAppended: the caller makes it durable, then Commit()s it.
  // A persisted chunk that cannot be read (corrupt) counts as holding
  // nothing: the sample is new (reads skip the damaged chunk, so it may end
  // up stored twice, never visible twice); the encounter is counted once
  // per run (run.met_corruption).
  absl::StatusOr<AppendOutcome> Classify(const Sample& s, const AppendLimits& limits,
                                         PersistedSampleReader* persisted, StagedRun& run) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // A StagedRun for a new append of this series.
  StagedRun BeginRun() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return StagedRun{{}, newest_t_ms_, true};
  }
  void AddPending(PendingSamples* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    p->next = pending_;
    pending_ = p;
  }
  void RemovePending(PendingSamples* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // After the samples of `p` are durable: removes it and stores its samples
  // (those committed meanwhile by a concurrent identical append are skipped).
  void Commit(PendingSamples* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Appends the in-memory samples with t in [start, end] to *out, unsorted.
  absl::Status ReadMemory(int64_t start_ms, int64_t end_ms, std::vector<Sample>* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);

  // What a checkpoint writes for this series: the closed chunks followed by
  // the open head chunk's samples not yet persisted (one piece of it, keyed
  // by its first sample), if any.
  struct PersistSnapshot {
    std::vector<ClosedChunk> chunks;
    size_t num_closed = 0;
    size_t head_samples = 0;  // 0 when the head is not in `chunks`
    uint64_t head_generation = 0;
  };
  // Closes the out-of-order buffer into chunks and copies what to persist.
  PersistSnapshot SnapshotForPersist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // What MarkPersisted needs of a snapshot: a checkpoint drops the chunk
  // bytes as soon as they are written and keeps only this until they are
  // durable.
  struct PersistMark {
    uint32_t num_closed = 0;
    uint32_t head_samples = 0;  // 0 when the head was not in the snapshot
    uint64_t head_generation = 0;
    int64_t min_t_ms = std::numeric_limits<int64_t>::max();  // over the snapshot's chunks
    int64_t max_t_ms = std::numeric_limits<int64_t>::min();
    int64_t head_min_t_ms = 0, head_max_t_ms = 0;  // of the head piece
  };
  static PersistMark MarkOf(const PersistSnapshot& snap);
  // After the snapshot is durable: drops its closed chunks and its head
  // samples from memory (they are readable from disk now; samples appended
  // since stay) and widens the persisted range. REQUIRES: no TrimBefore()
  // since the snapshot (the caller serializes them).
  void MarkPersisted(const PersistMark& mark) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void MarkPersisted(const PersistSnapshot& snap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    MarkPersisted(MarkOf(snap));
  }

  // Retention: drops in-memory samples before `cutoff_ms`. Returns true when
  // nothing is left in memory.
  bool TrimBefore(int64_t cutoff_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool MemoryEmpty() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return head_.empty() && head_blocks_n_ == 0 && ooo_.empty() && closed_.empty();
  }

  // Loading at open: the span of this series' persisted chunks (none of
  // which is in memory yet).
  void LoadPersistedRange(int64_t min_t_ms, int64_t max_t_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Retention: the span of the chunks left on disk (empty: min > max).
  void SetPersistedRange(int64_t min_t_ms, int64_t max_t_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // False when every persisted sample with t in [start, end] is also in
  // memory (the persisted copy of the open head chunk, say), so a reader
  // that has read memory need not read disk.
  bool DiskOnlyOverlaps(int64_t start_ms, int64_t end_ms) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return disk_only_min_t_ms_ <= end_ms && disk_only_max_t_ms_ >= start_ms;
  }
  bool has_persisted() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return persisted_max_t_ms_ >= persisted_min_t_ms_;
  }
  int64_t persisted_min_t_ms() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return persisted_min_t_ms_; }
  int64_t persisted_max_t_ms() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return persisted_max_t_ms_; }

  // Approximate bounds of all data of the series, for range filtering
  // without the lock (may be stale by a concurrent append).
  int64_t min_t_ms() const { return min_t_ms_.load(std::memory_order_relaxed); }
  int64_t max_t_ms() const { return max_t_ms_.load(std::memory_order_relaxed); }
  bool Overlaps(int64_t start_ms, int64_t end_ms) const {
    return min_t_ms() <= end_ms && max_t_ms() >= start_ms;
  }
  void ResetMinTime(int64_t t_ms) { min_t_ms_.store(t_ms, std::memory_order_relaxed); }

  // Changes (under `mu`) whenever samples already stored may have changed:
  // an out-of-order sample is stored, or data is trimmed; appends after the
  // newest sample leave it alone. Unique across MemSeries objects (a series
  // that re-enters the head gets a new one), so one value names one state of
  // this object's older data. The read path's cache of windows folded from
  // raw data (storage/aggregate_cache.h) is keyed by it.
  uint64_t data_epoch() const { return data_epoch_.load(std::memory_order_acquire); }

  // Whether the series definition is durably stored.
  std::atomic<bool> definition_persisted{false};
  // The days [index_lo_day, index_hi_day] whose on-disk postings are
  // written (storage/disk_index.h); empty when lo > hi.
  int64_t index_lo_day ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::max();
  int64_t index_hi_day ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::min();
  // True when every sample of the series is persisted and nothing is in
  // flight: the series can leave the head without losing anything.
  bool FullyPersisted() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return pending_ == nullptr && ooo_.empty() && closed_.empty() && HeadSize() == 0;
  }
  // Approximate heap bytes held by this series' samples.
  size_t MemoryBytes() const ABSL_SHARED_LOCKS_REQUIRED(mu);

  mutable Mutex mu;

 private:
  // Stores an accepted sample; a no-op when its timestamp is in memory.
  void Insert(const Sample& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The pending sample at t_ms, if any.
  const Sample* FindPending(int64_t t_ms) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void AppendHead(const Sample& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void CutHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Moves the raw head samples into a new encoded block.
  void EncodeHeadBlock() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Samples of the open head chunk in memory (blocks, then raw tail): those
  // not yet persisted.
  size_t HeadSize() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return head_blocks_n_ + head_.size(); }
  // Appends every sample of the open head chunk in memory to *out, in order.
  void HeadSamples(std::vector<Sample>* out) const ABSL_SHARED_LOCKS_REQUIRED(mu);
  // Replaces the head's memory by `samples` (in order): blocks, raw tail.
  void SetHead(const std::vector<Sample>& samples) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The open head chunk's samples in memory as one encoded chunk.
  // REQUIRES: HeadSize() > 0.
  ClosedChunk EncodeHead() const ABSL_SHARED_LOCKS_REQUIRED(mu);
  void CutOutOfOrder() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The value stored in memory at t_ms, if any.
  std::optional<double> MemoryValueAt(int64_t t_ms) const ABSL_SHARED_LOCKS_REQUIRED(mu);
  void Widen(int64_t t_ms);
  void BumpDataEpoch();

  const uint64_t id_;
  const std::string flat_labels_;  // per label: varint len, name, varint len, value
  // The open head chunk's samples not yet persisted: head_blocks_ holds
  // the first head_blocks_n_ of them as length-prefixed (uvarint)
  // chunk_codec blocks of kHeadRawSamples each, head_ the newer ones raw.
  // The persisted ones are pieces on disk (keyed by their first sample).
  std::string head_blocks_ ABSL_GUARDED_BY(mu);
  uint32_t head_blocks_n_ ABSL_GUARDED_BY(mu) = 0;
  uint32_t head_count_ ABSL_GUARDED_BY(mu) = 0;       // samples of the open chunk, persisted or not
  uint32_t head_on_disk_ ABSL_GUARDED_BY(mu) = 0;     // of those, persisted as pieces
  int64_t head_min_t_ms_ ABSL_GUARDED_BY(mu) = 0;     // first sample of the open chunk
  std::vector<Sample> head_ ABSL_GUARDED_BY(mu);      // strictly increasing t, after the blocks
  uint64_t head_generation_ ABSL_GUARDED_BY(mu) = 0;  // bumped when the head's memory restarts
  std::vector<Sample> ooo_ ABSL_GUARDED_BY(mu);       // strictly increasing t
  std::vector<ClosedChunk> closed_ ABSL_GUARDED_BY(mu);
  PendingSamples* pending_ ABSL_GUARDED_BY(mu) = nullptr;  // in-flight appends
  int64_t newest_t_ms_ ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::min();
  int64_t persisted_min_t_ms_ ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::max();
  int64_t persisted_max_t_ms_ ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::min();
  // Covers every persisted sample that memory no longer holds.
  int64_t disk_only_min_t_ms_ ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::max();
  int64_t disk_only_max_t_ms_ ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::min();
  std::atomic<uint64_t> data_epoch_;
  std::atomic<const Sample*> head_end_hint_{nullptr};
  std::atomic<int64_t> min_t_ms_{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> max_t_ms_{std::numeric_limits<int64_t>::min()};
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_MEM_SERIES_H_

// RocksStorage: the Storage implementation on RocksDB. Internal to the
// storage module; others use storage/storage.h. Layout and policies:
// docs/format/storage.md.
//
// Write path: Append resolves series through the per-tenant label-set cache,
// classifies each sample under the series' own mutex and registers the
// accepted ones as pending (invisible), writes one WAL record (plus any new
// series definitions) in one RocksDB WriteBatch (sync = options.sync_wal;
// concurrent appends share one synced write, storage/group_commit.h), and
// only then commits the pending samples to the in-memory head; when the write fails they are
// dropped and the storage is degraded (appends refused) until RocksDB's
// Resume() succeeds. A checkpoint (background, or Flush()) persists closed
// and open head chunks and deletes the WAL records it covers. Open() loads
// series and replays the WAL.
//
// Locking order: gate_ (shared by appends, exclusive for checkpoint
// cut-over and series removal) -> TenantHead locks -> MemSeries::mu.
// maintenance_mu_ serializes checkpoints and retention.
#ifndef MERIDIAN_STORAGE_ROCKS_STORAGE_H_
#define MERIDIAN_STORAGE_ROCKS_STORAGE_H_

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "model/sync.h"
#include "storage/aggregate_cache.h"
#include "storage/chunk_store.h"
#include "storage/compaction.h"
#include "storage/data_generation.h"
#include "storage/disk_index.h"
#include "storage/storage.h"
#include "storage/tenant_head.h"

namespace rocksdb {
class Cache;
class ColumnFamilyHandle;
class DB;
class Env;
class Iterator;
class Logger;
class SstFileWriter;
class Statistics;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace meridian {

class GroupCommit;

class RocksStorage : public Storage {
 public:
  static absl::StatusOr<std::unique_ptr<Storage>> Open(const StorageOptions& options);
  ~RocksStorage() override;

  absl::Status Append(std::string_view tenant, const AppendBatch& batch,
                      AppendResult* result) override;
  absl::Status PutMetadata(std::string_view tenant,
                           std::span<const MetricMetadata> metadata) override;
  absl::StatusOr<std::vector<MetricMetadata>> Metadata(std::string_view tenant,
                                                       std::string_view metric,
                                                       size_t limit) const override;
  std::unique_ptr<Queryable> ForTenant(std::string_view tenant) override;
  absl::Status EnforceRetention() override;
  absl::Status Flush() override;
  absl::Status ForceMerge() override { return CompactAll(); }
  absl::StatusOr<std::string> Snapshot(bool persist_head) override;
  StorageStats Stats() const override;
  StorageHealth Health() const override;
  CompactionAccess* Compaction() override { return compaction_.get(); }
  CardinalityStats Cardinality(std::string_view tenant, size_t limit) const override;
  std::optional<uint64_t> DataGeneration(std::string_view tenant) const override {
    return generations_.Get(tenant);
  }

  // For the read path: the tenant's head, or null when it has no data yet.
  TenantHead* FindTenant(std::string_view tenant) const;
  const ChunkStore& chunk_store() const { return *chunk_store_; }
  // An iterator over the downsampled family (storage/downsampled_read.cc).
  std::unique_ptr<rocksdb::Iterator> NewAggregateIterator() const;
  // Decoded aggregate chunks and windows folded from recent raw data.
  AggregateCache& aggregate_cache() const { return aggregate_cache_; }
  const DiskIndex& disk_index() const { return *disk_index_; }
  // A series that is not in the head, read from disk for one reader (its
  // labels when `with_labels`, its persisted span; nothing in memory), or
  // null when it has no definition, or no persisted chunks unless
  // `rangeless` (then it comes with an empty span: its raw data is gone,
  // its aggregates may not be).
  absl::StatusOr<std::shared_ptr<MemSeries>> ReadInactive(uint64_t id, bool with_labels,
                                                          bool rangeless = false) const;
  static constexpr int64_t kNoAggregates = std::numeric_limits<int64_t>::max();
  // The series of `head` with postings in days overlapping [start, end]
  // that are not in `in_head` (sorted ids), read with ReadInactive; sorted
  // by id. Empty unless the tenant may have series only on disk. Those
  // whose raw data misses the range are dropped, unless `aggregates_from`
  // (a downsampled read: where its aggregate parts begin) allows windows:
  // then also series without raw data, or with raw data up to it.
  absl::StatusOr<std::vector<std::shared_ptr<MemSeries>>> InactiveSeries(
      const TenantHead* head, const std::vector<Matcher>& matchers, int64_t start, int64_t end,
      const std::vector<uint64_t>& in_head, bool with_labels,
      int64_t aggregates_from = kNoAggregates) const;
  // Where large Selects read ahead; null: they read on the caller's thread.
  Executor* read_ahead_executor() const { return options_.read_ahead_executor.get(); }

  // Persists head chunks and deletes the WAL records they cover. Counted
  // in Health() (checkpoints, checkpoint_failures).
  absl::Status Checkpoint();
  // Compacts every column family fully (benchmarks, tools).
  absl::Status CompactAll();
  // "name=bytes ..." of each column family's live SST files (benchmarks).
  std::string FamilySizes() const;
  // True until the automatic compactions start after the open (tests).
  bool compactions_deferred() const { return compactions_deferred_.load(); }

 private:
  explicit RocksStorage(const StorageOptions& options);
  absl::Status OpenDb();
  absl::Status Load();
  absl::Status ReplayWal();
  // Format < 3: builds the index family from the series definitions,
  // their persisted spans and the WAL.
  absl::Status BuildIndex();
  // WAL replay: puts series `id` of `head` back into memory when it is
  // defined on disk; false when it is not (deleted by retention).
  absl::StatusOr<bool> ReadmitForReplay(TenantHead* head, uint64_t id);
  // Drops the series idle for options_.head_idle_timeout_ms whose samples
  // are all persisted from the head (after a checkpoint).
  void EvictIdle();
  // Writes the postings keys (sorted, unique) to the index family durably,
  // as one ingested table file (kPostingsIngestFile while written).
  absl::Status IngestPostings(IndexBatch* batch);
  static constexpr char kPostingsIngestFile[] = "postings-ingest.sst.tmp";
  // A checkpoint's chunks: a table file (kChunksIngestFile while written)
  // that IngestChunks finishes and ingests into the chunks family, durably.
  absl::StatusOr<std::unique_ptr<rocksdb::SstFileWriter>> OpenChunkFile();
  absl::Status IngestChunks(rocksdb::SstFileWriter* file);
  // Writes the chunks of `snap` (series `id`) to `file` in key order,
  // merging a cut head chunk with its pieces (read through *pieces, opened
  // on first use); widens [*pmin, *pmax] by what it writes and adds its
  // bytes to *bytes.
  absl::Status WriteSeriesChunks(rocksdb::SstFileWriter* file, uint64_t id,
                                 MemSeries::PersistSnapshot* snap,
                                 std::unique_ptr<rocksdb::Iterator>* pieces, int64_t* pmin,
                                 int64_t* pmax, size_t* bytes);
  // `c` is the last piece of a head chunk (c->merge_from_ms set): merges
  // into it the chunks of series `id` keyed in [merge_from, c's first
  // sample) that end within it (the earlier pieces, out-of-order chunks
  // among them), read through `it`, and adds their first timestamps but the
  // merged chunk's to *absorbed (their keys are deleted). Unreadable ones:
  // nothing is merged.
  absl::Status MergeHeadPieces(rocksdb::Iterator* it, uint64_t id, ClosedChunk* c,
                               std::vector<int64_t>* absorbed);
  // IngestChunks' way around corrupt overlapping files: the file's chunks
  // through the memtable, unsynced.
  absl::Status WriteChunkFile(const std::string& path);
  static constexpr char kChunksIngestFile[] = "chunks-ingest.tmp.sst";
  // The lookup TenantHead uses to re-admit a series by its labels.
  void InstallDiskLookup(TenantHead* head);
  absl::StatusOr<TenantHead*> GetOrCreateTenant(std::string_view tenant);
  TenantHead* AddTenant(uint32_t id, std::string name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tenants_mu_);
  std::vector<TenantHead*> AllTenants() const;
  int64_t NowMs() const;
  AppendLimits CurrentLimits() const;
  void CheckpointLoop();
  // Retention's deletes of raw data for `cutoff` in `tenants` (chunks
  // starting before `sure_cutoff` are deleted unread). Adds the estimated
  // bytes of the deleted ranges to *freed and widens [*span_begin,
  // *span_end) over their keys. Extra puts/deletes staged in `extra` go in
  // the same synced batch.
  absl::Status DeleteExpired(std::span<TenantHead* const> tenants, int64_t cutoff,
                             int64_t sure_cutoff, uint64_t* freed, std::string* span_begin,
                             std::string* span_end, rocksdb::WriteBatch* extra = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // True when the series has aggregate chunks (it must keep its definition).
  bool HasAggregates(uint64_t series_id) const;
  // DeleteExpired's parts: the series of `t` (head, and on disk only) with
  // data before `cutoff`; and, under the gate, the definitions of those
  // left empty (none kept by aggregates) and the expired postings days,
  // written with `batch` (synced).
  absl::StatusOr<std::vector<std::shared_ptr<MemSeries>>> SeriesWithDataBefore(
      TenantHead* t, int64_t cutoff) const;
  absl::Status ForgetEmptySeries(
      std::span<TenantHead* const> tenants, int64_t cutoff,
      const std::vector<std::pair<TenantHead*, std::shared_ptr<MemSeries>>>& maybe_empty,
      rocksdb::WriteBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  friend class RocksCompactionAccess;
  // A sample below the raw deletion floor that the append sets aside for
  // StageBelowRawFloor (storage/compaction.h, "staged").
  struct BelowFloor {
    size_t series_index;  // in the batch
    uint64_t series_id;
    Sample sample;
  };
  // Append's work under the shared gate; samples below the raw floor go to
  // *below instead (when the storage accepts backfill).
  absl::Status AppendToHead(std::string_view tenant, const AppendBatch& batch, AppendResult* result,
                            TenantHead** head, std::vector<BelowFloor>* below);
  // Stages (or refuses as too old) the samples of `below` (storage/
  // staged_backfill.cc). Not under the gate: takes maintenance_mu_.
  absl::Status StageBelowRawFloor(TenantHead* head, const AppendBatch& batch,
                                  std::span<const BelowFloor> below, AppendResult* result)
      ABSL_LOCKS_EXCLUDED(maintenance_mu_);
  // The oldest day holding staged samples of `t`, or nullopt.
  absl::StatusOr<std::optional<int64_t>> OldestStaged(TenantHead* t) const;
  // CompactionAccess::CommitStaged.
  absl::Status CommitStagedGroup(TenantHead* t, const StagedGroup& g,
                                 std::span<const SeriesAggregates> chunks_5m,
                                 std::span<const SeriesAggregates> chunks_1h)
      ABSL_LOCKS_EXCLUDED(maintenance_mu_);
  absl::Status CheckpointImpl();

  // Every write to RocksDB goes through here. A failure degrades the
  // storage (logged once per episode, counted) and returns kUnavailable
  // with a message fit for clients (no paths).
  absl::Status Write(rocksdb::WriteBatch* wb, bool sync, std::string_view what);
  void NoteWriteFailure(std::string_view what, const rocksdb::Status& s);
  // OK when writable; otherwise tries to resume first.
  absl::Status CheckWritable();
  // Calls RocksDB's Resume() unless another call is running or the last
  // attempt was less than `min_interval` ago. True when writable afterwards.
  // `force`: also when not degraded (a failed checkpoint may have stopped
  // RocksDB's writes without an append noticing yet).
  bool TryResume(std::chrono::milliseconds min_interval, bool force = false);
  // Puts a WAL-less tombstone in the default family's memtable, so that a
  // Resume() always has a memtable to flush and so switches to a new WAL.
  void KeepMemtableNonEmpty();
  // Makes sure every series id below `ids_promised_` is covered by the
  // durable reservation ('i' key) before an append may hand one out.
  absl::Status ReserveSeriesIds(uint64_t n);

  StorageOptions options_;
  std::unique_ptr<rocksdb::Env> env_;  // wraps options_.file_system; outlives db_
  std::shared_ptr<rocksdb::Logger> logger_;
  // A checkpoint starts when this many WAL record bytes accumulated.
  const uint64_t checkpoint_wal_bytes_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;         // "default"
  rocksdb::ColumnFamilyHandle* chunks_ = nullptr;       // "chunks"
  rocksdb::ColumnFamilyHandle* wal_ = nullptr;          // "wal"
  rocksdb::ColumnFamilyHandle* downsampled_ = nullptr;  // "downsampled"
  mutable AggregateCache aggregate_cache_;
  // Storage::DataGeneration(): bumped after late appends (Append), the
  // compactor's writes and deletes (compaction_access.cc, CommitStagedGroup)
  // and retention (EnforceRetention).
  DataGenerations generations_;
  rocksdb::ColumnFamilyHandle* index_ = nullptr;  // "index"
  std::unique_ptr<DiskIndex> disk_index_;
  std::atomic<uint64_t> series_evicted_{0};
  // Checkpoints also run when the newest sample moved this far since the
  // last one, so idle series leave the head in time.
  std::atomic<int64_t> newest_sample_ms_{std::numeric_limits<int64_t>::min()};
  std::atomic<int64_t> newest_at_checkpoint_{std::numeric_limits<int64_t>::min()};
  std::unique_ptr<CompactionAccess> compaction_;
  // Appends' synced writes, grouped (null without options_.sync_wal).
  std::unique_ptr<GroupCommit> group_commit_;
  // Late-mark tokens: unique per process (nonce) and per append (counter).
  uint64_t late_nonce_ = 0;
  std::atomic<uint64_t> late_counter_{0};
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::shared_ptr<rocksdb::Cache> block_cache_;      // the chunks family's
  std::shared_ptr<rocksdb::Statistics> statistics_;  // tickers for Stats()
  std::unique_ptr<ChunkStore> chunk_store_;
  class CorruptionListener;
  std::shared_ptr<CorruptionListener> corruption_listener_;

  SeriesCacheLimits cache_limits_;

  mutable Mutex tenants_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<TenantHead>> tenants_
      ABSL_GUARDED_BY(tenants_mu_);
  absl::flat_hash_map<uint32_t, TenantHead*> tenants_by_id_ ABSL_GUARDED_BY(tenants_mu_);
  uint32_t next_tenant_id_ ABSL_GUARDED_BY(tenants_mu_) = 1;

  // A writer-preferring SharedMutex (model/sync.h) rather than
  // std::shared_mutex: waiting writers (checkpoint,
  // retention) block new readers, so a steady stream of appends cannot
  // starve them. Taken once per Append, not per sample.
  SharedMutex gate_;
  std::atomic<uint64_t> next_wal_seq_{1};
  std::atomic<uint64_t> wal_bytes_{0};          // since the last checkpoint
  std::atomic<uint64_t> wal_written_bytes_{0};  // since start
  std::atomic<uint64_t> samples_appended_{0};

  Mutex maintenance_mu_;
  // Retention (storage_maintenance.cc). The cut-off of the last completed
  // pass; the deleted chunk key span not compacted yet and its estimated
  // bytes.
  int64_t retention_done_cutoff_ ABSL_GUARDED_BY(maintenance_mu_) =
      std::numeric_limits<int64_t>::min();
  std::string retention_compact_begin_ ABSL_GUARDED_BY(maintenance_mu_);
  std::string retention_compact_end_ ABSL_GUARDED_BY(maintenance_mu_);
  uint64_t retention_garbage_bytes_ ABSL_GUARDED_BY(maintenance_mu_) = 0;
  Mutex retention_compact_mu_;  // one retention compaction at a time

  // Degraded state: set by a failed write, cleared by a successful Resume().
  std::atomic<bool> degraded_{false};
  // Set when Resume() could not move off the WAL file whose write failed:
  // only a restart (reopen) recovers.
  std::atomic<bool> restart_required_{false};
  std::atomic<uint64_t> failed_wal_number_{0};  // last WAL file a write to failed
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<uint64_t> checkpoint_failures_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> resumes_{0};
  std::atomic<int64_t> last_checkpoint_ms_{0};       // wall clock, end of the last success
  std::atomic<uint64_t> last_checkpoint_micros_{0};  // its run time
  std::atomic<uint64_t> checkpoint_micros_total_{0};
  Mutex resume_mu_;
  std::chrono::steady_clock::time_point last_resume_attempt_ ABSL_GUARDED_BY(resume_mu_);
  std::chrono::steady_clock::time_point last_resume_log_ ABSL_GUARDED_BY(resume_mu_);
  std::chrono::steady_clock::time_point degraded_since_ ABSL_GUARDED_BY(resume_mu_);

  // Series ids: every id an append may hand out is below ids_promised_
  // (ids allocated + the batch sizes of appends in flight), and
  // ids_reserved_ (stored durably as the 'i' key) is kept above it, so an id
  // is never given to two series, even across a crash.
  std::atomic<uint64_t> ids_promised_{0};
  std::atomic<uint64_t> ids_reserved_{0};
  Mutex reserve_mu_;

  Mutex bg_mu_;
  CondVar bg_cv_;  // signalled on stop_ and when a checkpoint is due
  bool stop_ ABSL_GUARDED_BY(bg_mu_) = false;
  std::thread checkpointer_;
  // The families' automatic compactions start this long after the open, or
  // at the first checkpoint if sooner (StartCompactions): the level-0 files
  // the last checkpoints and the shutdown's flush left are compacted after
  // start-up and the first queries and scrapes, not while they run.
  static constexpr std::chrono::seconds kCompactionsAfterOpen{30};
  std::chrono::steady_clock::time_point opened_at_;
  std::atomic<bool> compactions_deferred_{true};
  void StartCompactions();
};

// storage/compaction_access.cc. `storage` is borrowed.
std::unique_ptr<CompactionAccess> NewRocksCompactionAccess(RocksStorage* storage);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_ROCKS_STORAGE_H_

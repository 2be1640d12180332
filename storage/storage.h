// Storage: meridian's durable, tenant-partitioned time-series store on
// RocksDB. Series are identified by their label set; samples are kept in
// compressed chunks; an inverted index answers matcher queries.
//
// Durability contract: when Append() returns OK, every sample it counted as
// appended is on disk (the write-ahead log is fsynced, group-committed across
// concurrent callers) and survives a crash of the process or the machine.
// See docs/format/storage.md for the key layout and chunk encoding.
//
// Thread-safety: all methods are thread-safe.
//
//   StorageOptions opts;
//   opts.dir = "/var/lib/meridian";
//   auto st = Storage::Open(opts);
//   AppendBatch batch;  ... fill ...
//   AppendResult result;
//   absl::Status s = (*st)->Append("default", batch, &result);
#ifndef MERIDIAN_STORAGE_STORAGE_H_
#define MERIDIAN_STORAGE_STORAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/appender.h"
#include "model/executor.h"
#include "model/labels.h"
#include "model/queryable.h"
#include "model/status.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace meridian {

class CompactionAccess;  // storage/compaction.h

struct StorageOptions {
  std::string dir;  // created when missing
  // Samples older than (newest sample of the series - out_of_order_window_ms)
  // are rejected as too old; within the window they are merged in order.
  int64_t out_of_order_window_ms = 2 * 3600 * 1000;
  // Accept any sample newer than the retention cut-off regardless of the
  // window (backfill); when false, the window applies.
  bool allow_backfill = true;
  // 0 keeps data forever. Enforced by EnforceRetention().
  int64_t retention_ms = 0;
  // fsync the WAL before acknowledging an append. Turning this off trades
  // durability on machine crash (not process crash) for throughput.
  bool sync_wal = true;
  // Upper bound on memory for the label-set -> series-id cache, in series.
  size_t max_cached_series = 2'000'000;
  // A checkpoint starts when this many bytes of WAL records accumulated
  // (or after 10 minutes). Larger: fewer checkpoints (each rewrites every
  // open head chunk), more WAL to replay at open.
  size_t checkpoint_wal_bytes = 128 << 20;
  // RocksDB memory (docs/format/storage.md, "Memory"). The WAL family's
  // memtable: WAL records beyond it are flushed to SST files (disk, not
  // memory) until the checkpoint deletes them.
  size_t wal_memtable_bytes = 16 << 20;
  // The chunks family's memtable (checkpointed chunks before their flush).
  size_t chunk_memtable_bytes = 32 << 20;
  // All memtables of all families together (a RocksDB WriteBufferManager):
  // past 7/8 of it the oldest memtable is flushed, whichever family it is,
  // so a checkpoint's chunks, the WAL records and the series definitions do
  // not each fill their own memtable at once. 0: each family only by its
  // own size.
  size_t memtable_budget_bytes = 48 << 20;
  // LRU cache of uncompressed chunk blocks for reads (a chunk read
  // decompresses a whole 32 KiB block). Filled only by queries: it holds
  // the working set of repeated dashboard queries over persisted data.
  size_t block_cache_bytes = 256 << 20;
  // Downsampled reads' cache of decoded aggregate chunks and of 5m windows
  // folded from recent raw data (storage/aggregate_cache.h; 0: none). Filled
  // only by queries that read downsampled data.
  size_t aggregate_cache_bytes = 256 << 20;
  // At most this many tenants (0: no limit). An Append or PutMetadata that
  // would create one more tenant returns kResourceExhausted and stores nothing.
  size_t max_tenants = 0;
  // Series without a sample for this long (in sample time: older than the
  // tenant's newest sample by more) leave the in-memory head at the next
  // checkpoint once all their samples are persisted; their labels and
  // postings are then read from the on-disk index (docs/format/storage.md,
  // "index family"), and a sample for one of them re-admits it under its old
  // id. Open loads no series: each one enters the head with its first
  // append after the open (the same re-admission). 0 keeps every series in
  // memory and loads them all at open.
  int64_t head_idle_timeout_ms = 3 * 3600 * 1000;
  // Large Selects (kReadAheadMinSeries series and more) read and decode
  // series on this executor while the caller evaluates the ones before (the
  // binary owns and sizes it); null: every Select reads on its caller's
  // thread. A Select whose task has not started within a moment reads on its
  // caller's thread instead, so a busy executor never stalls a query.
  std::shared_ptr<Executor> read_ahead_executor;
  // An append with a sample at or before now - late_write_ms is a late
  // write: it bumps the tenant's DataGeneration(), as the compactor's writes
  // and deletes and retention do. A results cache that keeps only answers
  // for steps at or before now - late_write_ms (api/query_cache.h) then
  // misses after every change to what it kept. The server sets it to the
  // cache's offset.
  int64_t late_write_ms = 5 * 60 * 1000;
  // Wall clock, injectable for tests.
  std::function<int64_t()> now_ms;
  // The file system RocksDB writes through (tests inject faults with a
  // wrapper); null: the default one.
  std::shared_ptr<rocksdb::FileSystem> file_system;
};

// One tenant's series (StorageStats::tenants).
struct TenantSeriesStats {
  std::string tenant;
  uint64_t series = 0;  // every series the tenant holds in memory
  // Series whose newest sample is at most StorageStats::kActiveWindowMs
  // older than now (as Mimir's active series).
  uint64_t active_series = 0;
};

// One RocksDB column family (StorageStats::families): "default" (series
// definitions, metadata), "chunks", "wal" (docs/format/storage.md).
struct ColumnFamilyStats {
  std::string name;
  uint64_t sst_bytes = 0;                 // live SST files
  uint64_t memtable_bytes = 0;            // all memtables, flushed or not
  uint64_t pending_compaction_bytes = 0;  // RocksDB's estimate of bytes to rewrite
  uint64_t write_slowdowns = 0;           // writes delayed since open
  uint64_t write_stops = 0;               // writes stopped since open
};

struct StorageStats {
  static constexpr int64_t kActiveWindowMs = 10 * 60 * 1000;

  uint64_t series = 0;            // all tenants, in memory
  uint64_t samples_appended = 0;  // since start
  // Bytes the data dir occupies on disk, as `du` counts them: allocated
  // blocks (RocksDB preallocates its log and manifest files) of every file
  // below the dir, snapshots included, hard links once.
  uint64_t disk_bytes = 0;
  uint64_t cached_series = 0;
  uint64_t cache_bytes = 0;  // estimated memory of the series cache
  int64_t min_time_ms = 0;
  int64_t max_time_ms = 0;
  // Encounters with corrupt stored data since start: reads that skipped a
  // series, retention passes and compactions that met it.
  uint64_t corruptions = 0;
  // Series that left the head (idle) and came back to it, since start.
  uint64_t series_evicted = 0;
  uint64_t series_readmitted = 0;
  std::vector<TenantSeriesStats> tenants;  // sorted by name
  std::vector<ColumnFamilyStats> families;
  // WAL records written since start, and those not yet covered by a
  // checkpoint (the next checkpoint persists their samples and deletes them).
  uint64_t wal_written_bytes = 0;
  uint64_t wal_pending_bytes = 0;
  // The chunk block cache (StorageOptions::block_cache_bytes).
  uint64_t block_cache_capacity_bytes = 0;
  uint64_t block_cache_usage_bytes = 0;
  // Block cache lookups since open, every family's cache.
  uint64_t block_cache_hits = 0;
  uint64_t block_cache_misses = 0;
  // Time writes spent delayed or stopped by RocksDB since open.
  uint64_t write_stall_micros = 0;
  // With sync_wal: synced writes of WAL records since open (each carries the
  // records of one or more concurrent appends, storage/group_commit.h), the
  // appends they carried, and their time (write and log sync).
  uint64_t wal_syncs = 0;
  uint64_t wal_synced_appends = 0;
  uint64_t wal_sync_micros = 0;
};

// Cardinality statistics for /api/v1/status/tsdb.
struct CardinalityStats {
  uint64_t num_series = 0;
  // Oldest and newest sample time of the tenant's series (0 and 0 without
  // samples): headStats' minTime/maxTime, and a global meridian's watermark.
  int64_t min_time_ms = 0;
  int64_t max_time_ms = 0;
  struct Entry {
    std::string name;
    uint64_t value;
  };
  std::vector<Entry> series_count_by_metric_name;
  std::vector<Entry> label_value_count_by_label_name;
  std::vector<Entry> memory_in_bytes_by_label_name;
  std::vector<Entry> series_count_by_label_value_pair;  // name "a=b"
};

// Write health (cheap to read: /-/ready asks for it on every probe).
struct StorageHealth {
  // False after a write to RocksDB (WAL, checkpoint, retention) failed, until
  // RocksDB's Resume() succeeds; meanwhile every Append is refused with
  // kUnavailable and nothing is acknowledged.
  bool writable = true;
  uint64_t wal_write_failures = 0;   // failed durable writes (appends, tenants, metadata)
  uint64_t checkpoint_failures = 0;  // failed checkpoints (retried with backoff)
  uint64_t checkpoints = 0;          // successful checkpoints
  uint64_t resumes = 0;              // successful recoveries from the degraded state
  // Wall-clock time (ms since the epoch) the last successful checkpoint
  // ended; 0 before the first.
  int64_t last_checkpoint_ms = 0;
  // Run time of the last successful checkpoint, and of all checkpoints
  // (successful or failed) since start.
  double last_checkpoint_seconds = 0;
  double checkpoint_seconds_total = 0;
};

class Storage : public Appender, public TenantReader {
 public:
  static absl::StatusOr<std::unique_ptr<Storage>> Open(const StorageOptions& options);
  virtual ~Storage() = default;

  // Appends durably. Per-sample rejections are reported in *result, never as
  // an error status; a non-OK status is a server fault (kInternal, kDataLoss)
  // or back-pressure (kUnavailable, also while the WAL cannot be written),
  // or kResourceExhausted when the tenant is new and
  // StorageOptions::max_tenants is reached; then nothing of the batch is
  // stored or visible. A sample becomes visible to readers, and an identical
  // later sample counts as a duplicate, only after the write that made it
  // durable succeeded. Idempotent: appending an identical sample again is a
  // no-op.
  absl::Status Append(std::string_view tenant, const AppendBatch& batch,
                      AppendResult* result) override = 0;

  // Keeps the latest metadata per metric family.
  absl::Status PutMetadata(std::string_view tenant,
                           std::span<const MetricMetadata> metadata) override = 0;
  // Metadata for `metric` (all when empty), at most `limit` families (0 = all).
  virtual absl::StatusOr<std::vector<MetricMetadata>> Metadata(std::string_view tenant,
                                                               std::string_view metric,
                                                               size_t limit) const = 0;

  // A read view of one tenant's data. The Storage must outlive it.
  std::unique_ptr<Queryable> ForTenant(std::string_view tenant) override = 0;

  // Deletes every sample older than now - retention and frees the disk space.
  virtual absl::Status EnforceRetention() = 0;
  // Persists in-memory head chunks and flushes memtables (tests, shutdown).
  virtual absl::Status Flush() = 0;
  // Compacts everything persisted into its final form now, dropping
  // overwritten and deleted versions (like VictoriaMetrics'
  // /internal/force_merge; benchmarks measure the settled size after it).
  virtual absl::Status ForceMerge() {
    return absl::UnimplementedError("this storage cannot merge on demand");
  }

  // Writes a consistent copy of the store (a RocksDB checkpoint: hard links
  // of its files where possible) to <dir>/snapshots/<name> and returns the
  // name, e.g. "20171210T211224Z-2be650b6d019eb54". Every sample
  // acknowledged before the call is in it. With persist_head the in-memory
  // head is persisted first, so opening the snapshot replays little WAL;
  // without, the samples are in the snapshot's WAL records. A snapshot is
  // started from with RestoreSnapshot() (storage/format.h).
  virtual absl::StatusOr<std::string> Snapshot(bool persist_head) {
    return absl::UnimplementedError("this storage cannot make snapshots");
  }

  virtual StorageStats Stats() const = 0;
  virtual StorageHealth Health() const { return {}; }
  // The compactor's access to persisted data (storage/compaction.h); owned
  // by the storage. Null when the implementation has none.
  virtual CompactionAccess* Compaction() { return nullptr; }
  virtual CardinalityStats Cardinality(std::string_view tenant, size_t limit) const = 0;

  // The tenant's data generation: it changes after every change to the
  // tenant's stored data at times older than now -
  // StorageOptions::late_write_ms (a late or backfilled append, the
  // compactor's downsampling and deletes, retention), once that change is
  // visible to readers; appends of recent samples leave it. A reader that
  // reads it before evaluating and finds it unchanged later knows that its
  // answer for those times still holds. nullopt: this storage does not
  // track it (nothing may be kept on its account).
  virtual std::optional<uint64_t> DataGeneration(std::string_view tenant) const {
    (void)tenant;
    return std::nullopt;
  }
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_STORAGE_H_

#include "storage/rocks_storage.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>

#include "model/sync.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/table.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/coding.h"
#include "storage/format.h"
#include "storage/group_commit.h"
#include "storage/keys.h"
#include "storage/querier.h"
#include "storage/rocks_status.h"
#include "storage/scratch_pool.h"
#include "storage/wal_record.h"

namespace meridian {
namespace {

// A checkpoint starts when CheckpointWalBytes() of WAL records accumulated,
// or after kCheckpointInterval of wall time.
constexpr absl::Duration kCheckpointInterval = absl::Minutes(10);
// The smallest memtable sizes accepted (smaller options are raised).
constexpr size_t kMinMemtableBytes = 1 << 20;
// The default family's memtable (series definitions, ranges, metadata).
constexpr size_t kMetaMemtableBytes = 16 << 20;

rocksdb::ColumnFamilyOptions ChunkFamilyOptions(std::shared_ptr<rocksdb::Cache> cache,
                                                size_t memtable_bytes) {
  rocksdb::ColumnFamilyOptions o;
  o.compression = rocksdb::kZSTD;
  o.bottommost_compression = rocksdb::kZSTD;
  o.bottommost_compression_opts.level = 6;
  o.bottommost_compression_opts.enabled = true;
  o.write_buffer_size = std::max(memtable_bytes, kMinMemtableBytes);
  rocksdb::BlockBasedTableOptions t;
  t.block_size = 32 << 10;
  t.block_cache = std::move(cache);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::ColumnFamilyOptions IndexFamilyOptions(std::shared_ptr<rocksdb::Cache> cache) {
  rocksdb::ColumnFamilyOptions o;
  o.compression = rocksdb::kZSTD;
  o.write_buffer_size = 16 << 20;
  // Label-hash lookups of series never seen (each new series) answer
  // "none" from per-file prefix Bloom filters, not by seeking every file.
  o.prefix_extractor = diskindex::NewLabelHashPrefixExtractor();
  o.memtable_prefix_bloom_size_ratio = 0.02;
  // Postings lists are written as merge operands (format 4).
  o.merge_operator = diskindex::NewPostingsMergeOperator();
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = std::move(cache);
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = false;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

void AtomicMax(std::atomic<int64_t>* a, int64_t v) {
  int64_t cur = a->load(std::memory_order_relaxed);
  while (v > cur && !a->compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// A failed checkpoint is retried after this delay, doubling up to the max.
constexpr std::chrono::milliseconds kCheckpointRetryMin{1000};
constexpr std::chrono::milliseconds kCheckpointRetryMax{60'000};
// While degraded, Resume() is attempted at most this often by appends, and
// every second by the background thread.
constexpr std::chrono::milliseconds kAppendResumeInterval{100};
constexpr std::chrono::milliseconds kBackgroundResumeInterval{1000};
// An append keeps its scratch space up to these sizes (16 and 24 bytes per
// entry).
constexpr size_t kMaxKeptScratchSamples = 1 << 16;
constexpr size_t kMaxKeptScratchSeries = 1 << 14;

// Append's scratch space (pooled: storage/scratch_pool.h).
struct AppendScratch {
  std::string record;
  std::vector<Sample> accepted;
  std::vector<PendingSamples> pending;
  std::vector<MemSeries*> staged;
  std::vector<MemSeries*> new_definitions;
  std::vector<MemSeries*> resolved;
  std::vector<std::pair<uint64_t, int64_t>> late;
};
// Series ids are reserved durably this many at a time.
constexpr uint64_t kSeriesIdBlock = 1 << 16;

using SteadyClock = std::chrono::steady_clock;

// RocksDB's log goes to stderr with meridian's other messages. (RocksDB's
// own file logger also asserts in Debian's build once a write to its LOG
// file has failed, e.g. on a full disk.)
class StderrLogger : public rocksdb::Logger {
 public:
  explicit StderrLogger(rocksdb::InfoLogLevel level) : rocksdb::Logger(level) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), format, ap);
    std::fprintf(stderr, "meridian: rocksdb: %s\n", buf);
  }
};

// Marks I/O errors of written files retryable. RocksDB treats a WAL write
// failure that is not retryable as fatal (Resume() refuses it; only a
// reopen recovers); a retryable one stops writes until Resume(), which
// flushes the memtables to new files and switches to a new WAL, so the
// failed log's torn tail is never replayed.
rocksdb::IOStatus MarkRetryable(rocksdb::IOStatus s) {
  if (s.IsIOError()) s.SetRetryable(true);
  return s;
}

// The number of a RocksDB log file ("<dir>/000012.log"), or 0.
uint64_t WalFileNumber(const std::string& name) {
  if (!name.ends_with(".log")) return 0;
  size_t slash = name.rfind('/');
  size_t begin = slash == std::string::npos ? 0 : slash + 1;
  uint64_t n = 0;
  for (size_t i = begin; i + 4 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return n;
}

class RetryableWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  // `failed_wal` (borrowed) receives `wal_number` when a write to this file
  // fails and it is a WAL file.
  RetryableWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, uint64_t wal_number,
                        std::atomic<uint64_t>* failed_wal)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(file)),
        wal_number_(wal_number),
        failed_wal_(failed_wal) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Append(data, o, dbg));
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Append(data, o, v, dbg));
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->PositionedAppend(data, offset, o, dbg));
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& v,
                                     rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->PositionedAppend(data, offset, o, v, dbg));
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Flush(o, dbg));
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Sync(o, dbg));
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Fsync(o, dbg));
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return Retryable(target()->Close(o, dbg));
  }

 private:
  rocksdb::IOStatus Retryable(rocksdb::IOStatus s) {
    if (!s.ok() && wal_number_ != 0) failed_wal_->store(wal_number_);
    return MarkRetryable(std::move(s));
  }
  const uint64_t wal_number_;
  std::atomic<uint64_t>* const failed_wal_;
};

class RetryableFileSystem : public rocksdb::FileSystemWrapper {
 public:
  RetryableFileSystem(std::shared_ptr<rocksdb::FileSystem> target,
                      std::atomic<uint64_t>* failed_wal)
      : rocksdb::FileSystemWrapper(std::move(target)), failed_wal_(failed_wal) {}
  const char* Name() const override { return "MeridianRetryableFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new RetryableWritableFile(std::move(file), WalFileNumber(f), failed_wal_));
    return MarkRetryable(s);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new RetryableWritableFile(std::move(file), WalFileNumber(f), failed_wal_));
    return MarkRetryable(s);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReuseWritableFile(f, old, o, &file, dbg);
    if (s.ok()) r->reset(new RetryableWritableFile(std::move(file), WalFileNumber(f), failed_wal_));
    return MarkRetryable(s);
  }

 private:
  std::atomic<uint64_t>* const failed_wal_;
};

}  // namespace

// A compaction that meets a corrupt block fails; RocksDB would then refuse
// every later write (paranoid_checks). The compaction's inputs are intact
// and stay as they were, so the store goes on: the error is counted and
// logged instead. Other background errors (flush, WAL) keep RocksDB's
// handling.
class RocksStorage::CorruptionListener : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (reason != rocksdb::BackgroundErrorReason::kCompaction || !error->IsCorruption()) return;
    std::string detail = "compaction: " + error->ToString();
    if (const ChunkStore* store = store_.load()) {
      store->CountCorruption(detail);
    } else {
      std::fprintf(stderr, "meridian: storage: corrupt data: %s\n", detail.c_str());
    }
    *error = rocksdb::Status::OK();
  }
  std::atomic<const ChunkStore*> store_{nullptr};
};

absl::StatusOr<std::unique_ptr<Storage>> Storage::Open(const StorageOptions& options) {
  return RocksStorage::Open(options);
}

RocksStorage::RocksStorage(const StorageOptions& options)
    : options_(options),
      checkpoint_wal_bytes_(std::max<uint64_t>(options.checkpoint_wal_bytes, 1)),
      aggregate_cache_(options.aggregate_cache_bytes) {
  cache_limits_.max_cached_series = options.max_cached_series;
}

absl::StatusOr<std::unique_ptr<Storage>> RocksStorage::Open(const StorageOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("storage dir is empty");
  std::unique_ptr<RocksStorage> st(new RocksStorage(options));
  // Where start-up time goes, logged once (restart time is an operator's
  // figure: docs/format/storage.md "Recovery").
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point from) {
    return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
  };
  Clock::time_point t = Clock::now();
  MERIDIAN_RETURN_IF_ERROR(st->OpenDb());
  const double open_ms = ms_since(t);
  t = Clock::now();
  MERIDIAN_RETURN_IF_ERROR(st->Load());
  const double load_ms = ms_since(t);
  t = Clock::now();
  MERIDIAN_RETURN_IF_ERROR(st->ReplayWal());
  const double replay_ms = ms_since(t);
  uint64_t head_series = 0;
  for (TenantHead* h : st->AllTenants()) head_series += h->num_series();
  std::fprintf(stderr,
               "meridian: storage opened: RocksDB %.0f ms, series %.0f ms (%llu in the head), "
               "WAL replay %.0f ms\n",
               open_ms, load_ms, static_cast<unsigned long long>(head_series), replay_ms);
  st->KeepMemtableNonEmpty();
  RocksStorage* raw = st.get();
  st->checkpointer_ = std::thread([raw] { raw->CheckpointLoop(); });
  return std::unique_ptr<Storage>(std::move(st));
}

RocksStorage::~RocksStorage() {
  {
    MutexLock l(&bg_mu_);
    stop_ = true;
    bg_cv_.SignalAll();
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

absl::Status RocksStorage::OpenDb() {
  MERIDIAN_RETURN_IF_ERROR(PrepareDataDir(options_.dir));
  {
    // A postings or chunks file a crash left before its ingestion: the
    // checkpoint that wrote it did not finish, its next run writes the keys
    // again.
    std::error_code ec;
    std::filesystem::remove(options_.dir + "/" + kPostingsIngestFile, ec);
    std::filesystem::remove(options_.dir + "/" + kChunksIngestFile, ec);
  }
  rocksdb::DBOptions db;
  std::shared_ptr<rocksdb::FileSystem> fs =
      options_.file_system ? options_.file_system : rocksdb::FileSystem::Default();
  env_ = rocksdb::NewCompositeEnv(std::make_shared<RetryableFileSystem>(fs, &failed_wal_number_));
  db.env = env_.get();
  logger_ = std::make_shared<StderrLogger>(rocksdb::WARN_LEVEL);
  db.info_log = logger_;
  // Recovery from a failed write is ours (TryResume), not a background
  // thread's racing with it.
  db.max_bgerror_resume_count = 0;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.max_background_jobs = 2;
  db.info_log_level = rocksdb::WARN_LEVEL;
  db.keep_log_file_num = 2;
  // RocksDB keeps a log file until every family's data in it is flushed.
  // The default family (series definitions) fills slowly and would pin every
  // log since the start, so the data dir would hold each WAL record twice
  // (in the logs and in the wal family's files) until a checkpoint: ~20
  // bytes per sample. Past this total RocksDB flushes the families holding
  // the oldest log instead, and the records are on disk once.
  db.max_total_wal_size = 2 * std::max(options_.wal_memtable_bytes, kMinMemtableBytes);
  if (options_.memtable_budget_bytes > 0) {
    db.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(options_.memtable_budget_bytes);
  }
  // Tickers only (block cache hits, stall time): per-core counters, no timers.
  statistics_ = rocksdb::CreateDBStatistics();
  statistics_->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db.statistics = statistics_;
  rocksdb::ColumnFamilyOptions meta;
  meta.compression = rocksdb::kZSTD;
  // Series definitions, ranges and metadata: small values; RocksDB's 64 MiB
  // default would only cost memory.
  meta.write_buffer_size = kMetaMemtableBytes;
  rocksdb::ColumnFamilyOptions wal;
  // WAL records flushed to SST files wait there for the next checkpoint:
  // zstd at its fastest level halves them (their time deltas, series ids and
  // value bits repeat) for ~2% of the ingest CPU.
  wal.compression = rocksdb::kZSTD;
  wal.compression_opts.level = 1;
  // Bounded memory: records beyond the memtable go to L0 SST files, which
  // the checkpoint's DeleteRange + CompactRange drops. No automatic
  // compactions (they would only rewrite records about to be deleted) and so
  // no L0 write stalls; when the memtable is larger than the checkpoint
  // threshold, records are deleted before they are ever flushed.
  wal.write_buffer_size = std::max(options_.wal_memtable_bytes, kMinMemtableBytes);
  wal.disable_auto_compactions = true;
  corruption_listener_ = std::make_shared<CorruptionListener>();
  db.listeners.push_back(corruption_listener_);
  block_cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, meta},
      {keys::kChunksFamily, ChunkFamilyOptions(block_cache_, options_.chunk_memtable_bytes)},
      {keys::kWalFamily, wal},
      // Aggregate chunks (format version 2): written by the compactor only.
      {keys::kDownsampledFamily, ChunkFamilyOptions(block_cache_, kMinMemtableBytes * 8)},
      // On-disk postings (format version 3; lists since 4), read through the shared block
      // cache: the bounded cache of the series that left the head.
      {keys::kIndexFamily, IndexFamilyOptions(block_cache_)},
  };
  // Until StartCompactions() (the wal family has none at all).
  for (rocksdb::ColumnFamilyDescriptor& cf : cfs) cf.options.disable_auto_compactions = true;
  opened_at_ = SteadyClock::now();
  rocksdb::DB* raw = nullptr;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db, options_.dir, cfs, &handles_, &raw),
                                     "opening " + options_.dir));
  db_.reset(raw);
  meta_ = handles_[0];
  chunks_ = handles_[1];
  wal_ = handles_[2];
  downsampled_ = handles_[3];
  index_ = handles_[4];
  disk_index_ = std::make_unique<DiskIndex>(db_.get(), index_, meta_);
  // An older layout is migrated by the open itself (the missing families
  // were created; the index is built from the series definitions); the
  // marker follows, so a crash before it redoes the migration.
  MERIDIAN_ASSIGN_OR_RETURN(int version, ReadFormatVersion(options_.dir));
  if (version < 3) MERIDIAN_RETURN_IF_ERROR(BuildIndex());
  if (version == 3) {
    // Format 3's postings (one key per pair and series) become lists.
    MERIDIAN_ASSIGN_OR_RETURN(
        uint64_t n, disk_index_->MigrateLegacyPostings([this](rocksdb::WriteBatch* wb, bool sync) {
          absl::Status st = Write(wb, sync, "migrating the index");
          wb->Clear();
          return st;
        }));
    std::fprintf(stderr, "meridian: data dir %s: rewrote %llu postings keys as lists\n",
                 options_.dir.c_str(), static_cast<unsigned long long>(n));
  }
  if (version < kStorageFormatVersion) {
    MERIDIAN_RETURN_IF_ERROR(WriteFormatFile(options_.dir));
    std::fprintf(stderr, "meridian: data dir %s: storage format %d migrated to %d\n",
                 options_.dir.c_str(), version, kStorageFormatVersion);
  }
  chunk_store_ = std::make_unique<ChunkStore>(db_.get(), chunks_);
  compaction_ = NewRocksCompactionAccess(this);
  {
    std::random_device rd;
    late_nonce_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  corruption_listener_->store_.store(chunk_store_.get());
  if (options_.sync_wal) {
    group_commit_ = std::make_unique<GroupCommit>(
        [this](rocksdb::WriteBatch* wb) { return Write(wb, /*sync=*/true, "writing wal record"); },
        [this](uint32_t id) -> rocksdb::ColumnFamilyHandle* {
          for (rocksdb::ColumnFamilyHandle* h : handles_) {
            if (h->GetID() == id) return h;
          }
          return nullptr;
        });
  }
  return absl::OkStatus();
}

TenantHead* RocksStorage::AddTenant(uint32_t id, std::string name) {
  auto head = std::make_unique<TenantHead>(id, name, &cache_limits_);
  TenantHead* raw = head.get();
  tenants_by_id_[id] = raw;
  tenants_[std::move(name)] = std::move(head);
  next_tenant_id_ = std::max(next_tenant_id_, id + 1);
  InstallDiskLookup(raw);
  return raw;
}

void RocksStorage::InstallDiskLookup(TenantHead* head) {
  head->set_disk_lookup(
      [this, head](const LabelView* labels,
                   size_t n) -> absl::StatusOr<std::optional<TenantHead::OnDisk>> {
        MERIDIAN_ASSIGN_OR_RETURN(std::optional<uint64_t> id,
                                  disk_index_->FindId(head->id(), labels, n));
        if (!id) return std::optional<TenantHead::OnDisk>();
        TenantHead::OnDisk d;
        d.id = *id;
        std::string value;
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, keys::RangeKey(*id), &value);
        if (s.ok()) {
          MERIDIAN_RETURN_IF_ERROR(keys::DecodeRangeValue(value, &d.min_t_ms, &d.max_t_ms));
        } else if (!s.IsNotFound()) {
          return FromRocks(s, "reading series range");
        }
        return std::optional<TenantHead::OnDisk>(d);
      });
}

absl::StatusOr<std::shared_ptr<MemSeries>> RocksStorage::ReadInactive(uint64_t id, bool with_labels,
                                                                      bool rangeless) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, keys::RangeKey(id), &value);
  // No persisted span: raw data is gone (or never reached a chunk); its
  // aggregates may remain, when asked for and its definition does.
  if (s.IsNotFound() && !rangeless) return std::shared_ptr<MemSeries>();
  int64_t mint = std::numeric_limits<int64_t>::max(), maxt = std::numeric_limits<int64_t>::min();
  if (!s.IsNotFound()) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(s, "reading series range"));
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeRangeValue(value, &mint, &maxt));
  }
  Labels labels;
  if (with_labels || mint > maxt) {
    s = db_->Get(rocksdb::ReadOptions(), meta_, keys::SeriesKey(id), &value);
    if (s.IsNotFound()) return std::shared_ptr<MemSeries>();
    MERIDIAN_RETURN_IF_ERROR(FromRocks(s, "reading series definition"));
    uint32_t tenant;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(value, &tenant, &labels));
    if (!with_labels) labels = Labels();
  }
  auto series = std::make_shared<MemSeries>(id, labels);
  series->definition_persisted.store(true, std::memory_order_relaxed);
  MutexLock l(&series->mu);
  if (mint <= maxt) series->LoadPersistedRange(mint, maxt);
  return series;
}

absl::StatusOr<std::vector<std::shared_ptr<MemSeries>>> RocksStorage::InactiveSeries(
    const TenantHead* head, const std::vector<Matcher>& matchers, int64_t start, int64_t end,
    const std::vector<uint64_t>& in_head, bool with_labels, int64_t aggregates_from) const {
  std::vector<std::shared_ptr<MemSeries>> out;
  if (head == nullptr || start > end || !head->may_have_inactive.load(std::memory_order_acquire)) {
    return out;
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      Postings ids, disk_index_->Select(head->id(), matchers, IndexDayOf(start), IndexDayOf(end)));
  ids = Subtract(ids, in_head);
  const bool aggregates = aggregates_from != kNoAggregates;
  for (uint64_t id : ids) {
    MERIDIAN_ASSIGN_OR_RETURN(std::shared_ptr<MemSeries> s,
                              ReadInactive(id, with_labels, /*rangeless=*/aggregates));
    if (s == nullptr) continue;
    // As the head's series in NewDownsampledSeriesSet: a series without raw
    // data, or with raw data up to the aggregate part, may have windows.
    const bool no_raw = s->min_t_ms() > s->max_t_ms();
    const bool maybe_aggregates = aggregates && (no_raw || s->max_t_ms() >= aggregates_from);
    if (!maybe_aggregates && !s->Overlaps(start, end)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status RocksStorage::BuildIndex() {
  // The days of each series: its persisted span and its WAL samples.
  absl::flat_hash_map<uint64_t, std::pair<int64_t, int64_t>> spans;
  auto widen = [&spans](uint64_t id, int64_t lo, int64_t hi) {
    auto [it, added] = spans.try_emplace(id, lo, hi);
    if (!added) {
      it->second.first = std::min(it->second.first, lo);
      it->second.second = std::max(it->second.second, hi);
    }
  };
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  std::string prefix(1, keys::kRangePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 9) return absl::DataLossError("corrupt range key");
    int64_t mint, maxt;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeRangeValue(
        std::string_view(it->value().data(), it->value().size()), &mint, &maxt));
    if (mint <= maxt) widen(coding::DecodeFixed64BE(it->key().data() + 1), mint, maxt);
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading series ranges"));
  {
    std::unique_ptr<rocksdb::Iterator> w(db_->NewIterator(rocksdb::ReadOptions(), wal_));
    std::vector<Sample> samples;
    uint64_t id;
    for (w->SeekToFirst(); w->Valid(); w->Next()) {
      WalRecordReader r(std::string_view(w->value().data(), w->value().size()));
      while (r.Next(&id, &samples)) {
        for (const Sample& x : samples) widen(id, x.t_ms, x.t_ms);
      }
    }
    MERIDIAN_RETURN_IF_ERROR(FromRocks(w->status(), "reading wal"));
  }
  rocksdb::WriteBatch wb;
  uint64_t n = 0;
  prefix.assign(1, keys::kSeriesPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 9) return absl::DataLossError("corrupt series key");
    const uint64_t id = coding::DecodeFixed64BE(it->key().data() + 1);
    uint32_t tenant;
    Labels labels;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(
        std::string_view(it->value().data(), it->value().size()), &tenant, &labels));
    std::vector<LabelView> views;
    for (const Label& l : labels) views.push_back({l.name, l.value});
    MERIDIAN_RETURN_IF_ERROR(
        disk_index_->StageDefinition(&wb, tenant, id, views.data(), views.size()));
    if (auto sp = spans.find(id); sp != spans.end()) {
      MERIDIAN_RETURN_IF_ERROR(disk_index_->StageDays(&wb, tenant, id, views.data(), views.size(),
                                                      IndexDayOf(sp->second.first),
                                                      IndexDayOf(sp->second.second)));
    }
    ++n;
    if (wb.GetDataSize() >= (4 << 20)) {
      MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/false, "building the index"));
      wb.Clear();
    }
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading series"));
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.Put(meta_, keys::kMemtableSentinelKey, ""), "staging index end"));
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.Delete(meta_, keys::kMemtableSentinelKey), "staging index end"));
  MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/true, "building the index"));
  std::fprintf(stderr, "meridian: data dir %s: built the on-disk index of %llu series\n",
               options_.dir.c_str(), static_cast<unsigned long long>(n));
  return absl::OkStatus();
}

absl::Status RocksStorage::Load() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  {
    MutexLock l(&tenants_mu_);
    std::string prefix(1, keys::kTenantPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->value().size() != 4) return absl::DataLossError("corrupt tenant key");
      AddTenant(coding::DecodeFixed32BE(it->value().data()), it->key().ToString().substr(1));
    }
  }
  uint64_t max_id = 0;
  std::string prefix(1, keys::kSeriesPrefix);
  auto head_of = [this](uint32_t tenant_id) -> TenantHead* {
    MutexLock l(&tenants_mu_);
    auto t = tenants_by_id_.find(tenant_id);
    return t == tenants_by_id_.end() ? nullptr : t->second;
  };
  // Restores what the head knows of a loaded series' persisted chunks.
  auto load_range = [this](TenantHead* head, MemSeries* s, int64_t mint, int64_t maxt) {
    MutexLock l(&s->mu);
    s->LoadPersistedRange(mint, maxt);
    if (mint <= maxt) {
      s->index_lo_day = IndexDayOf(mint);
      s->index_hi_day = IndexDayOf(maxt);
      AtomicMax(&head->newest_t_ms, maxt);
      AtomicMax(&newest_sample_ms_, maxt);
    }
  };
  const int64_t idle_timeout = options_.head_idle_timeout_ms;
  if (idle_timeout <= 0) {
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 9) return absl::DataLossError("corrupt series key");
      uint64_t id = coding::DecodeFixed64BE(it->key().data() + 1);
      uint32_t tenant_id;
      Labels labels;
      MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(
          std::string_view(it->value().data(), it->value().size()), &tenant_id, &labels));
      TenantHead* head = head_of(tenant_id);
      if (head == nullptr) return absl::DataLossError("series of unknown tenant");
      head->Load(id, std::move(labels));
      max_id = std::max(max_id, id);
    }
  } else {
    // No series is loaded: each one is admitted to the head when an append
    // (or the WAL replay below) names it, under its id, with its persisted
    // span ('k' lookup, as a series that came back after leaving the head);
    // until then reads find it through the index family. So start-up reads
    // neither the spans nor the definitions of the series ever seen.
    MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "loading series"));
    // The largest defined id: the last 's' key.
    it->SeekForPrev(std::string(1, static_cast<char>(keys::kSeriesPrefix + 1)));
    if (it->Valid() && it->key().starts_with(prefix) && it->key().size() == 9) {
      max_id = coding::DecodeFixed64BE(it->key().data() + 1);
    }
    MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "loading series"));
    if (max_id > 0) {
      // Some series may be only on disk: lookups that miss memory ask it.
      for (TenantHead* t : AllTenants()) t->may_have_inactive.store(true);
    }
  }
  uint64_t next_id = max_id + 1;
  std::string reserved;
  rocksdb::Status rs =
      db_->Get(rocksdb::ReadOptions(), meta_, keys::kSeriesIdReservationKey, &reserved);
  if (rs.ok()) {
    if (reserved.size() != 8) return absl::DataLossError("corrupt series id reservation");
    next_id = std::max<uint64_t>(next_id, coding::DecodeFixed64BE(reserved.data()));
  } else if (!rs.IsNotFound()) {
    return FromRocks(rs, "loading series id reservation");
  }
  // Ids of series that never reached the disk may have been handed out up
  // to the stored reservation: continue above it.
  cache_limits_.next_series_id.store(next_id);
  ids_promised_.store(next_id);
  ids_reserved_.store(next_id);
  prefix.assign(1, keys::kDownsampleStatePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 5) return absl::DataLossError("corrupt downsample state key");
    uint32_t tenant_id = coding::DecodeFixed32BE(it->key().data() + 1);
    DownsampleState ds;
    MERIDIAN_RETURN_IF_ERROR(
        keys::DecodeDownsampleState(std::string_view(it->value().data(), it->value().size()), &ds));
    MutexLock l(&tenants_mu_);
    auto t = tenants_by_id_.find(tenant_id);
    if (t == tenants_by_id_.end()) continue;
    t->second->downsample = ds;
    t->second->PublishDownsample(ds);
    t->second->claimed_5m.store(ds.downsampled_5m_through);
    t->second->raw_floor.store(ds.raw_deleted_before);
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "loading downsample state"));
  if (idle_timeout > 0) {
    // The heads' series before the restart still count toward the limit.
    prefix.assign(1, keys::kHeadCountPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 5) return absl::DataLossError("corrupt head count key");
      const uint32_t tenant_id = coding::DecodeFixed32BE(it->key().data() + 1);
      uint64_t count;
      int64_t newest;
      MERIDIAN_RETURN_IF_ERROR(keys::DecodeHeadCountValue(
          std::string_view(it->value().data(), it->value().size()), &count, &newest));
      if (TenantHead* t = head_of(tenant_id); t != nullptr && newest != kNoTime) {
        const int64_t until = newest > std::numeric_limits<int64_t>::max() - idle_timeout
                                  ? std::numeric_limits<int64_t>::max()
                                  : newest + idle_timeout;
        t->CarryOver(count, until);
      }
    }
    return FromRocks(it->status(), "loading head counts");
  }
  prefix.assign(1, keys::kRangePrefix);
  std::vector<TenantHead*> tenants = AllTenants();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 9) return absl::DataLossError("corrupt range key");
    uint64_t id = coding::DecodeFixed64BE(it->key().data() + 1);
    int64_t mint, maxt;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeRangeValue(
        std::string_view(it->value().data(), it->value().size()), &mint, &maxt));
    for (TenantHead* t : tenants) {
      if (auto s = t->Find(id)) {
        load_range(t, s.get(), mint, maxt);
        break;
      }
    }
  }
  return FromRocks(it->status(), "loading series");
}

absl::Status RocksStorage::ReplayWal() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), wal_));
  // The samples were accepted once: ignore the out-of-order window, but not
  // retention (records may predate an EnforceRetention()).
  AppendLimits lenient;
  lenient.allow_backfill = true;
  lenient.min_valid_t_ms = CurrentLimits().min_valid_t_ms;
  std::vector<Sample> samples;
  uint64_t last_seq = 0, bytes = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return absl::DataLossError("corrupt wal key");
    last_seq = coding::DecodeFixed64BE(it->key().data());
    bytes += it->value().size();
    WalRecordReader r(std::string_view(it->value().data(), it->value().size()));
    TenantHead* head = nullptr;
    {
      MutexLock l(&tenants_mu_);
      auto t = tenants_by_id_.find(r.tenant_id());
      if (t != tenants_by_id_.end()) head = t->second;
    }
    uint64_t id;
    AppendLimits tenant_limits = lenient;
    if (head != nullptr) {
      // Raw data the compactor deleted stays deleted.
      tenant_limits.min_valid_t_ms = std::max(lenient.min_valid_t_ms, head->raw_floor.load());
    }
    while (head != nullptr && r.Next(&id, &samples)) {
      std::shared_ptr<MemSeries> s = head->Find(id);
      if (!s) {
        // Not loaded (idle, or its samples are only in the WAL): re-admitted
        // when it is still defined; else removed by retention after the
        // record was written.
        MERIDIAN_ASSIGN_OR_RETURN(bool readmitted, ReadmitForReplay(head, id));
        if (!readmitted) continue;
        s = head->Find(id);
        if (!s) continue;
      }
      MutexLock l(&s->mu);
      for (const Sample& x : samples) {
        MERIDIAN_RETURN_IF_ERROR(s->Append(x, tenant_limits, chunk_store_.get()).status());
        AtomicMax(&head->newest_t_ms, x.t_ms);
        AtomicMax(&newest_sample_ms_, x.t_ms);
      }
    }
    if (!r.status().ok()) {
      return absl::DataLossError("wal record " + std::to_string(last_seq) + ": " +
                                 std::string(r.status().message()));
    }
  }
  next_wal_seq_.store(last_seq + 1);
  wal_bytes_.store(bytes);
  newest_at_checkpoint_.store(newest_sample_ms_.load());
  return FromRocks(it->status(), "replaying wal");
}

absl::StatusOr<bool> RocksStorage::ReadmitForReplay(TenantHead* head, uint64_t id) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, keys::SeriesKey(id), &value);
  if (s.IsNotFound()) return false;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(s, "reading series definition"));
  uint32_t tenant;
  Labels labels;
  MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(value, &tenant, &labels));
  if (tenant != head->id()) return absl::DataLossError("wal record names another tenant's series");
  TenantHead::OnDisk d;
  d.id = id;
  s = db_->Get(rocksdb::ReadOptions(), meta_, keys::RangeKey(id), &value);
  if (s.ok()) {
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeRangeValue(value, &d.min_t_ms, &d.max_t_ms));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading series range");
  }
  head->Readmit(std::move(labels), d);
  return true;
}

std::vector<TenantHead*> RocksStorage::AllTenants() const {
  MutexLock l(&tenants_mu_);
  std::vector<TenantHead*> out;
  for (const auto& [id, t] : tenants_by_id_) out.push_back(t);
  return out;
}

TenantHead* RocksStorage::FindTenant(std::string_view tenant) const {
  MutexLock l(&tenants_mu_);
  auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
  return it == tenants_.end() ? nullptr : it->second.get();
}

absl::StatusOr<TenantHead*> RocksStorage::GetOrCreateTenant(std::string_view tenant) {
  if (TenantHead* t = FindTenant(tenant)) return t;
  MutexLock l(&tenants_mu_);
  auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
  if (it != tenants_.end()) return it->second.get();
  if (options_.max_tenants > 0 && tenants_.size() >= options_.max_tenants) {
    return absl::ResourceExhaustedError("tenant limit of " + std::to_string(options_.max_tenants) +
                                        " reached");
  }
  uint32_t id = next_tenant_id_;
  std::string value;
  coding::PutFixed32BE(&value, id);
  rocksdb::WriteBatch wb;
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.Put(meta_, keys::TenantKey(tenant), value), "staging tenant"));
  MERIDIAN_RETURN_IF_ERROR(Write(&wb, options_.sync_wal, "creating tenant"));
  return AddTenant(id, std::string(tenant));
}

int64_t RocksStorage::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AppendLimits RocksStorage::CurrentLimits() const {
  AppendLimits l;
  l.out_of_order_window_ms = options_.out_of_order_window_ms;
  l.allow_backfill = options_.allow_backfill;
  if (options_.retention_ms > 0) l.min_valid_t_ms = NowMs() - options_.retention_ms;
  return l;
}

absl::Status RocksStorage::Append(std::string_view tenant, const AppendBatch& batch,
                                  AppendResult* result) {
  thread_local std::vector<BelowFloor> below;
  below.clear();
  // A late write (a sample at or before now - late_write_ms) bumps the
  // tenant's data generation once its samples are visible, on every path
  // out (Storage::DataGeneration).
  DataGenerations::BumpOnExit bump(&generations_, tenant);
  const int64_t late_at = NowMs() - options_.late_write_ms;
  const auto late = [late_at](const Sample& x) { return x.t_ms <= late_at; };
  if (std::any_of(batch.series.begin(), batch.series.end(), [&](const AppendSeries& in) {
        return std::any_of(in.samples.begin(), in.samples.end(), late);
      })) {
    bump.Changed();
  }
  TenantHead* head = nullptr;
  MERIDIAN_RETURN_IF_ERROR(AppendToHead(tenant, batch, result, &head, &below));
  if (below.empty()) return absl::OkStatus();
  absl::Status st = StageBelowRawFloor(head, batch, below, result);
  if (below.capacity() > kMaxKeptScratchSamples) std::vector<BelowFloor>().swap(below);
  return st;
}

absl::Status RocksStorage::AppendToHead(std::string_view tenant, const AppendBatch& batch,
                                        AppendResult* result, TenantHead** head_out,
                                        std::vector<BelowFloor>* below) {
  *result = AppendResult{};
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  MERIDIAN_ASSIGN_OR_RETURN(TenantHead * head, GetOrCreateTenant(tenant));
  *head_out = head;
  AppendLimits limits = CurrentLimits();
  // Reused so that steady-state appends do not allocate; one per concurrent
  // append, not per HTTP thread (scratch_pool.h).
  static ScratchPool<AppendScratch> scratch_pool;
  auto scratch = scratch_pool.Acquire();
  AppendScratch& sc = *scratch;
  std::string& record = sc.record;
  std::vector<Sample>& accepted = sc.accepted;  // every accepted sample, grouped by series
  std::vector<PendingSamples>& pending = sc.pending;
  std::vector<MemSeries*>& staged = sc.staged;  // staged[k] holds pending[k]
  std::vector<MemSeries*>& new_definitions = sc.new_definitions;
  std::vector<MemSeries*>& resolved = sc.resolved;
  int64_t batch_newest = std::numeric_limits<int64_t>::min();
  size_t total_samples = 0;
  for (const AppendSeries& in : batch.series) total_samples += in.samples.size();
  // Pending entries point into `accepted` and `pending`: no reallocation
  // while they are registered.
  accepted.clear();
  accepted.reserve(total_samples);
  pending.clear();
  pending.reserve(batch.series.size());
  staged.clear();
  new_definitions.clear();
  rocksdb::WriteBatch wb;
  ReaderMutexLock gate(&gate_);
  // Downsampling (storage/compaction.h): raised only under the exclusive
  // gate, so fixed for this append. Samples below the raw floor are set
  // aside, to be staged for the aggregates (StageBelowRawFloor).
  const int64_t stage_from = limits.min_valid_t_ms;
  const int64_t stage_below = limits.allow_backfill ? head->raw_floor.load() : kNoTime;
  limits.min_valid_t_ms = std::max(limits.min_valid_t_ms, head->raw_floor.load());
  const int64_t claimed_5m = head->claimed_5m.load();
  std::vector<std::pair<uint64_t, int64_t>>& late = sc.late;  // (series, 5m block)
  late.clear();
  MERIDIAN_RETURN_IF_ERROR(ReserveSeriesIds(batch.series.size()));
  resolved.resize(batch.series.size());
  absl::Status lookup;
  head->ResolveBatch(batch.series, resolved.data(), &result->series_created,
                     batch.max_series_per_tenant, nullptr, &lookup);
  ids_promised_.fetch_sub(batch.series.size() - result->series_created, std::memory_order_relaxed);
  if (!lookup.ok()) {
    // A series could not be looked up on disk: creating it anew could give
    // one label set two ids. Nothing is stored; the client retries.
    return absl::UnavailableError("storage could not read its series index; retry later");
  }
  // Scratch space is kept for the next append on this thread, up to a bound
  // (a rare huge request should not pin its size per HTTP thread). Declared
  // before `withdraw`, so it runs after it.
  struct TrimScratch {
    AppendScratch& sc;
    ~TrimScratch() {
      if (sc.accepted.capacity() > kMaxKeptScratchSamples) std::vector<Sample>().swap(sc.accepted);
      if (sc.pending.capacity() > kMaxKeptScratchSeries) {
        std::vector<PendingSamples>().swap(sc.pending);
        std::vector<MemSeries*>().swap(sc.staged);
      }
    }
  } trim{sc};
  // Until the write succeeded, every registered pending entry is withdrawn
  // on the way out: nothing of a failed append stays in memory.
  bool committed = false;
  struct Withdraw {
    bool& committed;
    AppendScratch& sc;
    ~Withdraw() {
      if (committed) return;
      for (size_t k = 0; k < sc.staged.size(); ++k) {
        MutexLock l(&sc.staged[k]->mu);
        sc.staged[k]->RemovePending(&sc.pending[k]);
      }
    }
  } withdraw{committed, sc};
  WalRecordWriter wal(&record, head->id());
  for (size_t i = 0; i < batch.series.size(); ++i) {
    if (i + 4 < batch.series.size() && resolved[i + 4] != nullptr) resolved[i + 4]->PrefetchHead();
    const AppendSeries& in = batch.series[i];
    if (in.samples.empty()) continue;
    MemSeries* s = resolved[i];
    if (s == nullptr) {  // no labels, or a new series over the tenant's limit
      result->samples_rejected += in.samples.size();
      if (!in.labels.empty()) {
        result->errors.push_back({i, AppendErrorKind::kSeriesLimit, in.samples[0].t_ms});
      }
      continue;
    }
    const size_t begin = accepted.size();
    bool reported = false;
    {
      MutexLock l(&s->mu);
      StagedRun run = s->BeginRun();
      for (const Sample& x : in.samples) {
        if (x.t_ms < stage_below && x.t_ms >= stage_from) {
          below->push_back({i, s->id(), x});
          continue;
        }
        MERIDIAN_ASSIGN_OR_RETURN(AppendOutcome o, s->Classify(x, limits, chunk_store_.get(), run));
        switch (o) {
          case AppendOutcome::kAppended:
            run.sorted = run.sorted && (accepted.size() == begin || x.t_ms > accepted.back().t_ms);
            run.newest = std::max(run.newest, x.t_ms);
            accepted.push_back(x);
            run.accepted =
                std::span<const Sample>(accepted.data() + begin, accepted.size() - begin);
            break;
          case AppendOutcome::kDuplicate:
            ++result->samples_duplicate;
            break;
          case AppendOutcome::kTooOld:
          case AppendOutcome::kConflict:
            ++result->samples_rejected;
            if (!reported) {
              result->errors.push_back({i,
                                        o == AppendOutcome::kTooOld
                                            ? AppendErrorKind::kTooOld
                                            : AppendErrorKind::kDuplicateConflict,
                                        x.t_ms});
              reported = true;
            }
            break;
        }
      }
      if (run.accepted.empty()) continue;
      if (!run.sorted) {
        std::sort(accepted.begin() + static_cast<ptrdiff_t>(begin), accepted.end(),
                  [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
      }
      pending.push_back({run.accepted, nullptr});
      staged.push_back(s);
      s->AddPending(&pending.back());
    }
    batch_newest = std::max(batch_newest, pending.back().samples.back().t_ms);
    // A series is defined on disk with its first accepted samples.
    if (!s->definition_persisted.load(std::memory_order_acquire)) {
      MERIDIAN_RETURN_IF_ERROR(
          FromRocks(wb.Put(meta_, keys::SeriesKey(s->id()),
                           keys::EncodeSeriesValue(head->id(), in.labels.data(), in.labels.size())),
                    "staging series"));
      new_definitions.push_back(s);
    }
    if (claimed_5m != kNoTime) {
      for (const Sample& x : pending.back().samples) {  // sorted
        if (x.t_ms >= claimed_5m) break;
        const int64_t block = AlignDown(x.t_ms, kBlock5mMs);
        if (late.empty() || late.back() != std::make_pair(s->id(), block)) {
          late.emplace_back(s->id(), block);
        }
      }
    }
    wal.AddSeries(s->id(), pending.back().samples);
    result->samples_appended += pending.back().samples.size();
  }
  if (wal.num_series() > 0) {
    uint64_t seq = next_wal_seq_.fetch_add(1, std::memory_order_relaxed);
    rocksdb::Slice value(wal.record().data(), wal.record().size());
    MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Put(wal_, keys::WalKey(seq), value), "staging wal"));
  }
  if (!late.empty()) {
    // Late samples into downsampled blocks: marked durably with them.
    std::string token;
    coding::PutFixed64BE(&token, late_nonce_);
    coding::PutFixed64BE(&token, late_counter_.fetch_add(1, std::memory_order_relaxed));
    for (const auto& [id, block] : late) {
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(meta_, keys::LateMarkKey(head->id(), id, block), token), "staging late mark"));
    }
  }
  if (wb.Count() == 0) return absl::OkStatus();
  // Synced: in one write with those of concurrent appends (group_commit.h).
  MERIDIAN_RETURN_IF_ERROR(group_commit_ ? group_commit_->Commit(&wb)
                                         : Write(&wb, options_.sync_wal, "writing wal record"));
  // Durable: make the samples visible.
  committed = true;
  for (MemSeries* s : new_definitions)
    s->definition_persisted.store(true, std::memory_order_release);
  for (size_t k = 0; k < staged.size(); ++k) {
    if (k + 4 < staged.size()) staged[k + 4]->PrefetchHead();
    MutexLock l(&staged[k]->mu);
    staged[k]->Commit(&pending[k]);
  }
  if (batch_newest != std::numeric_limits<int64_t>::min()) {
    AtomicMax(&head->newest_t_ms, batch_newest);
    AtomicMax(&newest_sample_ms_, batch_newest);
  }
  samples_appended_.fetch_add(result->samples_appended, std::memory_order_relaxed);
  const size_t record_bytes = wal.record().size();
  wal_written_bytes_.fetch_add(record_bytes, std::memory_order_relaxed);
  if (wal_bytes_.fetch_add(record_bytes, std::memory_order_relaxed) + record_bytes >=
      checkpoint_wal_bytes_) {
    MutexLock l(&bg_mu_);
    bg_cv_.Signal();  // wakes CheckpointLoop
  }
  return absl::OkStatus();
}

absl::Status RocksStorage::ReserveSeriesIds(uint64_t n) {
  const uint64_t promised = ids_promised_.fetch_add(n, std::memory_order_relaxed) + n;
  if (promised <= ids_reserved_.load(std::memory_order_acquire)) return absl::OkStatus();
  MutexLock l(&reserve_mu_);
  if (promised <= ids_reserved_.load(std::memory_order_acquire)) return absl::OkStatus();
  const uint64_t reserve = promised + kSeriesIdBlock;
  std::string value;
  coding::PutFixed64BE(&value, reserve);
  rocksdb::WriteBatch wb;
  absl::Status st = FromRocks(wb.Put(meta_, keys::kSeriesIdReservationKey, value), "staging ids");
  if (st.ok()) st = Write(&wb, /*sync=*/true, "reserving series ids");
  if (!st.ok()) {
    ids_promised_.fetch_sub(n, std::memory_order_relaxed);
    return st;
  }
  ids_reserved_.store(reserve, std::memory_order_release);
  return absl::OkStatus();
}

namespace {

// RocksDB's DB::Write, called through two frames of our own so that a
// ThreadSanitizer report on memory RocksDB touches inside it can be named
// (scripts/tsan.supp): the write-group leader copies the other writers'
// batches into its own, handed over through atomics in librocksdb, which is
// not built with TSan, so TSan does not see that synchronization. (TSan's
// stacks show the call site inside RocksDbWrite; frames of RocksDB itself
// are not recorded.)
[[gnu::noinline]] rocksdb::Status RocksDbWriteCall(rocksdb::DB* db, const rocksdb::WriteOptions& wo,
                                                   rocksdb::WriteBatch* wb) {
  return db->Write(wo, wb);
}
[[gnu::noinline]] rocksdb::Status RocksDbWrite(rocksdb::DB* db, const rocksdb::WriteOptions& wo,
                                               rocksdb::WriteBatch* wb) {
  return RocksDbWriteCall(db, wo, wb);
}

}  // namespace

absl::Status RocksStorage::Write(rocksdb::WriteBatch* wb, bool sync, std::string_view what) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = RocksDbWrite(db_.get(), wo, wb);
  if (s.ok()) return absl::OkStatus();
  NoteWriteFailure(what, s);
  return absl::UnavailableError(
      "storage is not accepting writes: a write to disk failed (details in the server log); "
      "retry later");
}

void RocksStorage::NoteWriteFailure(std::string_view what, const rocksdb::Status& s) {
  write_failures_.fetch_add(1, std::memory_order_relaxed);
  MutexLock l(&resume_mu_);
  if (!degraded_.exchange(true)) {
    degraded_since_ = SteadyClock::now();
    std::fprintf(stderr,
                 "meridian: storage: %.*s failed: %s; appends are refused until the database "
                 "resumes (retried every second)\n",
                 static_cast<int>(what.size()), what.data(), s.ToString().c_str());
  }
}

absl::Status RocksStorage::CheckWritable() {
  if (!degraded_.load(std::memory_order_acquire)) return absl::OkStatus();
  if (TryResume(kAppendResumeInterval)) return absl::OkStatus();
  return absl::UnavailableError(
      "storage is not accepting writes: a write to disk failed (details in the server log); "
      "retry later");
}

void RocksStorage::KeepMemtableNonEmpty() {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;  // never touches the WAL; the key never exists
  (void)db_->Delete(wo, meta_, keys::kMemtableSentinelKey);
}

bool RocksStorage::TryResume(std::chrono::milliseconds min_interval, bool force) {
  if (!resume_mu_.TryLock()) return !degraded_.load(std::memory_order_acquire);
  if (restart_required_.load()) {
    resume_mu_.Unlock();
    return false;
  }
  if (!force && !degraded_.load(std::memory_order_acquire)) {
    resume_mu_.Unlock();
    return true;
  }
  const auto now = SteadyClock::now();
  if (now - last_resume_attempt_ < min_interval) {
    resume_mu_.Unlock();
    return false;
  }
  last_resume_attempt_ = now;
  const uint64_t failures = write_failures_.load();
  resume_mu_.Unlock();  // Resume() flushes memtables; NoteWriteFailure must not wait for it
  rocksdb::Status s = db_->Resume();
  if (s.ok()) {
    // Resume() switches to a new WAL only when it flushes a non-empty
    // memtable (KeepMemtableNonEmpty sees to that); a WAL writer that saw an
    // error must never be written again (Debian's RocksDB asserts).
    std::unique_ptr<rocksdb::LogFile> current;
    rocksdb::Status ws = db_->GetCurrentWalFile(&current);
    if (ws.ok() && current && current->LogNumber() == failed_wal_number_.load()) {
      s = rocksdb::Status::Aborted("resume kept the failed write-ahead log; restart required");
      restart_required_.store(true);
    }
  }
  if (s.ok()) KeepMemtableNonEmpty();
  MutexLock l(&resume_mu_);
  const auto done = SteadyClock::now();
  if (!s.ok() && s.severity() >= rocksdb::Status::Severity::kFatalError) {
    restart_required_.store(true);
  }
  if (s.ok() && write_failures_.load() == failures) {
    if (!degraded_.exchange(false, std::memory_order_acq_rel)) return true;  // forced, was fine
    resumes_.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "meridian: storage: resumed: appends accepted again after %.1f s degraded "
                 "(%llu failed writes so far)\n",
                 std::chrono::duration<double>(done - degraded_since_).count(),
                 static_cast<unsigned long long>(failures));
    return true;
  }
  if (!s.ok() &&
      (restart_required_.load() || done - last_resume_log_ >= std::chrono::seconds(10))) {
    last_resume_log_ = done;
    std::fprintf(stderr, "meridian: storage: resume failed, still refusing appends%s: %s\n",
                 restart_required_.load() ? " (not recoverable in place: restart meridian)" : "",
                 s.ToString().c_str());
  }
  return false;
}

StorageHealth RocksStorage::Health() const {
  StorageHealth h;
  h.writable = !degraded_.load(std::memory_order_acquire);
  h.wal_write_failures = write_failures_.load(std::memory_order_relaxed);
  h.checkpoint_failures = checkpoint_failures_.load(std::memory_order_relaxed);
  h.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  h.resumes = resumes_.load(std::memory_order_relaxed);
  h.last_checkpoint_ms = last_checkpoint_ms_.load(std::memory_order_relaxed);
  h.last_checkpoint_seconds =
      static_cast<double>(last_checkpoint_micros_.load(std::memory_order_relaxed)) / 1e6;
  h.checkpoint_seconds_total =
      static_cast<double>(checkpoint_micros_total_.load(std::memory_order_relaxed)) / 1e6;
  return h;
}

void RocksStorage::StartCompactions() {
  if (!compactions_deferred_.exchange(false)) return;
  for (rocksdb::ColumnFamilyHandle* h : {meta_, chunks_, downsampled_, index_}) {
    rocksdb::Status s = db_->SetOptions(h, {{"disable_auto_compactions", "false"}});
    if (!s.ok()) {
      std::fprintf(stderr, "meridian: storage: starting compactions of %s: %s\n",
                   h->GetName().c_str(), s.ToString().c_str());
    }
  }
}

void RocksStorage::CheckpointLoop() {
  // Wakes at least every second: to resume a degraded storage and to retry
  // a failed checkpoint after its backoff.
  std::chrono::milliseconds retry{0};  // > 0: the last checkpoint failed
  auto last = SteadyClock::now();      // of the last checkpoint attempt
  for (;;) {
    {
      MutexLock l(&bg_mu_);
      auto due = [this, &retry]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(bg_mu_) {
        return stop_ || (retry.count() == 0 &&
                         wal_bytes_.load(std::memory_order_relaxed) >= checkpoint_wal_bytes_);
      };
      const auto wake = SteadyClock::now() + kBackgroundResumeInterval;
      while (!due()) {
        if (bg_cv_.WaitUntil(&bg_mu_, wake)) break;
      }
      if (stop_) return;
    }
    if (compactions_deferred_.load() && SteadyClock::now() - opened_at_ >= kCompactionsAfterOpen) {
      StartCompactions();
    }
    if (degraded_.load() && !TryResume(kBackgroundResumeInterval)) continue;
    const auto now = SteadyClock::now();
    const uint64_t bytes = wal_bytes_.load(std::memory_order_relaxed);
    bool run;
    if (retry.count() > 0) {
      run = now - last >= retry;
    } else {
      // Idle series leave the head only after a checkpoint: one also runs
      // when the newest sample moved a quarter of the idle timeout.
      const int64_t idle = options_.head_idle_timeout_ms;
      const int64_t newest = newest_sample_ms_.load();
      int64_t at_last = newest_at_checkpoint_.load();
      if (at_last == std::numeric_limits<int64_t>::min()) {  // the first samples: the baseline
        newest_at_checkpoint_.compare_exchange_strong(at_last, newest);
        at_last = std::numeric_limits<int64_t>::min();
      }
      run = bytes >= checkpoint_wal_bytes_ ||
            (bytes > 0 && now - last >= absl::ToChronoMilliseconds(kCheckpointInterval)) ||
            (bytes > 0 && idle > 0 && at_last != std::numeric_limits<int64_t>::min() &&
             newest > at_last && newest - at_last >= idle / 4);
    }
    if (!run) continue;
    last = now;
    absl::Status st = Checkpoint();
    if (st.ok()) {
      retry = std::chrono::milliseconds(0);
      continue;
    }
    // The WAL is kept: nothing is lost, but it grows until a retry succeeds.
    // A failed flush or compaction stops RocksDB's writes: resume it.
    TryResume(kBackgroundResumeInterval, /*force=*/true);
    retry = retry.count() == 0 ? kCheckpointRetryMin : std::min(retry * 2, kCheckpointRetryMax);
    std::fprintf(stderr, "meridian: storage: checkpoint failed (retry in %lld s): %s\n",
                 static_cast<long long>(retry.count() / 1000), st.ToString().c_str());
  }
}

absl::Status RocksStorage::PutMetadata(std::string_view tenant,
                                       std::span<const MetricMetadata> metadata) {
  MERIDIAN_ASSIGN_OR_RETURN(TenantHead * head, GetOrCreateTenant(tenant));
  rocksdb::WriteBatch wb;
  for (const MetricMetadata& m : metadata) {
    if (m.metric_family.empty()) continue;
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        wb.Put(meta_, keys::MetadataKey(head->id(), m.metric_family), keys::EncodeMetadataValue(m)),
        "staging metadata"));
  }
  if (wb.Count() == 0) return absl::OkStatus();
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  return Write(&wb, options_.sync_wal, "writing metadata");
}

absl::StatusOr<std::vector<MetricMetadata>> RocksStorage::Metadata(std::string_view tenant,
                                                                   std::string_view metric,
                                                                   size_t limit) const {
  std::vector<MetricMetadata> out;
  TenantHead* head = FindTenant(tenant);
  if (head == nullptr) return out;
  std::string prefix = keys::MetadataPrefix(head->id());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  std::string start = metric.empty() ? prefix : keys::MetadataKey(head->id(), metric);
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view family(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    if (!metric.empty() && family != metric) break;
    MetricMetadata m;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeMetadataValue(
        family, std::string_view(it->value().data(), it->value().size()), &m));
    out.push_back(std::move(m));
    if (limit > 0 && out.size() >= limit) break;
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading metadata"));
  return out;
}

std::unique_ptr<Queryable> RocksStorage::ForTenant(std::string_view tenant) {
  return NewTenantQueryable(this, std::string(tenant));
}

absl::Status RocksStorage::Flush() {
  MERIDIAN_RETURN_IF_ERROR(Checkpoint());
  rocksdb::FlushOptions fo;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Flush(fo, handles_), "flushing memtables"));
  // A family whose memtable was already being flushed when this flush began
  // (a memtable-budget flush) and which got no write since took no part in
  // it: its log number is that older memtable's, so it keeps the RocksDB log
  // of the last checkpoint interval alive (20-25 MB on the reference
  // workload) until some later write starts a new log. RocksDB moves an empty
  // family's log number on only when it starts a new log: one logged write
  // and a flush of the default family start one, and every older log goes.
  MERIDIAN_RETURN_IF_ERROR(FromRocks(
      db_->Delete(rocksdb::WriteOptions(), meta_, keys::kMemtableSentinelKey), "flushing logs"));
  MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Flush(fo, meta_), "flushing logs"));
  KeepMemtableNonEmpty();
  return absl::OkStatus();
}

}  // namespace meridian

#include "storage/rocks_storage.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "rocksdb/db.h"
#include "rocksdb/listener.h"
#include "rocksdb/cache.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "storage/coding.h"
#include "storage/format.h"
#include "storage/keys.h"
#include "storage/querier.h"
#include "storage/rocks_status.h"
#include "storage/wal_record.h"

namespace meridian {
namespace {

// A checkpoint starts when CheckpointWalBytes() of WAL records accumulated,
// or after kCheckpointInterval of wall time.
constexpr absl::Duration kCheckpointInterval = absl::Minutes(10);
// The smallest memtable sizes accepted (smaller options are raised).
constexpr size_t kMinMemtableBytes = 1 << 20;

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

std::string_view MetricTypeString(MetricType t) {
  switch (t) {
    case MetricType::kUnknown: return "unknown";
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateset: return "stateset";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Storage>> Storage::Open(const StorageOptions& options) {
  return RocksStorage::Open(options);
}

RocksStorage::RocksStorage(const StorageOptions& options)
    : options_(options),
      checkpoint_wal_bytes_(std::max<uint64_t>(options.checkpoint_wal_bytes, 1)) {
  cache_limits_.max_cached_series = options.max_cached_series;
}

absl::StatusOr<std::unique_ptr<Storage>> RocksStorage::Open(const StorageOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("storage dir is empty");
  std::unique_ptr<RocksStorage> st(new RocksStorage(options));
  MERIDIAN_RETURN_IF_ERROR(st->OpenDb());
  MERIDIAN_RETURN_IF_ERROR(st->Load());
  MERIDIAN_RETURN_IF_ERROR(st->ReplayWal());
  RocksStorage* raw = st.get();
  st->checkpointer_ = std::thread([raw] { raw->CheckpointLoop(); });
  return std::unique_ptr<Storage>(std::move(st));
}

RocksStorage::~RocksStorage() {
  {
    absl::MutexLock l(&bg_mu_);
    stop_ = true;
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

absl::Status RocksStorage::OpenDb() {
  MERIDIAN_RETURN_IF_ERROR(PrepareDataDir(options_.dir));
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.max_background_jobs = 2;
  db.info_log_level = rocksdb::WARN_LEVEL;
  db.keep_log_file_num = 2;
  db.max_total_wal_size = 1ull << 30;
  rocksdb::ColumnFamilyOptions meta;
  meta.compression = rocksdb::kZSTD;
  // Series definitions, ranges and metadata: small values; RocksDB's 64 MiB
  // default would only cost memory.
  meta.write_buffer_size = 16 << 20;
  rocksdb::ColumnFamilyOptions wal;
  wal.compression = rocksdb::kNoCompression;
  // Bounded memory: records beyond the memtable go to L0 SST files, which
  // the checkpoint's DeleteRange + CompactRange drops. No automatic
  // compactions (they would only rewrite records about to be deleted) and so
  // no L0 write stalls; when the memtable is larger than the checkpoint
  // threshold, records are deleted before they are ever flushed.
  wal.write_buffer_size = std::max(options_.wal_memtable_bytes, kMinMemtableBytes);
  wal.disable_auto_compactions = true;
  corruption_listener_ = std::make_shared<CorruptionListener>();
  db.listeners.push_back(corruption_listener_);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, meta},
      {keys::kChunksFamily, ChunkFamilyOptions(rocksdb::NewLRUCache(options_.block_cache_bytes),
                                               options_.chunk_memtable_bytes)},
      {keys::kWalFamily, wal},
  };
  rocksdb::DB* raw = nullptr;
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(db, options_.dir, cfs, &handles_, &raw), "opening " + options_.dir));
  db_.reset(raw);
  meta_ = handles_[0];
  chunks_ = handles_[1];
  wal_ = handles_[2];
  chunk_store_ = std::make_unique<ChunkStore>(db_.get(), chunks_);
  corruption_listener_->store_.store(chunk_store_.get());
  return absl::OkStatus();
}

TenantHead* RocksStorage::AddTenant(uint32_t id, std::string name) {
  auto head = std::make_unique<TenantHead>(id, name, &cache_limits_);
  TenantHead* raw = head.get();
  tenants_by_id_[id] = raw;
  tenants_[std::move(name)] = std::move(head);
  next_tenant_id_ = std::max(next_tenant_id_, id + 1);
  return raw;
}

absl::Status RocksStorage::Load() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  {
    absl::MutexLock l(&tenants_mu_);
    std::string prefix(1, keys::kTenantPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->value().size() != 4) return absl::DataLossError("corrupt tenant key");
      AddTenant(coding::DecodeFixed32BE(it->value().data()), it->key().ToString().substr(1));
    }
  }
  uint64_t max_id = 0;
  std::string prefix(1, keys::kSeriesPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 9) return absl::DataLossError("corrupt series key");
    uint64_t id = coding::DecodeFixed64BE(it->key().data() + 1);
    uint32_t tenant_id;
    Labels labels;
    MERIDIAN_RETURN_IF_ERROR(keys::DecodeSeriesValue(
        std::string_view(it->value().data(), it->value().size()), &tenant_id, &labels));
    TenantHead* head;
    {
      absl::MutexLock l(&tenants_mu_);
      auto t = tenants_by_id_.find(tenant_id);
      if (t == tenants_by_id_.end()) return absl::DataLossError("series of unknown tenant");
      head = t->second;
    }
    head->Load(id, std::move(labels));
    max_id = std::max(max_id, id);
  }
  cache_limits_.next_series_id.store(max_id + 1);
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
        std::lock_guard l(s->mu);
        s->LoadPersistedRange(mint, maxt);
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
      absl::MutexLock l(&tenants_mu_);
      auto t = tenants_by_id_.find(r.tenant_id());
      if (t != tenants_by_id_.end()) head = t->second;
    }
    uint64_t id;
    while (head != nullptr && r.Next(&id, &samples)) {
      std::shared_ptr<MemSeries> s = head->Find(id);
      if (!s) continue;  // removed by retention after the record was written
      std::lock_guard l(s->mu);
      for (const Sample& x : samples) {
        MERIDIAN_RETURN_IF_ERROR(s->Append(x, lenient, chunk_store_.get()).status());
      }
    }
    if (!r.status().ok()) {
      return absl::DataLossError("wal record " + std::to_string(last_seq) + ": " +
                                 std::string(r.status().message()));
    }
  }
  next_wal_seq_.store(last_seq + 1);
  wal_bytes_.store(bytes);
  return FromRocks(it->status(), "replaying wal");
}

std::vector<TenantHead*> RocksStorage::AllTenants() const {
  absl::MutexLock l(&tenants_mu_);
  std::vector<TenantHead*> out;
  for (const auto& [id, t] : tenants_by_id_) out.push_back(t);
  return out;
}

TenantHead* RocksStorage::FindTenant(std::string_view tenant) const {
  absl::MutexLock l(&tenants_mu_);
  auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
  return it == tenants_.end() ? nullptr : it->second.get();
}

absl::StatusOr<TenantHead*> RocksStorage::GetOrCreateTenant(std::string_view tenant) {
  if (TenantHead* t = FindTenant(tenant)) return t;
  absl::MutexLock l(&tenants_mu_);
  auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
  if (it != tenants_.end()) return it->second.get();
  if (options_.max_tenants > 0 && tenants_.size() >= options_.max_tenants) {
    return absl::ResourceExhaustedError("tenant limit of " + std::to_string(options_.max_tenants) +
                                        " reached");
  }
  uint32_t id = next_tenant_id_;
  std::string value;
  coding::PutFixed32BE(&value, id);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_wal;
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(db_->Put(wo, meta_, keys::TenantKey(tenant), value), "creating tenant"));
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
  *result = AppendResult{};
  MERIDIAN_ASSIGN_OR_RETURN(TenantHead * head, GetOrCreateTenant(tenant));
  const AppendLimits limits = CurrentLimits();
  // Reused per thread so that steady-state appends do not allocate.
  thread_local std::string record;
  thread_local std::vector<Sample> accepted;
  thread_local std::vector<MemSeries*> new_definitions;
  new_definitions.clear();
  rocksdb::WriteBatch wb;
  thread_local std::vector<MemSeries*> resolved;
  absl::ReaderMutexLock gate(&gate_);
  resolved.resize(batch.series.size());
  head->ResolveBatch(batch.series, resolved.data(), &result->series_created,
                     batch.max_series_per_tenant);
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
    accepted.clear();
    bool reported = false;
    {
      std::lock_guard l(s->mu);
      for (const Sample& x : in.samples) {
        MERIDIAN_ASSIGN_OR_RETURN(AppendOutcome o, s->Append(x, limits, chunk_store_.get()));
        switch (o) {
          case AppendOutcome::kAppended: accepted.push_back(x); break;
          case AppendOutcome::kDuplicate: ++result->samples_duplicate; break;
          case AppendOutcome::kTooOld:
          case AppendOutcome::kConflict:
            ++result->samples_rejected;
            if (!reported) {
              result->errors.push_back({i,
                                        o == AppendOutcome::kTooOld ? AppendErrorKind::kTooOld
                                                                    : AppendErrorKind::kDuplicateConflict,
                                        x.t_ms});
              reported = true;
            }
            break;
        }
      }
    }
    if (accepted.empty()) continue;
    // A series is defined on disk with its first accepted samples.
    if (!s->definition_persisted.load(std::memory_order_acquire)) {
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(meta_, keys::SeriesKey(s->id()),
                 keys::EncodeSeriesValue(head->id(), in.labels.data(), in.labels.size())),
          "staging series"));
      new_definitions.push_back(s);
    }
    wal.AddSeries(s->id(), accepted);
    result->samples_appended += accepted.size();
  }
  if (wal.num_series() > 0) {
    uint64_t seq = next_wal_seq_.fetch_add(1, std::memory_order_relaxed);
    rocksdb::Slice value(wal.record().data(), wal.record().size());
    MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Put(wal_, keys::WalKey(seq), value), "staging wal"));
  }
  if (wb.Count() == 0) return absl::OkStatus();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_wal;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "writing wal record"));
  for (MemSeries* s : new_definitions) s->definition_persisted.store(true, std::memory_order_release);
  samples_appended_.fetch_add(result->samples_appended, std::memory_order_relaxed);
  const size_t record_bytes = wal.record().size();
  if (wal_bytes_.fetch_add(record_bytes, std::memory_order_relaxed) + record_bytes >=
      checkpoint_wal_bytes_) {
    absl::MutexLock l(&bg_mu_);  // wakes CheckpointLoop
  }
  return absl::OkStatus();
}

void RocksStorage::CheckpointLoop() {
  for (;;) {
    {
      absl::MutexLock l(&bg_mu_);
      auto due = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(bg_mu_) {
        return stop_ || wal_bytes_.load(std::memory_order_relaxed) >= checkpoint_wal_bytes_;
      };
      bg_mu_.AwaitWithTimeout(absl::Condition(&due), kCheckpointInterval);
      if (stop_) return;
    }
    if (wal_bytes_.load(std::memory_order_relaxed) == 0) continue;
    (void)Checkpoint();  // a failed checkpoint keeps the WAL; retried next round
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
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_wal;
  return FromRocks(db_->Write(wo, &wb), "writing metadata");
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
  return FromRocks(db_->Flush(fo, handles_), "flushing memtables");
}

StorageStats RocksStorage::Stats() const {
  StorageStats st;
  st.samples_appended = samples_appended_.load(std::memory_order_relaxed);
  st.corruptions = chunk_store_->corruptions();
  st.cached_series = cache_limits_.cached_series.load(std::memory_order_relaxed);
  int64_t mint = std::numeric_limits<int64_t>::max(), maxt = std::numeric_limits<int64_t>::min();
  for (TenantHead* t : AllTenants()) {
    st.cache_bytes += t->CacheBytes();
    t->ReadIndex([&](const PostingsIndex& index, auto lookup) {
      st.series += index.all().size();
      for (uint64_t id : index.all()) {
        const MemSeries* s = lookup(id);
        if (s->min_t_ms() <= s->max_t_ms()) {
          mint = std::min(mint, s->min_t_ms());
          maxt = std::max(maxt, s->max_t_ms());
        }
      }
    });
  }
  if (mint <= maxt) {
    st.min_time_ms = mint;
    st.max_time_ms = maxt;
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(options_.dir, ec)) {
    if (e.is_regular_file(ec)) st.disk_bytes += e.file_size(ec);
  }
  return st;
}

}  // namespace meridian

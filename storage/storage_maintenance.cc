// RocksStorage's background work: checkpoints, retention and the
// cardinality report. See docs/format/storage.md.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "model/sync.h"
#include "rocksdb/db.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/format.h"
#include "storage/keys.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"

namespace meridian {
namespace {

// Chunk bytes per table file a checkpoint writes and ingests: each file is
// one more file of the chunks family, so few and large.
constexpr size_t kCheckpointFileBytes = 32 << 20;
// Postings (ids) per index table file a checkpoint writes: ~8 bytes each
// in memory until written (docs/format/storage.md, "index family").
constexpr size_t kIndexBatchPostings = 256 << 10;
// Retention compacts the deleted chunk ranges once they hold this share of
// the chunk family's bytes.
constexpr double kCompactGarbageFraction = 0.1;

int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::numeric_limits<int64_t>::min();
  return r;
}

// A series whose chunks are in the table file being written: what
// MarkPersisted needs once the file is ingested (the chunk bytes are gone).
struct PendingSeries {
  MemSeries* series;  // kept alive by the checkpoint's list of all series
  MemSeries::PersistMark mark;
};

// Retention works in steps of cut-off: a tenth of the retention, at least a
// minute, at most an hour; data outlives the retention by at most a step.
int64_t RetentionStepMs(int64_t retention_ms) {
  return std::clamp<int64_t>(retention_ms / 10, 60'000, 3'600'000);
}

int64_t RetentionCutoff(int64_t now_ms, int64_t retention_ms) {
  int64_t cutoff = now_ms - retention_ms;
  const int64_t step = RetentionStepMs(retention_ms);
  // Round down (towards -inf) to a multiple of the step.
  int64_t rem = cutoff % step;
  if (rem < 0) rem += step;
  return cutoff - rem;
}

}  // namespace

absl::Status RocksStorage::Checkpoint() {
  const auto start = std::chrono::steady_clock::now();
  StartCompactions();  // a checkpoint adds level-0 files
  newest_at_checkpoint_.store(newest_sample_ms_.load());
  absl::Status st = CheckpointImpl();
  if (st.ok()) EvictIdle();
  const auto micros = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count());
  checkpoint_micros_total_.fetch_add(micros, std::memory_order_relaxed);
  if (st.ok()) {
    last_checkpoint_micros_.store(micros, std::memory_order_relaxed);
    last_checkpoint_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count(),
                              std::memory_order_relaxed);
  }
  (st.ok() ? checkpoints_ : checkpoint_failures_).fetch_add(1, std::memory_order_relaxed);
  return st;
}

absl::Status RocksStorage::CheckpointImpl() {
  MutexLock maintenance(&maintenance_mu_);
  uint64_t covered;  // every WAL record <= covered is applied to memory
  {
    WriterMutexLock gate(&gate_);
    covered = next_wal_seq_.load() - 1;
    wal_bytes_.store(0);
  }
  // The chunks go into table files that are ingested (IngestChunks), not
  // through the chunks memtable: a checkpoint writes every changed head
  // chunk, and in the memtable they would all sit in memory at once with
  // the head they copy (the peak of the process). The `'r'` spans of the
  // file's series go first (after their postings), in one synced batch (a crash between the two
  // leaves spans wider than the chunks, which reads and duplicate checks
  // handle; never chunks outside their series' span).
  // On-disk postings of the days the head's series opened since the last
  // checkpoint (and the label-set hash of series indexed for the first
  // time): postings lists per (tenant, day, label pair), written in batches
  // of at most kIndexBatchPostings ids, each one ingested table file, so the
  // memory they take stays bounded whatever the number of series.
  IndexBatch index_batch;
  struct IndexedDays {
    std::shared_ptr<MemSeries> series;
    int64_t lo, hi;
  };
  std::vector<IndexedDays> indexed;
  auto write_index = [&]() -> absl::Status {
    if (index_batch.empty()) return absl::OkStatus();
    // Durable on return: the postings are on disk before any of these
    // series can leave the head.
    MERIDIAN_RETURN_IF_ERROR(IngestPostings(&index_batch));
    index_batch.Clear();
    for (IndexedDays& d : indexed) {
      MutexLock l(&d.series->mu);
      d.series->index_lo_day = std::min(d.series->index_lo_day, d.lo);
      d.series->index_hi_day = std::max(d.series->index_hi_day, d.hi);
    }
    indexed.clear();
    return absl::OkStatus();
  };
  rocksdb::WriteBatch wb;
  std::vector<PendingSeries> pending;
  std::unique_ptr<rocksdb::SstFileWriter> file;
  size_t file_bytes = 0;
  auto commit = [&]() -> absl::Status {
    if (file == nullptr) return absl::OkStatus();
    // The postings of the file's series first: a series' span names the
    // days its postings cover once it is re-admitted (after a crash, the
    // next checkpoint would not write them again).
    MERIDIAN_RETURN_IF_ERROR(write_index());
    MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/true, "writing chunk ranges"));
    MERIDIAN_RETURN_IF_ERROR(IngestChunks(file.get()));
    file.reset();
    file_bytes = 0;
    // Readers holding an older iterator must refresh it before they trust
    // that memory no longer holding these samples means disk does.
    chunk_store_->BumpGeneration();
    for (PendingSeries& p : pending) {
      MutexLock l(&p.series->mu);
      p.series->MarkPersisted(p.mark);
    }
    wb.Clear();
    pending.clear();
    return absl::OkStatus();
  };
  // A table file's keys are sorted: the series of all tenants in id order
  // (chunk keys start with the id).
  std::vector<std::pair<TenantHead*, std::shared_ptr<MemSeries>>> all;
  for (TenantHead* t : AllTenants()) {
    for (std::shared_ptr<MemSeries>& s : t->AllSeries()) all.emplace_back(t, std::move(s));
  }
  auto by_id = [](const auto& a, const auto& b) { return a.second->id() < b.second->id(); };
  if (!std::is_sorted(all.begin(), all.end(), by_id)) std::sort(all.begin(), all.end(), by_id);
  pending.reserve(std::min<size_t>(all.size(), 1 << 16));
  std::unique_ptr<rocksdb::Iterator> pieces;  // where merged pieces are read
  for (auto& [t, s] : all) {
    // Samples are committed to memory only after the write that stored
    // the series' definition, so this skips only series with no samples;
    // no chunk ever names an id without a stored definition.
    if (!s->definition_persisted.load(std::memory_order_acquire)) continue;
    MemSeries::PersistSnapshot snap;
    int64_t pmin, pmax, lo, hi;
    {
      MutexLock l(&s->mu);
      snap = s->SnapshotForPersist();
      pmin = s->persisted_min_t_ms();
      pmax = s->persisted_max_t_ms();
      lo = s->index_lo_day;
      hi = s->index_hi_day;
    }
    if (s->min_t_ms() <= s->max_t_ms()) {
      const int64_t want_lo = IndexDayOf(s->min_t_ms()), want_hi = IndexDayOf(s->max_t_ms());
      if (lo > hi || want_lo < lo || want_hi > hi) {
        const Labels labels = s->labels();
        if (lo > hi) {
          index_batch.AddDefinition(t->id(), s->id(), labels);
          index_batch.AddDays(t->id(), s->id(), labels, want_lo, want_hi);
        } else {
          index_batch.AddDays(t->id(), s->id(), labels, want_lo, lo - 1);
          index_batch.AddDays(t->id(), s->id(), labels, hi + 1, want_hi);
        }
        indexed.push_back({s, lo > hi ? want_lo : std::min(lo, want_lo),
                           lo > hi ? want_hi : std::max(hi, want_hi)});
        if (index_batch.postings() >= kIndexBatchPostings) {
          MERIDIAN_RETURN_IF_ERROR(write_index());
        }
      }
    }
    if (snap.chunks.empty()) continue;
    if (file == nullptr) {
      MERIDIAN_ASSIGN_OR_RETURN(file, OpenChunkFile());
    }
    MERIDIAN_RETURN_IF_ERROR(
        WriteSeriesChunks(file.get(), s->id(), &snap, &pieces, &pmin, &pmax, &file_bytes));
    MERIDIAN_RETURN_IF_ERROR(
        FromRocks(wb.Put(meta_, keys::RangeKey(s->id()), keys::EncodeRangeValue(pmin, pmax)),
                  "staging range"));
    pending.push_back({s.get(), MemSeries::MarkOf(snap)});
    if (file_bytes >= kCheckpointFileBytes) MERIDIAN_RETURN_IF_ERROR(commit());
  }
  all.clear();
  MERIDIAN_RETURN_IF_ERROR(commit());
  MERIDIAN_RETURN_IF_ERROR(write_index());
  if (covered == 0) return absl::OkStatus();
  // One synced write makes every earlier write durable (RocksDB's log is
  // sequential) and drops the WAL records now covered by chunks.
  std::string seq;
  coding::PutFixed64BE(&seq, covered);
  MERIDIAN_RETURN_IF_ERROR(FromRocks(
      wb.DeleteRange(wal_, keys::WalKey(0), keys::WalKey(covered + 1)), "staging wal trim"));
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.Put(meta_, keys::kCheckpointKey, seq), "staging checkpoint"));
  for (TenantHead* t : AllTenants()) {  // for the series limit after a restart
    MERIDIAN_RETURN_IF_ERROR(
        FromRocks(wb.Put(meta_, keys::HeadCountKey(t->id()),
                         keys::EncodeHeadCountValue(t->num_series() + t->CarriedNotBack(),
                                                    t->newest_t_ms.load())),
                  "staging checkpoint"));
  }
  MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/true, "writing checkpoint"));
  // Drop the deleted records' files now rather than at the next compaction.
  std::string end = keys::WalKey(covered + 1);
  rocksdb::Slice end_slice(end);
  return FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), wal_, nullptr, &end_slice),
                   "compacting wal");
}

absl::Status RocksStorage::IngestPostings(IndexBatch* batch) {
  // Written as a table file and ingested, not through the memtable: sorted
  // keys cost a sequential file write instead of skip-list inserts, a flush
  // and the write stalls of a full memtable (docs/format/storage.md). The
  // lists are merge operands: the family's merge operator unites them with
  // the lists earlier checkpoints wrote for the same pairs.
  const std::string path = options_.dir + "/" + kPostingsIngestFile;
  rocksdb::SstFileWriter w(rocksdb::EnvOptions(), db_->GetOptions(index_), index_);
  MERIDIAN_RETURN_IF_ERROR(FromRocks(w.Open(path), "writing postings"));
  MERIDIAN_RETURN_IF_ERROR(batch->ForEachSorted(
      [&w](std::string_view key, std::string_view value, bool merge) -> absl::Status {
        const rocksdb::Slice k(key.data(), key.size()), v(value.data(), value.size());
        return FromRocks(merge ? w.Merge(k, v) : w.Put(k, v), "writing postings");
      }));
  MERIDIAN_RETURN_IF_ERROR(FromRocks(w.Finish(), "writing postings"));
  rocksdb::IngestExternalFileOptions io;
  io.move_files = true;  // linked into the database: no copy
  absl::Status st = FromRocks(db_->IngestExternalFile(index_, {path}, io), "ingesting postings");
  std::error_code ec;
  std::filesystem::remove(path, ec);  // left only after a failure
  return st;
}

void RocksStorage::EvictIdle() {
  const int64_t timeout = options_.head_idle_timeout_ms;
  if (timeout <= 0) return;
  MutexLock maintenance(&maintenance_mu_);
  uint64_t evicted = 0;
  for (TenantHead* t : AllTenants()) {
    const int64_t newest = t->newest_t_ms.load();
    if (newest == kNoTime) continue;
    const int64_t idle_before = SaturatingSub(newest, timeout);
    std::vector<std::shared_ptr<MemSeries>> idle, gone;
    for (std::shared_ptr<MemSeries>& s : t->AllSeries()) {
      if (s->max_t_ms() < idle_before && s->definition_persisted.load()) idle.push_back(s);
    }
    if (idle.empty()) continue;
    {
      // No append holds a series pointer while we own the gate. Readers
      // that picked a series from the head keep it (shared_ptr); readers
      // that look after the removal see the flag and read the disk index.
      WriterMutexLock gate(&gate_);
      t->may_have_inactive.store(true, std::memory_order_release);
      for (std::shared_ptr<MemSeries>& s : idle) {
        MutexLock l(&s->mu);
        // Everything it holds is on disk (chunks, range, postings of all
        // its days).
        if (s->max_t_ms() < idle_before && s->FullyPersisted() && s->has_persisted() &&
            s->index_lo_day <= IndexDayOf(s->min_t_ms()) &&
            s->index_hi_day >= IndexDayOf(s->max_t_ms())) {
          gone.push_back(std::move(s));
        }
      }
      t->Remove(gone);
    }
    evicted += gone.size();
  }
  if (evicted == 0) return;
  series_evicted_.fetch_add(evicted, std::memory_order_relaxed);
  // Hand the freed series memory back to the system.
  malloc_trim(0);
}

absl::Status RocksStorage::CompactAll() {
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (rocksdb::ColumnFamilyHandle* h : {meta_, chunks_, wal_, downsampled_, index_}) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return absl::OkStatus();
}

absl::Status RocksStorage::EnforceRetention() {
  if (options_.retention_ms <= 0) return absl::OkStatus();
  // The cut-off moves in steps (RetentionStepMs): between two steps nothing
  // can become due, so most passes return here without any work.
  const int64_t cutoff = RetentionCutoff(NowMs(), options_.retention_ms);
  const int64_t sure_cutoff = SaturatingSub(cutoff, kMaxChunkSpanMs);
  std::string compact_begin, compact_end;
  {
    MutexLock maintenance(&maintenance_mu_);
    if (cutoff <= retention_done_cutoff_) return absl::OkStatus();
    const std::vector<TenantHead*> tenants = AllTenants();
    absl::Status deleted = DeleteExpired(tenants, cutoff, sure_cutoff, &retention_garbage_bytes_,
                                         &retention_compact_begin_, &retention_compact_end_);
    generations_.BumpAll();  // after the deletes, whether all of them went or not
    MERIDIAN_RETURN_IF_ERROR(deleted);
    retention_done_cutoff_ = cutoff;
    // Space is reclaimed by compacting just the span of the deleted chunk
    // ranges, and only once they hold a fair share of the family's bytes:
    // every compaction rewrites whole files, most of them live data.
    // RocksDB's own compactions drop deleted chunks meanwhile.
    if (retention_garbage_bytes_ == 0) return absl::OkStatus();
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(chunks_, &md);
    if (static_cast<double>(retention_garbage_bytes_) < kCompactGarbageFraction * md.size) {
      return absl::OkStatus();
    }
    compact_begin = std::move(retention_compact_begin_);
    compact_end = std::move(retention_compact_end_);
    retention_compact_begin_.clear();
    retention_compact_end_.clear();
    retention_garbage_bytes_ = 0;
  }
  // Outside the maintenance lock: checkpoints do not wait for the rewrite.
  MutexLock compacting(&retention_compact_mu_);
  rocksdb::Slice b(compact_begin), e(compact_end);
  absl::Status st = FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), chunks_, &b, &e),
                              "compacting expired chunks");
  if (st.code() == absl::StatusCode::kDataLoss) {
    // A corrupt block in the span: the chunks stay deleted (invisible), the
    // space is not reclaimed; the rest of the store keeps working.
    chunk_store_->CountCorruption("retention compaction: " + std::string(st.message()));
    return absl::OkStatus();
  }
  return st;
}

bool RocksStorage::HasAggregates(uint64_t series_id) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, downsampled_));
  for (Resolution r : {Resolution::k5m, Resolution::k1h}) {
    std::string prefix = keys::AggrKey(static_cast<uint8_t>(r), series_id, 0).substr(0, 9);
    it->Seek(prefix);
    // An unreadable iterator counts as "has": the definition is kept.
    if (!it->status().ok()) return true;
    if (it->Valid() && it->key().starts_with(prefix)) return true;
  }
  return false;
}

absl::Status RocksStorage::DeleteExpired(std::span<TenantHead* const> tenants, int64_t cutoff,
                                         int64_t sure_cutoff, uint64_t* freed,
                                         std::string* span_begin, std::string* span_end,
                                         rocksdb::WriteBatch* extra) {
  rocksdb::WriteBatch wb;
  if (extra != nullptr) wb = *extra;
  // Key ranges [begin, end) of chunks to delete, per series.
  std::vector<std::pair<std::string, std::string>> ranges, series_ranges;
  std::unique_ptr<rocksdb::Iterator> it;  // opened on the first scan
  std::vector<std::pair<TenantHead*, std::shared_ptr<MemSeries>>> maybe_empty;
  for (TenantHead* t : tenants) {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<MemSeries>> all,
                              SeriesWithDataBefore(t, cutoff));
    for (std::shared_ptr<MemSeries>& s : all) {
      int64_t pmin, pmax;
      bool memory_empty;
      {
        MutexLock l(&s->mu);
        memory_empty = s->TrimBefore(cutoff);
        pmin = s->persisted_min_t_ms();
        pmax = s->persisted_max_t_ms();
      }
      if (pmin <= pmax && pmin < cutoff) {
        const uint64_t id = s->id();
        const std::string series_begin = keys::ChunkKey(id, std::numeric_limits<int64_t>::min());
        const std::string series_end = keys::ChunkKey(id + 1, std::numeric_limits<int64_t>::min());
        series_ranges.clear();
        // Every chunk spans less than kMaxChunkSpanMs, so chunks starting
        // before sure_cutoff end before cutoff: deleted without being read
        // (even when they are unreadable). Only chunks starting in
        // [sure_cutoff, cutoff) need their header read.
        int64_t kept_min = std::numeric_limits<int64_t>::max();
        if (pmax < cutoff) {
          series_ranges.push_back({series_begin, series_end});
        } else {
          std::string scan_from = series_begin;
          if (pmin < sure_cutoff) {
            scan_from = keys::ChunkKey(id, sure_cutoff);
            series_ranges.push_back({series_begin, scan_from});
          }
          if (it == nullptr) it = chunk_store_->NewIterator(/*fill_cache=*/false);
          std::string run_start, end_key = series_end;
          absl::Status scan;
          for (it->Seek(scan_from); it->Valid(); it->Next()) {
            rocksdb::Slice k = it->key();
            if (k.size() != 16 || coding::DecodeFixed64BE(k.data()) != id) break;
            int64_t mint = coding::DecodeTimeKey(k.data() + 8);
            if (mint >= cutoff) {
              end_key = k.ToString();
              kept_min = std::min(kept_min, mint);
              break;
            }
            ChunkHeader h;
            scan = DecodeChunkHeader(std::string_view(it->value().data(), it->value().size()), &h);
            if (!scan.ok()) break;
            if (h.max_t_ms < cutoff) {
              if (run_start.empty()) run_start = k.ToString();
            } else {
              if (!run_start.empty()) series_ranges.push_back({std::move(run_start), k.ToString()});
              run_start.clear();
              kept_min = std::min(kept_min, mint);
            }
          }
          if (scan.ok()) scan = FromRocks(it->status(), "scanning chunks");
          if (!scan.ok()) {
            // Unreadable chunks: keep what was not surely expired and go on
            // with the other series; a fresh iterator for the next one.
            if (scan.code() != absl::StatusCode::kDataLoss) return scan;
            chunk_store_->CountCorruption("retention of series " + std::to_string(id) + ": " +
                                          std::string(scan.message()));
            it.reset();
            series_ranges.resize(pmin < sure_cutoff ? 1 : 0);  // the unread prefix only
            kept_min = std::max(pmin, sure_cutoff);
          } else if (!run_start.empty()) {
            series_ranges.push_back({std::move(run_start), end_key});
          }
        }
        for (const auto& [b, e] : series_ranges) {
          MERIDIAN_RETURN_IF_ERROR(
              FromRocks(wb.DeleteRange(chunks_, b, e), "staging chunk delete"));
          ranges.push_back({b, e});
        }
        bool any_left = kept_min != std::numeric_limits<int64_t>::max();
        {
          MutexLock l(&s->mu);
          if (any_left) {
            s->SetPersistedRange(kept_min, pmax);
          } else {
            s->SetPersistedRange(std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min());
          }
        }
        if (any_left) {
          MERIDIAN_RETURN_IF_ERROR(
              FromRocks(wb.Put(meta_, keys::RangeKey(id), keys::EncodeRangeValue(kept_min, pmax)),
                        "staging range"));
        } else {
          MERIDIAN_RETURN_IF_ERROR(
              FromRocks(wb.Delete(meta_, keys::RangeKey(id)), "staging range"));
          pmin = pmax + 1;  // nothing persisted now
        }
      }
      s->ResetMinTime(std::max(s->min_t_ms(), cutoff));
      if (memory_empty && !(pmin <= pmax)) maybe_empty.push_back({t, s});
    }
  }
  it.reset();
  // What the deletes free, measured before they hide it.
  if (!ranges.empty()) {
    std::vector<rocksdb::Range> rr;
    rr.reserve(ranges.size());
    for (const auto& [b, e] : ranges) rr.emplace_back(b, e);
    std::vector<uint64_t> sizes(rr.size());
    rocksdb::SizeApproximationOptions so;
    so.include_memtables = true;
    so.include_files = true;
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        db_->GetApproximateSizes(so, chunks_, rr.data(), static_cast<int>(rr.size()), sizes.data()),
        "estimating expired bytes"));
    for (uint64_t n : sizes) *freed += n;
    // Ranges come in key order (series ids only grow per tenant, but tenants
    // interleave): take the bounding span.
    for (const auto& [b, e] : ranges) {
      if (span_begin->empty() || b < *span_begin) *span_begin = b;
      if (span_end->empty() || e > *span_end) *span_end = e;
    }
  }
  return ForgetEmptySeries(tenants, cutoff, maybe_empty, &wb);
}

absl::StatusOr<std::vector<std::shared_ptr<MemSeries>>> RocksStorage::SeriesWithDataBefore(
    TenantHead* t, int64_t cutoff) const {
  std::vector<std::shared_ptr<MemSeries>> all = t->AllSeries();
  // And the series that left the head with chunks before the cut-off (read
  // from disk; no chunk is written meanwhile: checkpoints hold
  // maintenance_mu_ too).
  std::vector<uint64_t> in_head;
  for (const auto& s : all) in_head.push_back(s->id());
  std::sort(in_head.begin(), in_head.end());
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<MemSeries>> inactive,
                            InactiveSeries(t, {}, std::numeric_limits<int64_t>::min(), cutoff - 1,
                                           in_head, /*with_labels=*/true));
  for (auto& s : inactive) all.push_back(std::move(s));
  return all;
}

absl::Status RocksStorage::ForgetEmptySeries(
    std::span<TenantHead* const> tenants, int64_t cutoff,
    const std::vector<std::pair<TenantHead*, std::shared_ptr<MemSeries>>>& maybe_empty,
    rocksdb::WriteBatch* batch) {
  rocksdb::WriteBatch& wb = *batch;
  {
    // No append holds a series pointer while we own the gate.
    WriterMutexLock gate(&gate_);
    absl::flat_hash_map<TenantHead*, std::vector<std::shared_ptr<MemSeries>>> removed;
    for (const auto& [t, s] : maybe_empty) {
      // A series read from disk that an append re-admitted meanwhile.
      if (auto cur = t->Find(s->id()); cur != nullptr && cur.get() != s.get()) continue;
      MutexLock l(&s->mu);
      if (!s->MemoryEmpty() || s->has_persisted()) continue;  // appended meanwhile
      if (HasAggregates(s->id())) continue;  // its downsampled data keeps its labels
      MERIDIAN_RETURN_IF_ERROR(
          FromRocks(wb.Delete(meta_, keys::SeriesKey(s->id())), "staging series delete"));
      MERIDIAN_RETURN_IF_ERROR(disk_index_->StageForget(&wb, t->id(), s->id(), s->labels()));
      removed[t].push_back(s);
    }
    // Postings of whole days before the cut-off, where nothing of any
    // resolution can be left (never downsampled: raw data only).
    for (TenantHead* t : tenants) {
      if (t->downsample.downsampled_5m_through != kNoTime) continue;
      MERIDIAN_RETURN_IF_ERROR(
          disk_index_->StageDeleteDaysBefore(&wb, t->id(), IndexDayOf(cutoff)));
    }
    if (wb.Count() > 0) {
      MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/true, "writing retention deletes"));
    }
    for (auto& [t, list] : removed) t->Remove(list);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RocksStorage::Snapshot(bool persist_head) {
  if (persist_head) MERIDIAN_RETURN_IF_ERROR(Checkpoint());
  // Prometheus's name: UTC time and 16 random hex digits.
  std::string name;
  {
    std::time_t t = std::time(nullptr);
    std::tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
    static std::mt19937_64 rng(std::random_device{}());
    static Mutex rng_mu;
    uint64_t r;
    {
      MutexLock l(&rng_mu);
      r = rng() >> 1;  // as Go's rand.Int63
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
    name = std::string(buf) + "-" + hex;
  }
  const std::string parent = options_.dir + "/" + kSnapshotsDirName;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return absl::InternalError("creating " + parent + ": " + ec.message());
  const std::string dir = parent + "/" + name;
  rocksdb::Checkpoint* raw = nullptr;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "snapshot"));
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush 0: memtables are flushed first, so the snapshot is a
  // consistent point in time of every family.
  MERIDIAN_RETURN_IF_ERROR(FromRocks(cp->CreateCheckpoint(dir, 0), "creating snapshot"));
  MERIDIAN_RETURN_IF_ERROR(WriteFormatFile(dir));
  return name;
}

std::string RocksStorage::FamilySizes() const {
  std::string out;
  for (rocksdb::ColumnFamilyHandle* h : {meta_, chunks_, wal_, downsampled_, index_}) {
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(h, &md);
    out += md.name + "=" + std::to_string(md.size) + " ";
  }
  return out;
}

CardinalityStats RocksStorage::Cardinality(std::string_view tenant, size_t limit) const {
  CardinalityStats st;
  TenantHead* head = FindTenant(tenant);
  if (head == nullptr) return st;
  int64_t mint = std::numeric_limits<int64_t>::max(), maxt = std::numeric_limits<int64_t>::min();
  head->ReadIndex([&](const PostingsIndex& index, auto lookup) {
    st.num_series = index.all().size();
    for (uint64_t id : index.all()) {
      const MemSeries* s = lookup(id);
      if (s->min_t_ms() <= s->max_t_ms()) {
        mint = std::min(mint, s->min_t_ms());
        maxt = std::max(maxt, s->max_t_ms());
      }
    }
    for (const auto& [name, values] : index.names()) {
      st.label_value_count_by_label_name.push_back({name, values.size()});
      uint64_t bytes = 0;
      for (const auto& [value, ids] : values) {
        bytes += value.size() * ids.size();
        st.series_count_by_label_value_pair.push_back({name + "=" + value, ids.size()});
        if (name == kMetricName) st.series_count_by_metric_name.push_back({value, ids.size()});
      }
      st.memory_in_bytes_by_label_name.push_back({name, bytes});
    }
  });
  if (mint <= maxt) {
    st.min_time_ms = mint;
    st.max_time_ms = maxt;
  }
  for (auto* v : {&st.series_count_by_metric_name, &st.label_value_count_by_label_name,
                  &st.memory_in_bytes_by_label_name, &st.series_count_by_label_value_pair}) {
    std::sort(v->begin(), v->end(), [](const auto& a, const auto& b) {
      return a.value != b.value ? a.value > b.value : a.name < b.name;
    });
    if (limit > 0 && v->size() > limit) v->resize(limit);
  }
  return st;
}

}  // namespace meridian

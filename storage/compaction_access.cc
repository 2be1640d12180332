// RocksStorage's CompactionAccess (storage/compaction.h): the compactor's
// reads and writes of raw and downsampled data, late marks, and retention
// per resolution and tenant. Layout: docs/format/storage.md ("Downsampled
// data") and docs/format/downsampled.md.
#include <algorithm>
#include <limits>

#include "model/sync.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/coding.h"
#include "storage/compaction.h"
#include "storage/keys.h"
#include "storage/querier.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"

namespace meridian {

// storage/staged_backfill.cc
absl::StatusOr<std::vector<StagedGroup>> ReadStaged(rocksdb::DB* db,
                                                    rocksdb::ColumnFamilyHandle* meta,
                                                    uint32_t tenant_id);

class RocksCompactionAccess : public CompactionAccess {
 public:
  explicit RocksCompactionAccess(RocksStorage* s) : s_(s) {}

  std::vector<std::string> Tenants() const override {
    std::vector<std::string> out;
    for (TenantHead* t : s_->AllTenants()) out.push_back(t->name());
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<DownsampleState> State(std::string_view tenant) const override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return DownsampleState{};
    MutexLock m(&s_->maintenance_mu_);
    return t->downsample;
  }

  std::optional<int64_t> RawDataFrom(std::string_view tenant, int64_t from) const override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return std::nullopt;
    std::optional<int64_t> best;
    for (const auto& s : t->AllSeries()) {
      if (s->max_t_ms() < from || s->min_t_ms() > s->max_t_ms()) continue;
      int64_t x = std::max(from, s->min_t_ms());
      if (!best || x < *best) best = x;
    }
    if (t->may_have_inactive.load(std::memory_order_acquire)) {
      // Series only on disk: the first day with postings (never later than
      // their first sample; `from` itself when the index cannot be read).
      absl::StatusOr<std::optional<int64_t>> day =
          s_->disk_index_->FirstDayFrom(t->id(), IndexDayOf(from));
      std::optional<int64_t> x;
      if (!day.ok()) {
        x = from;
      } else if (day->has_value()) {
        x = std::max(from, **day * kIndexDayMs);
      }
      if (x && (!best || *x < *best)) best = x;
    }
    return best;
  }

  absl::StatusOr<std::optional<int64_t>> AggregatesFrom(std::string_view tenant, Resolution r,
                                                        int64_t from) const override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return std::optional<int64_t>();
    std::unique_ptr<rocksdb::Iterator> it = NewIterator();
    std::optional<int64_t> best;
    const int64_t block_from = AlignDown(from, BlockMs(r));
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<uint64_t> ids,
                              SortedIds(t, block_from, std::numeric_limits<int64_t>::max()));
    for (uint64_t id : ids) {
      std::string key = keys::AggrKey(static_cast<uint8_t>(r), id, block_from);
      it->Seek(key);
      if (!it->Valid() || !it->key().starts_with(rocksdb::Slice(key.data(), 9))) continue;
      int64_t b = coding::DecodeTimeKey(it->key().data() + 9);
      if (!best || b < *best) best = b;
    }
    MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "scanning aggregates"));
    return best;
  }

  absl::Status ClaimRaw(std::string_view tenant, int64_t through) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return absl::OkStatus();
    WriterMutexLock gate(&s_->gate_);  // appends in flight finish first
    if (through > t->claimed_5m.load()) t->claimed_5m.store(through);
    return absl::OkStatus();
  }

  absl::Status ReadRaw(std::string_view tenant, int64_t start, int64_t end,
                       const RawFn& fn) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr || end <= start) return absl::OkStatus();
    std::vector<std::shared_ptr<MemSeries>> series = t->AllSeries();
    std::sort(series.begin(), series.end(),
              [](const auto& a, const auto& b) { return a->id() < b->id(); });
    {
      // And the series that left the head, from the days in range.
      std::vector<uint64_t> in_head;
      for (const auto& s : series) in_head.push_back(s->id());
      MERIDIAN_ASSIGN_OR_RETURN(
          std::vector<std::shared_ptr<MemSeries>> inactive,
          s_->InactiveSeries(t, {}, start, end - 1, in_head, /*with_labels=*/false));
      if (!inactive.empty()) {
        for (auto& s : inactive) series.push_back(std::move(s));
        std::sort(series.begin(), series.end(),
                  [](const auto& a, const auto& b) { return a->id() < b->id(); });
      }
    }
    auto reader = std::make_unique<SeriesReader>(s_->chunk_store_.get(), start, end - 1);
    std::vector<Sample> buf;
    for (const auto& s : series) {
      if (!s->Overlaps(start, end - 1)) continue;
      absl::Status st = reader->Read(*s, &buf);
      if (st.code() == absl::StatusCode::kDataLoss) {
        // Local damage: this series is skipped, the others go on.
        s_->chunk_store_->CountCorruption("compactor read of series " + std::to_string(s->id()) +
                                          ": " + std::string(st.message()));
        reader = std::make_unique<SeriesReader>(s_->chunk_store_.get(), start, end - 1);
        continue;
      }
      MERIDIAN_RETURN_IF_ERROR(st);
      if (buf.empty()) continue;
      MERIDIAN_RETURN_IF_ERROR(fn(s->id(), buf));
    }
    return absl::OkStatus();
  }

  absl::Status ReadRawSeries(std::string_view tenant, uint64_t series_id, int64_t start,
                             int64_t end, std::vector<Sample>* out) override {
    out->clear();
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr || end <= start) return absl::OkStatus();
    std::shared_ptr<MemSeries> s = t->Find(series_id);
    if (!s) {
      // Not in the head: from disk, if it is there.
      MERIDIAN_ASSIGN_OR_RETURN(s, s_->ReadInactive(series_id, /*with_labels=*/false));
      if (!s) return absl::OkStatus();
    }
    SeriesReader reader(s_->chunk_store_.get(), start, end - 1);
    return reader.Read(*s, out);
  }

  absl::Status ReadAggregates(std::string_view tenant, Resolution r, int64_t start, int64_t end,
                              const AggrFn& fn) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr || end <= start) return absl::OkStatus();
    std::unique_ptr<rocksdb::Iterator> it = NewIterator();
    std::vector<AggregateWindow> buf;
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<uint64_t> ids,
                              SortedIds(t, AlignDown(start, BlockMs(r)), end));
    for (uint64_t id : ids) {
      buf.clear();
      MERIDIAN_RETURN_IF_ERROR(ReadSeries(it.get(), r, id, start, end, &buf));
      if (!buf.empty()) MERIDIAN_RETURN_IF_ERROR(fn(id, buf));
    }
    return absl::OkStatus();
  }

  absl::Status ReadSeriesAggregates(std::string_view tenant, Resolution r, uint64_t series_id,
                                    int64_t start, int64_t end,
                                    std::vector<AggregateWindow>* out) override {
    out->clear();
    std::unique_ptr<rocksdb::Iterator> it = NewIterator();
    return ReadSeries(it.get(), r, series_id, start, end, out);
  }

  absl::Status PutAggregates(std::string_view tenant, Resolution r,
                             std::span<const SeriesAggregates> chunks) override {
    if (r == Resolution::kRaw) return absl::InvalidArgumentError("raw is not an aggregate");
    rocksdb::WriteBatch wb;
    std::string value;
    for (const SeriesAggregates& c : chunks) {
      if (c.windows.empty()) continue;
      value.clear();
      EncodeAggrChunk(r, c.block_start, c.windows, &value);
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(s_->downsampled_,
                 keys::AggrKey(static_cast<uint8_t>(r), c.series_id, c.block_start), value),
          "staging aggregates"));
    }
    if (wb.Count() == 0) return absl::OkStatus();
    absl::Status st = s_->Write(&wb, /*sync=*/false, "writing aggregates");
    s_->aggregate_cache().Invalidate();  // after the write (storage/aggregate_cache.h)
    s_->generations_.Bump(tenant);       // after the write, as the cache's
    return st;
  }

  absl::Status SetDownsampledThrough(std::string_view tenant, Resolution r,
                                     int64_t through) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return absl::OkStatus();
    MutexLock m(&s_->maintenance_mu_);
    DownsampleState ds = t->downsample;
    int64_t& field = r == Resolution::k1h ? ds.downsampled_1h_through : ds.downsampled_5m_through;
    if (through <= field) return absl::OkStatus();
    field = through;
    if (r == Resolution::k5m && through > t->claimed_5m.load()) {
      WriterMutexLock gate(&s_->gate_);
      if (through > t->claimed_5m.load()) t->claimed_5m.store(through);
    }
    rocksdb::WriteBatch wb;
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        wb.Put(s_->meta_, keys::DownsampleStateKey(t->id()), keys::EncodeDownsampleState(ds)),
        "staging downsample state"));
    // Synced: also makes the aggregates written before it durable (RocksDB's
    // log is sequential).
    MERIDIAN_RETURN_IF_ERROR(s_->Write(&wb, /*sync=*/true, "writing downsample state"));
    t->downsample = ds;
    t->PublishDownsample(ds);  // the aggregates it covers are written
    s_->generations_.Bump(tenant);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<LateMark>> LateMarks(std::string_view tenant) override {
    std::vector<LateMark> out;
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return out;
    const rocksdb::Snapshot* snap;
    {
      // Every append that wrote a mark has committed its samples.
      WriterMutexLock gate(&s_->gate_);
      snap = s_->db_->GetSnapshot();
    }
    absl::Status st = ScanLateMarks(t, snap, [&](uint64_t id, int64_t block, rocksdb::Slice token) {
      out.push_back({id, block, token.ToString()});
    });
    s_->db_->ReleaseSnapshot(snap);
    MERIDIAN_RETURN_IF_ERROR(st);
    return out;
  }

  absl::Status ClearLateMarks(std::string_view tenant, std::span<const LateMark> marks) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr || marks.empty()) return absl::OkStatus();
    rocksdb::WriteBatch wb;
    WriterMutexLock gate(&s_->gate_);  // no append renews a mark meanwhile
    for (const LateMark& m : marks) {
      std::string key = keys::LateMarkKey(t->id(), m.series_id, m.block_start), value;
      rocksdb::Status gs = s_->db_->Get(rocksdb::ReadOptions(), s_->meta_, key, &value);
      if (gs.IsNotFound()) continue;
      MERIDIAN_RETURN_IF_ERROR(FromRocks(gs, "reading late mark"));
      if (value != m.token) continue;  // renewed: the next pass redoes it
      MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Delete(s_->meta_, key), "staging late mark delete"));
    }
    if (wb.Count() == 0) return absl::OkStatus();
    return s_->Write(&wb, /*sync=*/true, "clearing late marks");
  }

  absl::StatusOr<std::vector<StagedGroup>> Staged(std::string_view tenant) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return std::vector<StagedGroup>();
    return ReadStaged(s_->db_.get(), s_->meta_, t->id());
  }

  absl::Status CommitStaged(std::string_view tenant, const StagedGroup& g,
                            std::span<const SeriesAggregates> chunks_5m,
                            std::span<const SeriesAggregates> chunks_1h) override {
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return absl::NotFoundError("no such tenant");
    return s_->CommitStagedGroup(t, g, chunks_5m, chunks_1h);
  }

  absl::Status FlushWrites() override {
    MERIDIAN_RETURN_IF_ERROR(
        FromRocks(s_->db_->Flush(rocksdb::FlushOptions(), s_->handles_), "flushing memtables"));
    s_->KeepMemtableNonEmpty();
    return absl::OkStatus();
  }

  absl::StatusOr<DeleteOutcome> DeleteBefore(std::string_view tenant, Resolution r, int64_t cutoff,
                                             bool require_coarser) override {
    DeleteOutcome out;
    TenantHead* t = s_->FindTenant(tenant);
    if (t == nullptr) return out;
    // Bumped once the new floor is published (reads change there), on
    // every path out after it.
    DataGenerations::BumpOnExit bump(&s_->generations_, tenant);
    std::string span_begin, span_end;
    rocksdb::ColumnFamilyHandle* family = r == Resolution::kRaw ? s_->chunks_ : s_->downsampled_;
    {
      MutexLock m(&s_->maintenance_mu_);
      DownsampleState ds = t->downsample;
      int64_t& floor = r == Resolution::kRaw  ? ds.raw_deleted_before
                       : r == Resolution::k5m ? ds.deleted_5m_before
                                              : ds.deleted_1h_before;
      int64_t eff = cutoff;
      if (r == Resolution::kRaw) {
        if (require_coarser) eff = std::min(eff, ds.downsampled_5m_through);
      } else if (r == Resolution::k5m) {
        // Replaced by 1h data, and never where a late raw sample could make
        // a 1h block be derived again from 5m data.
        eff = std::min(
            {eff, ds.downsampled_1h_through, AlignDown(ds.raw_deleted_before, kBlock1hMs)});
      }
      if (r != Resolution::kRaw) {
        // Staged samples merge into the aggregates of their 1h block.
        MERIDIAN_ASSIGN_OR_RETURN(std::optional<int64_t> staged, s_->OldestStaged(t));
        if (staged) eff = std::min(eff, AlignDown(*staged, kBlock1hMs));
      }
      eff = AlignDown(eff, BlockMs(r));
      out.cutoff = floor;
      if (eff == kNoTime || eff <= floor) return out;
      if (r == Resolution::kRaw) {
        // Under the exclusive gate: no pending late mark below the floor,
        // and from now on no append below it.
        WriterMutexLock gate(&s_->gate_);
        int64_t min_late = std::numeric_limits<int64_t>::max();
        MERIDIAN_RETURN_IF_ERROR(
            ScanLateMarks(t, nullptr, [&](uint64_t, int64_t block, rocksdb::Slice) {
              min_late = std::min(min_late, block);
            }));
        eff = std::min(eff, min_late);
        if (eff <= floor) return out;
        t->raw_floor.store(eff);
      }
      floor = eff;
      // Queries stop reading below the new floor before anything goes.
      t->PublishDownsample(ds);
      bump.Changed();
      rocksdb::WriteBatch wb;
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(s_->meta_, keys::DownsampleStateKey(t->id()), keys::EncodeDownsampleState(ds)),
          "staging downsample state"));
      if (r == Resolution::kRaw) {
        TenantHead* one[] = {t};
        MERIDIAN_RETURN_IF_ERROR(s_->DeleteExpired(one, eff, eff - kMaxChunkSpanMs,
                                                   &out.bytes_freed, &span_begin, &span_end, &wb));
        out.series_touched = t->num_series();
      } else {
        // Only series with chunks below the cut-off: nothing else is
        // deleted or compacted.
        std::vector<std::pair<std::string, std::string>> ranges;
        std::unique_ptr<rocksdb::Iterator> it = NewIterator();
        MERIDIAN_ASSIGN_OR_RETURN(std::vector<uint64_t> ids,
                                  SortedIds(t, std::numeric_limits<int64_t>::min(), eff));
        for (uint64_t id : ids) {
          std::string b =
              keys::AggrKey(static_cast<uint8_t>(r), id, std::numeric_limits<int64_t>::min());
          std::string e = keys::AggrKey(static_cast<uint8_t>(r), id, eff);
          it->Seek(b);
          if (!it->Valid() || it->key().compare(e) >= 0) continue;
          ranges.emplace_back(std::move(b), std::move(e));
        }
        MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "scanning expired aggregates"));
        it.reset();
        if (!ranges.empty()) {
          std::vector<rocksdb::Range> rr;
          for (const auto& [b, e] : ranges) rr.emplace_back(b, e);
          std::vector<uint64_t> sizes(rr.size());
          rocksdb::SizeApproximationOptions so;
          so.include_memtables = true;
          so.include_files = true;
          MERIDIAN_RETURN_IF_ERROR(
              FromRocks(s_->db_->GetApproximateSizes(so, family, rr.data(),
                                                     static_cast<int>(rr.size()), sizes.data()),
                        "estimating expired bytes"));
          for (uint64_t n : sizes) out.bytes_freed += n;
          for (const auto& [b, e] : ranges) {
            MERIDIAN_RETURN_IF_ERROR(
                FromRocks(wb.DeleteRange(family, b, e), "staging aggregate delete"));
          }
          span_begin = ranges.front().first;
          span_end = ranges.back().second;
          out.series_touched = ranges.size();
        }
        absl::Status st = s_->Write(&wb, /*sync=*/true, "deleting aggregates");
        s_->aggregate_cache().Invalidate();
        MERIDIAN_RETURN_IF_ERROR(st);
      }
      t->downsample = ds;
      t->PublishDownsample(ds);
      out.cutoff = eff;
    }
    if (!span_begin.empty()) {
      // Frees the disk now: only the deleted span is rewritten.
      MutexLock compacting(&s_->retention_compact_mu_);
      rocksdb::ColumnFamilyMetaData before, after;
      s_->db_->GetColumnFamilyMetaData(family, &before);
      rocksdb::Slice b(span_begin), e(span_end);
      absl::Status st =
          FromRocks(s_->db_->CompactRange(rocksdb::CompactRangeOptions(), family, &b, &e),
                    "compacting deleted ranges");
      if (st.code() == absl::StatusCode::kDataLoss) {
        s_->chunk_store_->CountCorruption("compactor retention: " + std::string(st.message()));
        st = absl::OkStatus();
      }
      MERIDIAN_RETURN_IF_ERROR(st);
      // The estimate misses ranges inside one block; the files say what
      // went (the rewrite of the span also recompresses the live data in it).
      s_->db_->GetColumnFamilyMetaData(family, &after);
      if (before.size > after.size)
        out.bytes_freed = std::max(out.bytes_freed, before.size - after.size);
    }
    return out;
  }

 private:
  std::unique_ptr<rocksdb::Iterator> NewIterator() const {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // compaction scans must not evict what queries use
    return std::unique_ptr<rocksdb::Iterator>(s_->db_->NewIterator(ro, s_->downsampled_));
  }

  // Every series of the tenant that may have data in [from, to]: the head's
  // and those on disk with postings in the days of the range.
  absl::StatusOr<std::vector<uint64_t>> SortedIds(TenantHead* t, int64_t from, int64_t to) const {
    std::vector<uint64_t> ids;
    for (const auto& s : t->AllSeries()) ids.push_back(s->id());
    std::sort(ids.begin(), ids.end());
    if (t->may_have_inactive.load(std::memory_order_acquire) && from <= to) {
      MERIDIAN_ASSIGN_OR_RETURN(
          Postings on_disk, s_->disk_index_->Select(t->id(), {}, IndexDayOf(from), IndexDayOf(to)));
      std::vector<const Postings*> both = {&ids, &on_disk};
      ids = Merge(both);
    }
    return ids;
  }

  absl::Status ReadSeries(rocksdb::Iterator* it, Resolution r, uint64_t id, int64_t start,
                          int64_t end, std::vector<AggregateWindow>* out) const {
    const std::string first =
        keys::AggrKey(static_cast<uint8_t>(r), id, AlignDown(start, BlockMs(r)));
    const rocksdb::Slice prefix(first.data(), 9);
    std::vector<AggregateWindow> chunk;
    for (it->Seek(first); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 17) return absl::DataLossError("corrupt aggregate key");
      if (coding::DecodeTimeKey(it->key().data() + 9) >= end) break;
      chunk.clear();
      absl::Status st =
          DecodeAggrChunk(std::string_view(it->value().data(), it->value().size()), &chunk);
      if (!st.ok()) {
        s_->chunk_store_->CountCorruption("aggregate chunk of series " + std::to_string(id) + ": " +
                                          std::string(st.message()));
        continue;
      }
      for (const AggregateWindow& w : chunk) {
        if (w.t_ms >= start && w.t_ms < end) out->push_back(w);
      }
    }
    absl::Status st = FromRocks(it->status(), "reading aggregates");
    if (st.code() == absl::StatusCode::kDataLoss) {
      s_->chunk_store_->CountCorruption("aggregates of series " + std::to_string(id) + ": " +
                                        std::string(st.message()));
      return absl::OkStatus();
    }
    return st;
  }

  // Calls fn(series, block, token) for each late mark of `t` (as of `snap`,
  // or the latest data).
  template <typename Fn>
  absl::Status ScanLateMarks(TenantHead* t, const rocksdb::Snapshot* snap, Fn fn) const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::unique_ptr<rocksdb::Iterator> it(s_->db_->NewIterator(ro, s_->meta_));
    const std::string prefix = keys::LateMarkPrefix(t->id());
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != prefix.size() + 16)
        return absl::DataLossError("corrupt late mark key");
      fn(coding::DecodeFixed64BE(it->key().data() + prefix.size()),
         coding::DecodeTimeKey(it->key().data() + prefix.size() + 8), it->value());
    }
    return FromRocks(it->status(), "reading late marks");
  }

  RocksStorage* const s_;
};

std::unique_ptr<CompactionAccess> NewRocksCompactionAccess(RocksStorage* storage) {
  return std::make_unique<RocksCompactionAccess>(storage);
}

}  // namespace meridian

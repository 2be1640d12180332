// Backfilled samples below the raw deletion floor (storage/compaction.h,
// "staged"; docs/format/storage.md): a backfill longer than the raw
// retention must end up in the aggregates, not be refused, even when a
// compactor pass ran in its middle and deleted the raw data it would have
// joined. The append sets such samples aside; here they are checked against
// the aggregates and written durably under their own keys, which the
// compactor merges into the aggregate chunks (CommitStaged) atomically.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "model/sync.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/coding.h"
#include "storage/compaction.h"
#include "storage/keys.h"
#include "storage/mem_series.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"
#include "storage/tenant_head.h"

namespace meridian {
namespace {

// The windows of one aggregate chunk, loaded once per append.
struct LoadedChunk {
  std::vector<AggregateWindow> windows;  // sorted by t_ms
};

// Where a sample below the raw floor goes, given the tenant's floors:
// the resolution whose window must take it, or nullopt (too old).
std::optional<Resolution> StagingResolution(const DownsampleState& ds, int64_t t) {
  // No aggregates there: downsampling never ran (or raw data went without it).
  if (ds.downsampled_5m_through == kNoTime || t >= ds.downsampled_5m_through) return std::nullopt;
  // Older than every resolution kept.
  if (ds.deleted_1h_before != kNoTime && t < ds.deleted_1h_before) return std::nullopt;
  if (ds.deleted_5m_before == kNoTime || t >= ds.deleted_5m_before) return Resolution::k5m;
  if (ds.downsampled_1h_through == kNoTime || t >= ds.downsampled_1h_through) return std::nullopt;
  return Resolution::k1h;
}

void EncodeSamples(std::span<const Sample> s, std::string* out) {
  for (const Sample& x : s) {
    coding::PutFixed64BE(out, static_cast<uint64_t>(x.t_ms));
    uint64_t bits;
    std::memcpy(&bits, &x.v, 8);
    coding::PutFixed64BE(out, bits);
  }
}

absl::Status DecodeSamples(rocksdb::Slice v, std::vector<Sample>* out) {
  if (v.size() % 16 != 0) return absl::DataLossError("corrupt staged samples");
  for (size_t i = 0; i < v.size(); i += 16) {
    Sample x;
    x.t_ms = static_cast<int64_t>(coding::DecodeFixed64BE(v.data() + i));
    uint64_t bits = coding::DecodeFixed64BE(v.data() + i + 8);
    std::memcpy(&x.v, &bits, 8);
    out->push_back(x);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RocksStorage::StageBelowRawFloor(TenantHead* head, const AppendBatch& batch,
                                              std::span<const BelowFloor> below,
                                              AppendResult* result) {
  // Under maintenance_mu_: the floors do not move, and no merge commits,
  // between the check against the aggregates and the write.
  MutexLock m(&maintenance_mu_);
  const DownsampleState ds = head->downsample;
  std::map<std::string, LoadedChunk> chunks;                           // by aggregate key
  std::map<std::pair<uint64_t, int64_t>, std::vector<Sample>> groups;  // (series, day)
  std::map<uint64_t, size_t> definitions;                              // series -> batch index
  size_t reported = static_cast<size_t>(-1);
  uint64_t staged = 0;
  for (const BelowFloor& b : below) {
    const int64_t t = b.sample.t_ms;
    std::optional<Resolution> r = StagingResolution(ds, t);
    bool ok = r.has_value();
    if (ok) {
      const std::string key =
          keys::AggrKey(static_cast<uint8_t>(*r), b.series_id, AlignDown(t, BlockMs(*r)));
      auto it = chunks.find(key);
      if (it == chunks.end()) {
        it = chunks.emplace(key, LoadedChunk{}).first;
        std::string value;
        rocksdb::Status gs = db_->Get(rocksdb::ReadOptions(), downsampled_, key, &value);
        if (!gs.IsNotFound()) {
          MERIDIAN_RETURN_IF_ERROR(FromRocks(gs, "reading aggregates"));
          MERIDIAN_RETURN_IF_ERROR(DecodeAggrChunk(value, &it->second.windows));
        }
      }
      // Exact only when the sample comes after what its window holds.
      const std::vector<AggregateWindow>& w = it->second.windows;
      const int64_t start = AlignDown(t, ResolutionMs(*r));
      auto pos = std::lower_bound(w.begin(), w.end(), start,
                                  [](const AggregateWindow& a, int64_t x) { return a.t_ms < x; });
      ok = pos == w.end() || pos->t_ms != start || t > pos->last_t;
    }
    if (!ok) {
      ++result->samples_rejected;
      if (b.series_index != reported) {
        result->errors.push_back({b.series_index, AppendErrorKind::kTooOld, t});
        reported = b.series_index;
      }
      continue;
    }
    groups[{b.series_id, AlignDown(t, kBlock5mMs)}].push_back(b.sample);
    definitions.emplace(b.series_id, b.series_index);
    ++staged;
  }
  if (groups.empty()) return absl::OkStatus();
  rocksdb::WriteBatch wb;
  std::vector<std::shared_ptr<MemSeries>> defined;
  for (const auto& [id, index] : definitions) {
    std::shared_ptr<MemSeries> s = head->Find(id);
    if (s == nullptr) return absl::UnavailableError("series removed during the append; retry");
    if (s->definition_persisted.load(std::memory_order_acquire)) continue;
    const AppendSeries& in = batch.series[index];
    MERIDIAN_RETURN_IF_ERROR(
        FromRocks(wb.Put(meta_, keys::SeriesKey(id),
                         keys::EncodeSeriesValue(head->id(), in.labels.data(), in.labels.size())),
                  "staging series"));
    defined.push_back(std::move(s));
  }
  std::string token;
  coding::PutFixed64BE(&token, late_nonce_);
  coding::PutFixed64BE(&token, late_counter_.fetch_add(1, std::memory_order_relaxed));
  std::string value;
  for (auto& [group, samples] : groups) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    value.clear();
    EncodeSamples(samples, &value);
    MERIDIAN_RETURN_IF_ERROR(FromRocks(
        wb.Put(meta_, keys::StagedPrefix(head->id(), group.first, group.second) + token, value),
        "staging backfill"));
  }
  MERIDIAN_RETURN_IF_ERROR(Write(&wb, options_.sync_wal, "writing staged backfill"));
  for (const auto& s : defined) s->definition_persisted.store(true, std::memory_order_release);
  result->samples_appended += staged;
  samples_appended_.fetch_add(staged, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> RocksStorage::OldestStaged(TenantHead* t) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  std::optional<int64_t> oldest;
  const std::string prefix = keys::StagedPrefix(t->id());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 32) return absl::DataLossError("corrupt staged key");
    const int64_t day = coding::DecodeTimeKey(it->key().data() + prefix.size() + 8);
    if (!oldest || day < *oldest) oldest = day;
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading staged backfill"));
  return oldest;
}

// RocksCompactionAccess's side (storage/compaction_access.cc forwards).
absl::StatusOr<std::vector<StagedGroup>> ReadStaged(rocksdb::DB* db,
                                                    rocksdb::ColumnFamilyHandle* meta,
                                                    uint32_t tenant_id) {
  std::vector<StagedGroup> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), meta));
  const std::string prefix = keys::StagedPrefix(tenant_id);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != prefix.size() + 32) return absl::DataLossError("corrupt staged key");
    const uint64_t id = coding::DecodeFixed64BE(k.data() + prefix.size());
    const int64_t day = coding::DecodeTimeKey(k.data() + prefix.size() + 8);
    if (out.empty() || out.back().series_id != id || out.back().block_start != day) {
      out.push_back({id, day, {}, {}});
    }
    out.back().keys.push_back(k.ToString());
    MERIDIAN_RETURN_IF_ERROR(DecodeSamples(it->value(), &out.back().samples));
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading staged backfill"));
  for (StagedGroup& g : out) {
    // Sorted by time, the first copy of a timestamp kept (a resent sample).
    std::stable_sort(g.samples.begin(), g.samples.end(),
                     [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    g.samples.erase(std::unique(g.samples.begin(), g.samples.end(),
                                [](const Sample& a, const Sample& b) { return a.t_ms == b.t_ms; }),
                    g.samples.end());
  }
  return out;
}

absl::Status RocksStorage::CommitStagedGroup(TenantHead* t, const StagedGroup& g,
                                             std::span<const SeriesAggregates> chunks_5m,
                                             std::span<const SeriesAggregates> chunks_1h) {
  MutexLock m(&maintenance_mu_);  // no append stages meanwhile
  std::vector<std::string> now;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    const std::string prefix = keys::StagedPrefix(t->id(), g.series_id, g.block_start);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      now.push_back(it->key().ToString());
    }
    MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading staged backfill"));
  }
  if (now != g.keys) return absl::AbortedError("more samples were staged meanwhile");
  rocksdb::WriteBatch wb;
  std::string value;
  for (auto [r, chunks] : {std::pair{Resolution::k5m, chunks_5m}, {Resolution::k1h, chunks_1h}}) {
    for (const SeriesAggregates& c : chunks) {
      if (c.windows.empty()) continue;
      value.clear();
      EncodeAggrChunk(r, c.block_start, c.windows, &value);
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(downsampled_, keys::AggrKey(static_cast<uint8_t>(r), c.series_id, c.block_start),
                 value),
          "staging aggregates"));
    }
  }
  for (const std::string& k : g.keys) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Delete(meta_, k), "staging staged delete"));
  }
  absl::Status st = Write(&wb, /*sync=*/false, "merging staged backfill");
  aggregate_cache_.Invalidate();  // after the write (storage/aggregate_cache.h)
  generations_.Bump(t->name());
  return st;
}

}  // namespace meridian

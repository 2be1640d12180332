// RocksStorage's background work: checkpoints, retention and the
// cardinality report. See docs/format/storage.md.
#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"

namespace meridian {
namespace {

constexpr size_t kCheckpointBatchBytes = 4 << 20;

struct PendingSeries {
  std::shared_ptr<MemSeries> series;
  MemSeries::PersistSnapshot snap;
};

}  // namespace

absl::Status RocksStorage::Checkpoint() {
  absl::MutexLock maintenance(&maintenance_mu_);
  uint64_t covered;  // every WAL record <= covered is applied to memory
  {
    absl::WriterMutexLock gate(&gate_);
    covered = next_wal_seq_.load() - 1;
    wal_bytes_.store(0);
  }
  rocksdb::WriteOptions wo;  // durability comes from the final synced write
  rocksdb::WriteBatch wb;
  std::vector<PendingSeries> pending;
  auto commit = [&]() -> absl::Status {
    if (wb.Count() > 0) MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "writing chunks"));
    // Readers holding an older iterator must refresh it before they trust
    // that memory no longer holding these samples means disk does.
    if (!pending.empty()) chunk_store_->BumpGeneration();
    for (PendingSeries& p : pending) {
      std::lock_guard l(p.series->mu);
      p.series->MarkPersisted(p.snap);
    }
    wb.Clear();
    pending.clear();
    return absl::OkStatus();
  };
  for (TenantHead* t : AllTenants()) {
    for (std::shared_ptr<MemSeries>& s : t->AllSeries()) {
      PendingSeries p{s, {}};
      int64_t pmin, pmax;
      {
        std::lock_guard l(s->mu);
        p.snap = s->SnapshotForPersist();
        pmin = s->persisted_min_t_ms();
        pmax = s->persisted_max_t_ms();
      }
      if (p.snap.chunks.empty()) continue;
      for (const ClosedChunk& c : p.snap.chunks) {
        MERIDIAN_RETURN_IF_ERROR(
            FromRocks(wb.Put(chunks_, keys::ChunkKey(s->id(), c.min_t_ms), c.data), "staging chunk"));
        pmin = std::min(pmin, c.min_t_ms);
        pmax = std::max(pmax, c.max_t_ms);
      }
      MERIDIAN_RETURN_IF_ERROR(FromRocks(
          wb.Put(meta_, keys::RangeKey(s->id()), keys::EncodeRangeValue(pmin, pmax)), "staging range"));
      pending.push_back(std::move(p));
      if (wb.GetDataSize() >= kCheckpointBatchBytes) MERIDIAN_RETURN_IF_ERROR(commit());
    }
  }
  MERIDIAN_RETURN_IF_ERROR(commit());
  if (covered == 0) return absl::OkStatus();
  // One synced write makes every earlier write durable (RocksDB's log is
  // sequential) and drops the WAL records now covered by chunks.
  std::string seq;
  coding::PutFixed64BE(&seq, covered);
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(wb.DeleteRange(wal_, keys::WalKey(0), keys::WalKey(covered + 1)), "staging wal trim"));
  MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Put(meta_, keys::kCheckpointKey, seq), "staging checkpoint"));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Write(sync, &wb), "writing checkpoint"));
  // Drop the deleted records' files now rather than at the next compaction.
  std::string end = keys::WalKey(covered + 1);
  rocksdb::Slice end_slice(end);
  return FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), wal_, nullptr, &end_slice),
                   "compacting wal");
}

absl::Status RocksStorage::CompactAll() {
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (rocksdb::ColumnFamilyHandle* h : {meta_, chunks_, wal_}) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return absl::OkStatus();
}

absl::Status RocksStorage::EnforceRetention() {
  if (options_.retention_ms <= 0) return absl::OkStatus();
  const int64_t cutoff = NowMs() - options_.retention_ms;
  absl::MutexLock maintenance(&maintenance_mu_);
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it = chunk_store_->NewIterator(/*fill_cache=*/false);
  std::vector<std::pair<TenantHead*, std::shared_ptr<MemSeries>>> maybe_empty;
  for (TenantHead* t : AllTenants()) {
    for (std::shared_ptr<MemSeries>& s : t->AllSeries()) {
      int64_t pmin, pmax;
      bool memory_empty;
      {
        std::lock_guard l(s->mu);
        memory_empty = s->TrimBefore(cutoff);
        pmin = s->persisted_min_t_ms();
        pmax = s->persisted_max_t_ms();
      }
      if (pmin <= pmax && pmin < cutoff) {
        // Chunks are sorted by min time; any with min >= cutoff is kept.
        int64_t kept_min = std::numeric_limits<int64_t>::max();
        std::string run_start;
        auto close_run = [&](const std::string& end) -> absl::Status {
          if (run_start.empty()) return absl::OkStatus();
          absl::Status st = FromRocks(wb.DeleteRange(chunks_, run_start, end), "staging chunk delete");
          run_start.clear();
          return st;
        };
        std::string end_key = keys::ChunkKey(s->id() + 1, std::numeric_limits<int64_t>::min());
        for (it->Seek(keys::ChunkKey(s->id(), std::numeric_limits<int64_t>::min())); it->Valid();
             it->Next()) {
          rocksdb::Slice k = it->key();
          if (k.size() != 16 || coding::DecodeFixed64BE(k.data()) != s->id()) break;
          int64_t mint = coding::DecodeTimeKey(k.data() + 8);
          if (mint >= cutoff) {
            end_key = k.ToString();
            kept_min = std::min(kept_min, mint);
            break;
          }
          ChunkHeader h;
          MERIDIAN_RETURN_IF_ERROR(
              DecodeChunkHeader(std::string_view(it->value().data(), it->value().size()), &h));
          if (h.max_t_ms < cutoff) {
            if (run_start.empty()) run_start = k.ToString();
          } else {
            MERIDIAN_RETURN_IF_ERROR(close_run(k.ToString()));
            kept_min = std::min(kept_min, mint);
          }
        }
        MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "scanning chunks"));
        MERIDIAN_RETURN_IF_ERROR(close_run(end_key));
        bool any_left = kept_min != std::numeric_limits<int64_t>::max();
        {
          std::lock_guard l(s->mu);
          if (any_left) {
            s->SetPersistedRange(kept_min, pmax);
          } else {
            s->SetPersistedRange(std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min());
          }
        }
        if (any_left) {
          MERIDIAN_RETURN_IF_ERROR(FromRocks(
              wb.Put(meta_, keys::RangeKey(s->id()), keys::EncodeRangeValue(kept_min, pmax)),
              "staging range"));
        } else {
          MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Delete(meta_, keys::RangeKey(s->id())), "staging range"));
          pmin = pmax + 1;  // nothing persisted now
        }
      }
      s->ResetMinTime(std::max(s->min_t_ms(), cutoff));
      if (memory_empty && !(pmin <= pmax)) maybe_empty.push_back({t, s});
    }
  }
  {
    // No append holds a series pointer while we own the gate.
    absl::WriterMutexLock gate(&gate_);
    absl::flat_hash_map<TenantHead*, std::vector<std::shared_ptr<MemSeries>>> removed;
    for (auto& [t, s] : maybe_empty) {
      std::lock_guard l(s->mu);
      if (!s->MemoryEmpty() || s->has_persisted()) continue;  // appended meanwhile
      MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Delete(meta_, keys::SeriesKey(s->id())), "staging series delete"));
      removed[t].push_back(s);
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "writing retention deletes"));
    for (auto& [t, list] : removed) t->Remove(list);
  }
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  MERIDIAN_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, chunks_, nullptr, nullptr), "compacting chunks"));
  return FromRocks(db_->CompactRange(co, meta_, nullptr, nullptr), "compacting metadata");
}

std::string RocksStorage::FamilySizes() const {
  std::string out;
  for (rocksdb::ColumnFamilyHandle* h : {meta_, chunks_, wal_}) {
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
  head->ReadIndex([&](const PostingsIndex& index, auto) {
    st.num_series = index.all().size();
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

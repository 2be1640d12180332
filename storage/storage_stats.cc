// RocksStorage::Stats(): the figures /metrics shows (series per tenant,
// RocksDB's families, block cache, disk usage as `du` counts it).
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/statistics.h"
#include "storage/group_commit.h"
#include "storage/rocks_storage.h"

namespace meridian {
namespace {

// Allocated bytes of every file below `dir` (hard links counted once), as
// `du -s --block-size=1` reports. Not the files' apparent sizes: RocksDB
// preallocates its log files (1.1 x the largest memtable) and the MANIFEST
// (4 MiB) with fallocate(FALLOC_FL_KEEP_SIZE), blocks a size does not show.
// Files that vanish during the walk (compactions delete them) are skipped.
uint64_t DiskUsageBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto add = [&](const std::string& path) {
    struct stat sb;
    if (lstat(path.c_str(), &sb) != 0) return;
    if (sb.st_nlink > 1 && !seen.insert({sb.st_dev, sb.st_ino}).second) return;
    bytes += static_cast<uint64_t>(sb.st_blocks) * 512;
  };
  add(dir);
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(
      dir, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    add(it->path().string());
  }
  return bytes;
}

}  // namespace

StorageStats RocksStorage::Stats() const {
  StorageStats st;
  st.samples_appended = samples_appended_.load(std::memory_order_relaxed);
  st.corruptions = chunk_store_->corruptions();
  st.cached_series = cache_limits_.cached_series.load(std::memory_order_relaxed);
  st.series_evicted = series_evicted_.load(std::memory_order_relaxed);
  int64_t mint = std::numeric_limits<int64_t>::max(), maxt = std::numeric_limits<int64_t>::min();
  const int64_t active_since = NowMs() - StorageStats::kActiveWindowMs;
  for (TenantHead* t : AllTenants()) {
    st.cache_bytes += t->CacheBytes();
    st.series_readmitted += t->readmitted.load(std::memory_order_relaxed);
    TenantSeriesStats ts;
    ts.tenant = t->name();
    t->ReadIndex([&](const PostingsIndex& index, auto lookup) {
      ts.series = index.all().size();
      for (uint64_t id : index.all()) {
        const MemSeries* s = lookup(id);
        if (s->min_t_ms() <= s->max_t_ms()) {
          mint = std::min(mint, s->min_t_ms());
          maxt = std::max(maxt, s->max_t_ms());
          if (s->max_t_ms() >= active_since) ++ts.active_series;
        }
      }
    });
    st.series += ts.series;
    st.tenants.push_back(std::move(ts));
  }
  std::sort(st.tenants.begin(), st.tenants.end(),
            [](const auto& a, const auto& b) { return a.tenant < b.tenant; });
  if (mint <= maxt) {
    st.min_time_ms = mint;
    st.max_time_ms = maxt;
  }
  st.disk_bytes = DiskUsageBytes(options_.dir);
  st.wal_written_bytes = wal_written_bytes_.load(std::memory_order_relaxed);
  st.wal_pending_bytes = wal_bytes_.load(std::memory_order_relaxed);
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    ColumnFamilyStats f;
    f.name = h->GetName();
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kLiveSstFilesSize, &v)) f.sst_bytes = v;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kSizeAllMemTables, &v))
      f.memtable_bytes = v;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kEstimatePendingCompactionBytes, &v)) {
      f.pending_compaction_bytes = v;
    }
    std::map<std::string, std::string> cf;
    if (db_->GetMapProperty(h, rocksdb::DB::Properties::kCFStats, &cf)) {
      auto num = [&cf](const char* key) -> uint64_t {
        auto it = cf.find(key);
        return it == cf.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
      };
      f.write_slowdowns = num("io_stalls.total_slowdown");
      f.write_stops = num("io_stalls.total_stop");
    }
    st.families.push_back(std::move(f));
  }
  st.block_cache_capacity_bytes = block_cache_->GetCapacity();
  st.block_cache_usage_bytes = block_cache_->GetUsage();
  st.block_cache_hits = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
  st.block_cache_misses = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
  st.write_stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
  if (group_commit_) {
    st.wal_syncs = group_commit_->writes();
    st.wal_synced_appends = group_commit_->batches();
    st.wal_sync_micros = group_commit_->write_micros();
  }
  return st;
}

}  // namespace meridian
